"""Merging two leads with custom values: the member picks per field, undo gives each lead its own
values back, and the kept lead is re-scored in the merge's transaction."""
import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Lead, TimelineEntry
from app.services import atomic, scoring
from app.services import custom_fields as cf
from app.services import merge as merge_service
from app.services.capture import capture_lead
from app.services.custom_fields import FieldSettings


@pytest.fixture
def plan(app, stages):
    cf.create_field(FieldSettings("Seats", key="seats", kind="number"))
    return cf.create_field(FieldSettings("Plan", key="plan", kind="choice", choices=["Basic", "Pro"]))


@pytest.fixture
def pair(plan, make_lead):
    kept, other = make_lead(email="kept@example.com"), make_lead(email="other@example.com")
    with atomic():
        cf.set_values(kept, cf.check_values({"plan": "Basic"}, partial=True), None)
        cf.set_values(other, cf.check_values({"plan": "Pro", "seats": "7"}, partial=True), None)
    return kept.id, other.id


def values(lead_id):
    return cf.values_for([lead_id])[lead_id]


def merged_entry(lead_id):
    return db.session.scalars(select(TimelineEntry).where(TimelineEntry.lead_id == lead_id,
                                                          TimelineEntry.kind == "merged")).one().data


def test_the_compare_page_offers_a_choice_per_custom_field_the_leads_hold(as_member, pair):
    kept, other = pair
    page = as_member.get(f"/leads/merge?a={kept}&b={other}").get_data(as_text=True)
    checked = dict(re.findall(r'name="keep_(\w+)" value="(\w+)"[^>]*\s+checked', page))
    assert checked["custom_plan"] == "survivor" and checked["custom_seats"] == "loser"
    assert 'id="keep_custom_plan_loser"' in page and ">Pro<" in page


def test_choosing_the_other_leads_value_keeps_it_and_undo_gives_both_back(as_member, pair):
    kept, other = pair
    response = as_member.post("/leads/merge", {"survivor": kept, "loser": other, "keep_custom_plan": "loser",
                                               "keep_custom_seats": "survivor"})
    assert response.status_code == 302
    assert values(kept) == {"plan": "Pro"}
    # Only the other lead's value left behind is named: the kept lead's own Basic was its own.
    assert merged_entry(kept)["not_kept"] == [["Email", "other@example.com"], ["Seats", "7"]]
    merge_id = merged_entry(kept)["merge_id"]
    merge_service.undo_merge(merge_id, None)
    restored = db.session.scalar(select(Lead.id).where(Lead.email == "other@example.com"))
    assert values(kept) == {"plan": "Basic"}
    assert values(restored)["plan"] == "Pro" and str(values(restored)["seats"]) == "7"


def test_undo_takes_back_a_value_the_merge_filled_but_keeps_one_changed_since(pair, admin):
    kept, other = pair
    merge = merge_service.merge_leads(kept, other, {}, admin.id)
    assert values(kept)["plan"] == "Basic" and str(values(kept)["seats"]) == "7"
    with atomic():
        cf.set_values(db.session.get(Lead, kept), cf.check_values({"plan": "Pro"}, partial=True), admin.id)
    merge_service.undo_merge(merge.id, admin.id)
    assert values(kept) == {"plan": "Pro"}  # seats was the merge's and goes; plan was edited since and stays


def test_the_kept_lead_is_rescored_with_the_merged_data(plan, stages, admin):
    scoring.save_rule(None, label="submitted again", condition={"field": "event.submitted_again", "op": "happened"},
                      points=15)
    scoring.save_rule(None, label="pays for Pro", condition={"field": "custom.plan", "op": "equals", "value": "Pro"},
                      points=20)
    kept = capture_lead({"first_name": "Ann", "email": "ann@example.com"}, via="api").lead.id
    other = capture_lead({"first_name": "Ann", "email": "ann.b@example.com", "custom": {"plan": "Pro"}},
                         via="api").lead.id
    capture_lead({"first_name": "Ann", "email": "ann.b@example.com"}, via="form")  # the other came back
    merge = merge_service.merge_leads(kept, other, {"custom_plan": "loser"}, admin.id)
    db.session.expire_all()
    lead = db.session.get(Lead, kept)
    assert lead.score == 35
    assert scoring.reasons_text(lead.score_reasons) == "+15 submitted again, +20 pays for Pro"
    merge_service.undo_merge(merge.id, admin.id)
    db.session.expire_all()
    assert db.session.get(Lead, kept).score == 0
