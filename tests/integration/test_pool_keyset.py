"""The pool pages by keyset (sort key, id), never OFFSET (issue 10): every sort and direction walks
every lead exactly once on both databases, NULL keys and ties included; a cursor that is garbage,
tampered with, made for another sort or naming a deleted lead gives the first page; the total is a
bounded count."""
import html
import random
import re
from datetime import datetime
from decimal import Decimal

import pytest
from sqlalchemy import delete, event, insert, select

from app.extensions import db
from app.models import Lead
from app.services import atomic, search
from app.services.lead_queries import (SORTS, PoolFilters, Position, Total, decode_cursor, encode_cursor,
                                       pool_order, pool_page, pool_total)

MOMENTS = [datetime(2026, 1, day, 9, 30) for day in (1, 2, 3)]
PER_PAGE = 4


@pytest.fixture
def many(app, stages):
    """37 leads whose every sort key has ties and, where the column allows, NULLs; ids in no order."""
    rng = random.Random(10)
    stage_ids = [stages["New"].id, stages["Contacted"].id] if "Contacted" in stages else [stages["New"].id]
    rows = [{"first_name": f"Pat{n}", "last_name": rng.choice(["Ng", "Berg", "Ek"]),
             "company": rng.choice([None, "Acme", "Globex", None]), "source": rng.choice(["Web", "Referral"]),
             "value": rng.choice([None, Decimal("10.00"), Decimal("25.50")]), "stage_id": rng.choice(stage_ids),
             "position": n, "version": 1, "created_at": rng.choice(MOMENTS), "updated_at": rng.choice(MOMENTS),
             "stage_entered_at": MOMENTS[0]} for n in range(37)]
    with atomic():
        db.session.execute(insert(Lead).execution_options(render_nulls=True), rows)
        search.refresh_all()  # a Core insert passes the ORM's hooks: build the search documents
    return rows


def ordered_ids(f: PoolFilters) -> list[int]:
    """The whole list in the pool's ORDER BY, on this database: what every walk must reproduce."""
    from app.services.lead_queries import filtered
    return list(db.session.scalars(filtered(select(Lead.id), f, None).order_by(*pool_order(f))))


def walk_forward(f: PoolFilters) -> list[int]:
    seen, f.after = [], None
    while True:
        page = pool_page(f, None, PER_PAGE)
        assert page.at == ("first" if f.after is None else "after") and len(page.items) <= PER_PAGE
        seen += [lead.id for lead in page.items]
        if not page.has_next:
            return seen
        f.after = page.end


def walk_backward(f: PoolFilters) -> list[int]:
    """From the last page back to the first, each page shown in the list's order."""
    pages, f.after, f.before, f.last = [], None, None, True
    while True:
        page = pool_page(f, None, PER_PAGE)
        pages.insert(0, [lead.id for lead in page.items])
        if not page.has_prev:
            assert page.at == "first"
            return [i for ids in pages for i in ids]
        f.last, f.before = False, page.start


@pytest.mark.parametrize("direction", ["asc", "desc"])
@pytest.mark.parametrize("sort", list(SORTS))
def test_walking_every_page_either_way_lists_every_lead_once_in_order(many, sort, direction):
    everything = ordered_ids(PoolFilters(sort=sort, direction=direction))
    assert len(everything) == 37
    assert walk_forward(PoolFilters(sort=sort, direction=direction)) == everything
    backward = walk_backward(PoolFilters(sort=sort, direction=direction))
    # Walking back from the last page ends at the first page, which is whole: its leads may repeat
    # the ones the partial page before it showed, and nothing is ever skipped.
    assert backward[-(37 - PER_PAGE):] == everything[PER_PAGE:]
    assert backward[:PER_PAGE] == everything[:PER_PAGE]


