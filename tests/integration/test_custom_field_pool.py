"""The pool filtered and sorted by a custom field: keyset pages walk every lead once, leads without
a value last in both directions, on both databases; the filter and sort stay in the URL."""
import random
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import insert, select

from app.extensions import db
from app.models import Lead, LeadFieldChoice, LeadFieldValue
from app.services import atomic, custom_fields as cf
from app.services.custom_fields import FieldSettings
from app.services.lead_queries import PoolFilters, decode_cursor, encode_cursor, filtered, ordered, pool_total
from tests.integration.test_pool_keyset import MOMENTS, PER_PAGE, walk_backward, walk_forward


@pytest.fixture
def fields(app):
    return {
        "budget": cf.create_field(FieldSettings("Budget", kind="money")),
        "plan": cf.create_field(FieldSettings("Plan", kind="choice", choices=["Basic", "Pro", "Max"])),
        "renewal": cf.create_field(FieldSettings("Renewal", kind="date")),
        "notes": cf.create_field(FieldSettings("Remarks", key="remarks", kind="text")),
        "modules": cf.create_field(FieldSettings("Modules", kind="multi_choice", choices=["CRM", "Mail"])),
        "vip": cf.create_field(FieldSettings("VIP", kind="checkbox")),
    }


@pytest.fixture
def many(app, stages, fields):
    """29 leads; each custom value has ties and a third of the leads have none."""
    rng = random.Random(11)
    rows = [{"first_name": f"Pat{n}", "last_name": "Ng", "stage_id": stages["New"].id, "position": n, "version": 1,
             "created_at": MOMENTS[0], "updated_at": MOMENTS[0], "stage_entered_at": MOMENTS[0]} for n in range(29)]
    with atomic():
        db.session.execute(insert(Lead), rows)
        ids = list(db.session.scalars(select(Lead.id).order_by(Lead.id)))
        values, choices = [], []
        for lead_id in ids:
            if rng.random() < 0.66:
                values.append({"lead_id": lead_id, "field_id": fields["budget"].id,
                               "value_number": rng.choice([Decimal("10"), Decimal("25.5"), Decimal("99")])})
            if rng.random() < 0.66:
                values.append({"lead_id": lead_id, "field_id": fields["plan"].id,
                               "value_text": rng.choice(["Basic", "Pro", "Max"])})
            if rng.random() < 0.66:
                values.append({"lead_id": lead_id, "field_id": fields["renewal"].id,
                               "value_date": rng.choice([date(2027, 1, 1), date(2027, 6, 1)])})
            if rng.random() < 0.5:
                values.append({"lead_id": lead_id, "field_id": fields["notes"].id,
                               "value_text": rng.choice(["Big 100% deal", "small_one", "Other"])})
            if rng.random() < 0.5:
                values.append({"lead_id": lead_id, "field_id": fields["vip"].id, "value_number": Decimal(1)})
            if rng.random() < 0.5:
                choices.append({"lead_id": lead_id, "field_id": fields["modules"].id, "choice": "CRM"})
        for row in values:
            row.setdefault("value_text", None)
            row.setdefault("value_number", None)
            row.setdefault("value_date", None)
        db.session.execute(insert(LeadFieldValue), values)
        db.session.execute(insert(LeadFieldChoice), choices)
    return ids


def expected(f: PoolFilters) -> list[int]:
    return list(db.session.scalars(ordered(filtered(select(Lead.id), f, None), f)))


@pytest.mark.parametrize("direction", ["asc", "desc"])
@pytest.mark.parametrize("key", ["budget", "plan", "renewal", "vip"])
def test_sorting_by_a_custom_field_walks_every_lead_once_with_empty_ones_last(many, key, direction):
    f = PoolFilters(sort=f"cf:{key}", direction=direction)
    everything = expected(f)
    assert len(everything) == 29
    values = cf.values_for(everything)
    keys = [values[i].get(key) for i in everything]
    with_value = [k for k in keys if k is not None]
    assert keys == with_value + [None] * (29 - len(with_value))  # empty ones last, whatever the direction
    assert with_value == sorted(with_value, reverse=direction == "desc")
    assert walk_forward(PoolFilters(sort=f"cf:{key}", direction=direction)) == everything
    backward = walk_backward(PoolFilters(sort=f"cf:{key}", direction=direction))
    assert backward[-(29 - PER_PAGE):] == everything[PER_PAGE:]