def test_the_nulls_sit_where_each_database_puts_them(many):
    nulls = {r for r in db.session.scalars(select(Lead.id).where(Lead.company.is_(None)))}
    asc = walk_forward(PoolFilters(sort="company", direction="asc"))
    desc = walk_forward(PoolFilters(sort="company", direction="desc"))
    assert set(desc[-len(nulls):]) == nulls  # NULLS LAST descending, on both
    if db.engine.dialect.name == "sqlite":
        assert set(asc[:len(nulls)]) == nulls
    else:
        assert set(asc[-len(nulls):]) == nulls


def test_a_filter_walks_only_its_leads(many):
    f = PoolFilters(source="Web", sort="value", direction="desc")
    walked = walk_forward(f)
    assert walked == ordered_ids(PoolFilters(source="Web", sort="value", direction="desc"))
    assert len(walked) == sum(r["source"] == "Web" for r in many) and 0 < len(walked) < 37


def test_the_last_page_is_the_reversed_orders_first_shown_in_order(many):
    everything = ordered_ids(PoolFilters(sort="name", direction="asc"))
    page = pool_page(PoolFilters(sort="name", direction="asc", last=True), None, PER_PAGE)
    assert [lead.id for lead in page.items] == everything[-PER_PAGE:]
    assert page.at == "last" and page.has_prev and not page.has_next


def test_a_search_or_source_total_is_a_bounded_count(many):
    web_leads = sum(r["source"] == "Web" for r in many)
    assert pool_total(PoolFilters(source="Web"), None) == Total(count=web_leads, exact=True)
    assert pool_total(PoolFilters(source="Web"), None, limit=web_leads) == Total(count=web_leads, exact=True)
    assert pool_total(PoolFilters(source="Web"), None, limit=3) == Total(count=3, exact=False)
    assert pool_total(PoolFilters(q="pat"), None, limit=3) == Total(count=3, exact=False)


def test_a_stage_and_owner_total_is_exact_from_the_kept_totals_however_many(many, stages, member):
    from app.services.leads import assign_lead
    everyone = db.session.scalars(select(Lead).order_by(Lead.id)).all()
    for lead in everyone[:5]:
        assign_lead(lead.id, member.id, member.id)
    new = sum(1 for lead in everyone if lead.stage_id == stages["New"].id)
    mine_in_new = sum(1 for lead in everyone[:5] if lead.stage_id == stages["New"].id)
    assert pool_total(PoolFilters(), None, limit=10) == Total(count=37, exact=True)
    assert pool_total(PoolFilters(stage_id=stages["New"].id), None, limit=1) == Total(count=new, exact=True)
    assert pool_total(PoolFilters(owner="me"), member.id) == Total(count=5, exact=True)
    assert pool_total(PoolFilters(owner=str(member.id)), None) == Total(count=5, exact=True)
    assert pool_total(PoolFilters(owner="none"), None) == Total(count=32, exact=True)
    assert pool_total(PoolFilters(owner="me", stage_id=stages["New"].id), member.id) == Total(mine_in_new, True)
    assert pool_total(PoolFilters(owner="²"), None) == Total(count=37, exact=True)  # not a user: everyone's


@pytest.mark.parametrize("key, lead_id", [(123, 1), (None, 1), (["Ng"], 1), ("Ng", "1"), ("Ng", True),
                                          ("Ng", 0), ("Ng", 2**40), ("Ng\x00", 1)])
def test_a_validly_signed_cursor_with_the_wrong_types_is_refused(app, key, lead_id):
    f = PoolFilters(sort="name", direction="asc")
    assert decode_cursor(f, encode_cursor(f, Position(key=key, id=lead_id))) is None


@pytest.mark.parametrize("sort, key", [("created", "yesterday"), ("created", "2026-01-01T09:30:00+02:00"),
                                       ("value", "lots"), ("value", "NaN"), ("value", "1e99"), ("value", 10)])
def test_a_validly_signed_cursor_with_a_key_the_column_cannot_hold_is_refused(app, sort, key):
    f = PoolFilters(sort=sort, direction="desc")
    assert decode_cursor(f, encode_cursor(f, Position(key=key, id=1))) is None


def test_a_cursor_reads_back_only_for_its_own_sort_and_direction(app):
    made = PoolFilters(sort="value", direction="asc")
    token = encode_cursor(made, Position(key=Decimal("25.50"), id=7))
    assert decode_cursor(made, token) == Position(key=Decimal("25.50"), id=7)
    assert decode_cursor(PoolFilters(sort="value", direction="desc"), token) is None
    assert decode_cursor(PoolFilters(sort="company", direction="asc"), token) is None
    moment = PoolFilters(sort="created")
    assert decode_cursor(moment, encode_cursor(moment, Position(MOMENTS[1], 3))) == Position(MOMENTS[1], 3)


# --- through the page -------------------------------------------------------------------------


def row_ids(body: str) -> list[int]:
    return [int(i) for i in re.findall(r'id="lead-row-(\d+)"', body)]


def link(body: str, label: str) -> str | None:
    found = re.search(r'<a href="([^"]+)" data-pool-page[^>]*>' + re.escape(label), body)
    return html.unescape(found.group(1)) if found else None


@pytest.fixture
def small_pages(app):
    app.config["PAGE_SIZE"] = PER_PAGE
    yield
    app.config["PAGE_SIZE"] = 50


def test_next_and_previous_links_walk_the_page_and_keep_the_filters(many, as_member, small_pages):
    f = PoolFilters(source="Referral", sort="company", direction="asc")
    everything = ordered_ids(f)
    url, seen, pages = "/leads?source=Referral&sort=company&dir=asc", [], []
    while url:
        response = as_member.get(url, htmx=True)
        body = response.get_data(as_text=True)
        assert response.status_code == 200 and "<html" not in body and "HX-Push-Url" not in response.headers
        pages.append(url)
        seen += row_ids(body)
        url = link(body, "Next")
        if url:
            assert "source=Referral" in url and "sort=company" in url and "dir=asc" in url and "after=" in url
    assert seen == everything and len(pages) > 2
    # Previous from the third page shows the second again, with First beside it.
    body = as_member.get(pages[2]).get_data(as_text=True)
    back = as_member.get(link(body, "← Previous")).get_data(as_text=True)
    assert row_ids(back) == everything[PER_PAGE:2 * PER_PAGE]
    assert link(body, "« First") == "/leads?source=Referral&sort=company&dir=asc"


def test_the_last_link_shows_the_last_leads_and_no_next(many, as_member, small_pages):
    everything = ordered_ids(PoolFilters())
    first = as_member.get("/leads").get_data(as_text=True)
    assert link(first, "« First") is None and link(first, "← Previous") is None
    last = as_member.get(link(first, "Last")).get_data(as_text=True)
    assert row_ids(last) == everything[-PER_PAGE:]
    assert link(last, "Next") is None and link(last, "Last") is None and link(last, "← Previous")


def test_sort_links_and_the_export_start_from_the_first_page(many, as_member, small_pages):
    first = as_member.get("/leads").get_data(as_text=True)
    second = as_member.get(link(first, "Next")).get_data(as_text=True)
    table = second[second.index('id="lead-table"'):]
    sort_links = re.findall(r'href="(/leads\?[^"]*)"\s+data-pool-sort', table)
    assert len(sort_links) == 5 and not any("after=" in u or "before=" in u for u in sort_links)
    export = re.search(r'href="(/leads/export[^"]*)"', table).group(1)
    assert "after=" not in export
    # The filter form carries the page shown, so a filter change can clear it.
    assert re.search(r'name="after" value="[^"]+"', second)


@pytest.mark.parametrize("cursor", ["after=garbage", "before=%25%25%25", "after=eyJhIjoxfQ.bad-signature",
                                    "after=" + "x" * 5000, "last=yes", "page=7", "page=abc", "page=0"])