def test_a_cursor_survives_its_round_trip_and_is_refused_for_another_sort(many):
    f = PoolFilters(sort="cf:renewal", direction="asc")
    page_end = walk_forward.__globals__["pool_page"](f, None, PER_PAGE).end
    token = encode_cursor(f, page_end)
    assert decode_cursor(f, token) == page_end
    assert decode_cursor(PoolFilters(sort="cf:budget", direction="asc"), token) is None


@pytest.mark.parametrize("field_key, setting, check", [
    ("plan", {"field_value": "Pro"}, lambda v: v.get("plan") == "Pro"),
    ("budget", {"field_min": Decimal("20"), "field_max": Decimal("99")}, lambda v: Decimal(20) <= v.get("budget", -1) <= 99),
    ("renewal", {"field_min": date(2027, 3, 1)}, lambda v: v.get("renewal", date.min) >= date(2027, 3, 1)),
    ("notes", {"field_value": "100%"}, lambda v: "100%" in v.get("remarks", "")),
    ("notes", {"field_value": "_"}, lambda v: "_" in v.get("remarks", "")),
    ("modules", {"field_value": "CRM"}, lambda v: "CRM" in v.get("modules", [])),
    ("vip", {"field_value": True}, lambda v: v.get("vip") is True),
    ("vip", {"field_value": False}, lambda v: "vip" not in v),
])
def test_filtering_by_a_custom_field_keeps_exactly_the_matching_leads(many, fields, field_key, setting, check):
    f = PoolFilters(field=fields[field_key], **setting)
    values = cf.values_for(many)
    matching = sorted(i for i in many if check(values[i]))
    assert 0 < len(matching) < 29
    assert sorted(walk_forward(f)) == matching
    assert pool_total(f, None) .count == len(matching)


def test_the_pool_page_filters_sorts_and_pages_by_a_custom_field_in_the_url(as_member, many, fields):
    body = as_member.get("/leads?field=plan&field_value=pro&sort=cf:budget&dir=asc").get_data(as_text=True)
    assert '<option selected>Pro</option>' in body
    assert 'data-pool-sort="cf:plan"' in body  # the filtered field is a column that sorts by it
    values = cf.values_for(many)
    pros = [i for i in many if values[i].get("plan") == "Pro"]
    for lead_id in pros:
        assert f'id="lead-row-{lead_id}"' in body
    others = [i for i in many if values[i].get("plan") != "Pro"]
    assert not any(f'id="lead-row-{i}"' in body for i in others)
    ranged = as_member.get("/leads?field=budget&field_min=20").get_data(as_text=True)
    assert 'id="f-field-min"' in ranged and "$25.50" in ranged


@pytest.mark.parametrize("url, message", [
    ("/leads?field=gone", "no longer exists"),
    ("/leads?field=plan&field_value=Gold", "is not an option of Plan"),
    ("/leads?field=budget&field_min=lots", "enter a number"),
    ("/leads?sort=cf:modules", "Sort by a column"),
    ("/leads?sort=cf:nothing", "Sort by a column"),
])
def test_a_bad_custom_filter_or_sort_shows_the_pool_with_a_clear_message(as_member, fields, url, message):
    response = as_member.get(url + "&q=ann")
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and message in page and 'id="lead-table"' in page
    assert 'name="q" value="ann"' in page  # the other filters are kept


def test_the_export_follows_a_custom_sort_and_filter(as_member, many, fields):
    from tests.integration.test_import import read_csv
    rows = read_csv(as_member.get("/leads/export.csv?field=vip&field_value=yes&sort=cf:budget&dir=desc"))
    f = PoolFilters(field=fields["vip"], field_value=True, sort="cf:budget", direction="desc")
    assert [int(r[0]) for r in rows[1:]] == expected(f)