def test_a_garbage_cursor_or_an_old_page_number_gives_the_first_page(many, as_member, small_pages, cursor):
    first = row_ids(as_member.get("/leads?sort=name").get_data(as_text=True))
    plain = as_member.get(f"/leads?sort=name&{cursor}")
    assert plain.status_code == 302 and plain.headers["Location"] == "/leads?sort=name"
    swapped = as_member.get(f"/leads?sort=name&{cursor}", htmx=True)
    assert swapped.status_code == 200 and swapped.headers["HX-Push-Url"] == "/leads?sort=name"
    assert row_ids(swapped.get_data(as_text=True)) == first and len(first) == PER_PAGE


def test_a_tampered_signature_gives_the_first_page(many, as_member, small_pages):
    first = as_member.get("/leads").get_data(as_text=True)
    token = re.search(r"after=([^&\"]+)", link(first, "Next")).group(1)
    payload, signature = token.rsplit(".", 1)
    forged = payload + "." + ("A" if signature[0] != "A" else "B") + signature[1:]
    swapped = as_member.get(f"/leads?after={forged}", htmx=True)
    assert swapped.headers["HX-Push-Url"] == "/leads" and row_ids(swapped.get_data(as_text=True)) == row_ids(first)


def test_a_cursor_made_for_another_sort_gives_the_first_page(many, as_member, small_pages):
    by_name = as_member.get("/leads?sort=name").get_data(as_text=True)
    token = re.search(r"after=([^&\"]+)", link(by_name, "Next")).group(1)
    swapped = as_member.get(f"/leads?sort=company&after={token}", htmx=True)
    assert swapped.headers["HX-Push-Url"] == "/leads?sort=company"
    assert row_ids(swapped.get_data(as_text=True)) == ordered_ids(PoolFilters(sort="company"))[:PER_PAGE]


def test_without_javascript_the_filter_form_does_not_send_the_shown_pages_cursor(many, as_member, small_pages):
    # The filter form's cursor fields are disabled (app.js enables them for its pager clicks), so a
    # filter changed and applied on a later page without JavaScript starts from the new list's top.
    second = as_member.get(link(as_member.get("/leads").get_data(as_text=True), "Next")).get_data(as_text=True)
    form = second[second.index('<form class="filters"'):second.index("</form>", second.index('<form class="filters"'))]
    fields = re.findall(r'<input type="hidden" name="(after|before|last)" value="([^"]*)"([^>]*)>', form)
    assert [name for name, _, _ in fields] == ["after", "before", "last"]
    assert all("disabled" in rest for _, _, rest in fields)
    assert any(value for _, value, _ in fields)  # it still says where the page is, for app.js


def test_a_cursor_naming_a_deleted_lead_gives_the_first_page(many, as_member, small_pages):
    first = as_member.get("/leads").get_data(as_text=True)
    next_url = link(first, "Next")
    with atomic():
        db.session.execute(delete(Lead).where(Lead.id == row_ids(first)[-1]))
    swapped = as_member.get(next_url, htmx=True)
    assert swapped.status_code == 200 and swapped.headers["HX-Push-Url"] == "/leads"
    assert row_ids(swapped.get_data(as_text=True)) == ordered_ids(PoolFilters())[:PER_PAGE]


def test_next_from_the_end_after_deletions_shows_the_last_page(many, as_member, small_pages):
    everything = ordered_ids(PoolFilters())
    last = as_member.get("/leads?last=1").get_data(as_text=True)
    previous = link(last, "← Previous")
    second_last = as_member.get(previous).get_data(as_text=True)
    with atomic():
        db.session.execute(delete(Lead).where(Lead.id.in_(row_ids(last))))
    swapped = as_member.get(link(second_last, "Next"), htmx=True)
    assert swapped.headers["HX-Push-Url"] == "/leads?last=1"
    assert row_ids(swapped.get_data(as_text=True)) == everything[-2 * PER_PAGE:-PER_PAGE]


def test_a_deep_page_runs_no_offset_and_a_bounded_count(many, app, as_member, small_pages):
    first = as_member.get("/leads?sort=value&dir=desc").get_data(as_text=True)
    url = link(first, "Next")
    for _ in range(5):
        url = link(as_member.get(url).get_data(as_text=True), "Next")
    statements = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement.upper(), parameters))
    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        deep = as_member.get(url).get_data(as_text=True)
        as_member.get(link(deep, "Last"))
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    lead_reads = [s for s, _ in statements if "FROM LEADS" in s]
    for statement, parameters in statements:
        if "OFFSET" in statement:  # SQLAlchemy's SQLite dialect writes "LIMIT ? OFFSET ?" with 0 for any limit
            assert db.engine.dialect.name == "sqlite" and statement.count("LIMIT ? OFFSET ?") == 1
            assert parameters[-1] == 0  # the last parameter: nothing follows the limit in these queries
    assert lead_reads and any(" < " in s or " > " in s for s in lead_reads)  # a range, not a skip
    # The unfiltered total comes from the kept totals: nothing counts the leads.
    assert not [s for s in lead_reads if "COUNT(" in s]
    assert [s for s, _ in statements if "FROM STAGE_TOTALS" in s]


def test_the_page_shows_the_total_with_separators_and_says_more_than_past_the_limit(app, stages, as_member):
    with atomic():
        db.session.execute(insert(Lead), [
            {"first_name": "Bulk", "last_name": f"L{n}", "stage_id": stages["New"].id, "position": n, "version": 1,
             "created_at": MOMENTS[0], "updated_at": MOMENTS[0], "stage_entered_at": MOMENTS[0]}
            for n in range(1234)])
        search.refresh_all()
    assert "1,234 leads" in as_member.get("/leads").get_data(as_text=True)
    app.config["POOL_COUNT_LIMIT"] = 1000
    try:
        exact = as_member.get("/leads", htmx=True).get_data(as_text=True)  # kept totals: exact past the limit
        body = as_member.get("/leads?q=bulk", htmx=True).get_data(as_text=True)
    finally:
        app.config["POOL_COUNT_LIMIT"] = 10_000
    assert "1,234 leads" in exact
    assert "More than 1,000 leads" in body and "1,234" not in body


def test_a_bulk_action_on_a_later_page_shows_that_page_again(many, as_member, small_pages, stages):
    first = as_member.get("/leads").get_data(as_text=True)
    second_url = link(first, "Next")
    second = as_member.get(second_url).get_data(as_text=True)
    action = html.unescape(re.search(r'<form id="bulk-form"[^>]*action="([^"]+)"', second).group(1))
    assert "after=" in action
    chosen = row_ids(second)[:2]
    response = as_member.post(action, {"lead_ids": chosen, "action": "move", "stage": stages["Won"].id}, htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "Moved 2 leads" in body
    assert row_ids(body) == row_ids(second)
    assert {db.session.get(Lead, i).stage_id for i in chosen} == {stages["Won"].id}


def test_country_next_step_and_stale_totals_count_only_their_leads(app, make_lead, stages, member):
    """Each filter the kept totals cannot answer is counted: a total that ignored one would claim
    every lead in the stage."""
    from datetime import timedelta
    from app.services import utcnow
    from app.services.tasks import create_task
    german = [make_lead(first_name=f"De{n}", country="DE") for n in range(3)]
    make_lead(first_name="Fr", country="FR")
    create_task(german[0].id, member.id, title="Call", due_at=utcnow() - timedelta(hours=1))
    assert pool_total(PoolFilters(country="DE"), None) == Total(count=3, exact=True)
    assert pool_total(PoolFilters(next_step="overdue"), None) == Total(count=1, exact=True)
    assert pool_total(PoolFilters(next_step="none"), None) == Total(count=3, exact=True)
    assert pool_total(PoolFilters(stale=True), None) == Total(count=0, exact=True)  # no stage has a stale limit
