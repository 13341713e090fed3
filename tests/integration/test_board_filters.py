"""The board narrowed by score band, minimum score, tag and a custom field, and sorted by score:
each column shows exactly the matching cards in order, "Show more" keeps the filter and sort, and a
narrowed column's count is bounded."""
import html
import random
import re
from decimal import Decimal

import pytest
from sqlalchemy import insert, update

from app.extensions import db
from app.models import Lead, LeadFieldValue
from app.services import board as board_service, custom_fields as cf, leads as lead_service, tags as tag_service
from app.services.custom_fields import FieldSettings
from app.services.lead_queries import PoolFilters
from tests.conftest import Web
from tests.integration.test_custom_field_pool import fields, many  # noqa: F401 (fixtures)
from tests.integration.test_board_paging import card_ids, column_html, column_order, read_whole_column

SCORES = [0, 5, 20, 35, 35, 50, 60, 90, 90]  # ties on purpose: a page may end inside a run of one score


@pytest.fixture
def board(make_app, stages, make_user):
    """3 cards a page; 25 leads in New and 8 in Contacted with known scores, values, owners, a tag
    on every third lead and an "employees" number on most; a signed-in member."""
    app = make_app(BOARD_COLUMN_PAGE=3)
    with app.app_context():
        user = make_user()
        employees = cf.create_field(FieldSettings("Employees", key="employees", kind="number"))
        rng = random.Random(5)
        leads = {}
        for n in range(33):
            stage = stages["New"] if n < 25 else stages["Contacted"]
            lead = lead_service.create_lead({"first_name": f"Card{n}", "value": str(100 + n)}, None,
                                            stage_id=stage.id, owner_id=user.id if n % 2 else None)
            leads[lead.id] = {"stage": stage.id, "score": rng.choice(SCORES), "mine": bool(n % 2), "value": 100 + n,
                              "vip": n % 3 == 0, "employees": None if n % 5 == 4 else (n * 7) % 60}
        db.session.execute(insert(LeadFieldValue), [
            {"lead_id": i, "field_id": employees.id, "value_number": Decimal(d["employees"]), "value_text": None,
             "value_date": None} for i, d in leads.items() if d["employees"] is not None])
        tag_service.bulk_tag([i for i, d in leads.items() if d["vip"]], ["VIP"], None)
        # Scores written last and directly: tagging re-scores a lead (to 0, with no rules).
        for lead_id, d in leads.items():
            db.session.execute(update(Lead).where(Lead.id == lead_id).values(score=d["score"]))
        db.session.commit()
        web = Web(app.test_client())
        web.login(user)
        yield web, leads, user


def expected(leads: dict, stage_id: int, match=lambda d: True, by_score: bool = False) -> list[int]:
    """The ids the column should show, worked out from the fixture's own record of the data."""
    ids = [i for i, d in leads.items() if d["stage"] == stage_id and match(d)]
    if by_score:
        return sorted(ids, key=lambda i: (-leads[i]["score"], -i))
    return [i for i in column_order(stage_id) if i in ids]  # the manual order


FILTERS = {
    "band=Hot": lambda d: d["score"] >= 50,
    "band=warm": lambda d: 20 <= d["score"] < 50,  # any case, as on the pool
    "min_score=35": lambda d: d["score"] >= 35,
    "tag=vip": lambda d: d["vip"],
    "field=employees&field_min=10&field_max=40": lambda d: d["employees"] is not None and 10 <= d["employees"] <= 40,
    "band=Cold&tag=VIP": lambda d: d["score"] < 20 and d["vip"],
}


@pytest.mark.parametrize("sort", ["", "score"])
@pytest.mark.parametrize("query", list(FILTERS))
def test_a_filtered_column_pages_through_exactly_the_matching_cards_in_order(board, stages, query, sort):
    web, leads, _ = board
    url = f"/board?{query}" + (f"&sort={sort}" if sort else "")
    for stage in (stages["New"], stages["Contacted"]):
        want = expected(leads, stage.id, FILTERS[query], by_score=sort == "score")
        ids, links = read_whole_column(web, stage, url)
        assert ids == want
        assert len(links) == max(0, (len(want) - 1) // 3)
        for link in links:  # every "Show more" keeps the filter and the sort
            for part in query.split("&"):
                assert part in link or part.lower() in link.lower()
            assert ("sort=score" in link and "after_score=" in link) if sort else "after_position=" in link
        header = column_html(web.get(url).get_data(as_text=True), stage)
        value = sum(leads[i]["value"] for i in want)
        assert f"{len(want)} matching lead" in header
        assert (f"${value:,}" in header or f"{value:,}" in header) if want else "No leads here match the filters" in header


def test_sorted_by_score_every_card_of_a_column_comes_once_highest_first(board, stages):
    web, leads, _ = board
    ids, links = read_whole_column(web, stages["New"], "/board?sort=score")
    assert ids == expected(leads, stages["New"].id, by_score=True) and len(ids) == 25
    scores = [leads[i]["score"] for i in ids]
    assert scores == sorted(scores, reverse=True)
    header = column_html(web.get("/board?sort=score").get_data(as_text=True), stages["New"])
    assert "25 leads" in header and "matching" not in header  # not narrowed: the kept totals, exact


def test_my_leads_combine_with_the_filters_and_the_sort(board, stages):
    web, leads, _ = board
    url = "/board?owner=me&band=Hot&sort=score"
    ids, links = read_whole_column(web, stages["New"], url)
    assert ids == expected(leads, stages["New"].id, lambda d: d["mine"] and d["score"] >= 50, by_score=True)
    assert all("owner=me" in link and "band=Hot" in link for link in links)
    page = web.get(url).get_data(as_text=True)
    # Switching between everyone's and my leads keeps the filters.
    assert 'href="/board?band=Hot&amp;sort=score"' in page and "owner=me" in page


def test_the_filter_count_counts_every_filter_my_leads_included_and_clear_clears_them_all(board):
    web, _, _ = board

    def summary(url):
        page = web.get(url).get_data(as_text=True)
        count = re.search(r'<span id="board-filter-count">(.*?)</span>', page).group(1).strip()
        panel = re.search(r'<details class="filters-panel" id="board-filters-panel"[^>]*>', page).group(0)
        clear = re.search(r'<a href="([^"]*)">Clear filters</a>', page)
        return count, " open" in panel, clear and html.unescape(clear.group(1))

    assert summary("/board") == ("", False, None)
    # "Me" narrows the board like any other owner; the panel stays folded for it alone (the
    # "My leads" switch above the board shows it), and "Clear filters" clears it too.
    assert summary("/board?owner=me") == ("(1 on)", False, "/board")
    assert summary("/board?owner=none") == ("(1 on)", True, "/board")
    assert summary("/board?owner=me&band=Hot&sort=score") == ("(3 on)", True, "/board")
    fragment = web.get("/board?owner=me&tag=vip", htmx=True).get_data(as_text=True)
    assert '<span id="board-filter-count" hx-swap-oob="true"> (2 on)</span>' in fragment


def test_the_service_narrows_and_sorts_the_columns(board, stages):
    _, leads, user = board
    view = board_service.View(owner_id=None, sort="score", narrow=PoolFilters(min_score=20, tag="VIP"))
    cols = {col.stage.id: col for col in board_service.columns(view, per_column=100)}
    for stage in (stages["New"], stages["Contacted"]):
        want = expected(leads, stage.id, lambda d: d["score"] >= 20 and d["vip"], by_score=True)
        assert [lead.id for lead in cols[stage.id].cards] == want
        assert cols[stage.id].count == len(want) and cols[stage.id].count_exact
        assert cols[stage.id].total_value == sum(leads[i]["value"] for i in want)
    assert cols[stages["Won"].id].count == 0 and cols[stages["Won"].id].cards == []


def test_a_filtered_count_stops_at_the_limit_and_says_so(make_app, board, stages):
    web, leads, _ = board
    app = make_app(BOARD_COLUMN_PAGE=3, BOARD_COUNT_LIMIT=5)
    with app.app_context():
        capped = Web(app.test_client())
        capped.login(board[2])
        matching = expected(leads, stages["New"].id, lambda d: d["score"] >= 0)
        assert len(matching) > 5
        header = column_html(capped.get("/board?min_score=0").get_data(as_text=True), stages["New"])
        assert "5+ matching leads" in header and "Show more (2+ left)" in header
        assert 'class="total"' not in header  # no value for a count that stopped early
        small = column_html(capped.get("/board?min_score=0").get_data(as_text=True), stages["Contacted"])
        assert "5+ matching leads" in small
        exact = expected(leads, stages["Contacted"].id, lambda d: d["score"] >= 50)
        if len(exact) <= 5:
            header = column_html(capped.get("/board?band=Hot").get_data(as_text=True), stages["Contacted"])
            assert f"{len(exact)} matching lead" in header and "+ matching" not in header


@pytest.mark.parametrize("query, name, message", [
    ("min_score=lots", "min_score", "Give a whole number between"),
    ("min_score=1e9", "min_score", "Give a whole number between"),
    ("min_score=99999999999", "min_score", "Give a whole number between"),
    ("field=nosuchfield", "field", "That custom field no longer exists"),
    ("field=employees&field_min=ten", "field_min", "enter a number"),
    ("sort=random", "sort", "The board sorts by position (manual order) or by score"),
    ("owner=someone", "owner", "Owner must be a teammate, 'me' or 'none'"),
])
def test_a_bad_filter_shows_the_board_without_it_and_says_what_is_wrong_beside_it(board, query, name, message):
    web, _, _ = board
    response = web.get(f"/board?{query}&tag=vip")
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422 and 'id="board"' in page  # the board, not an error page
    assert re.search(rf'<p class="error" id="[\w-]+-error">[^<]*{re.escape(message)}', page), name
    assert 'name="tag" value="vip"' in page  # the other filters are kept
    # The board's own links never carry a bad filter: one there was tampered with, and is a 400.
    response = web.get(f"/board/columns/1/cards?{query}")
    assert response.status_code == 400 and message in html.unescape(response.get_data(as_text=True))


def test_an_unknown_band_matches_nothing_as_on_the_pool(board, stages):
    web, _, _ = board
    body = web.get("/board?band=lukewarm").get_data(as_text=True)
    assert card_ids(body) == []
    assert body.count("No leads here match the filters") == len(stages)


def test_the_filter_form_swaps_only_the_board_and_works_as_a_plain_get(board, stages):
    web, leads, _ = board
    page = web.get("/board?band=Hot&sort=score").get_data(as_text=True)
    form = re.search(r'<form class="filters" id="board-filters".*?</form>', page, re.S).group(0)
    assert 'method="get"' in form and 'hx-target="#board-view"' in form
    for name in ("band", "min_score", "tag", "field", "sort"):
        control = re.search(rf'<(?:select|input)[^>]*id="([^"]+)"[^>]*name="{name}"', form)
        assert control and f'<label for="{control.group(1)}"' in form, name
    assert '<option value="score" selected>' in form and '<option value="Hot" selected>' in form
    assert "drag a card to another column to move it" in page
    fragment = web.get("/board?band=Hot&sort=score", htmx=True).get_data(as_text=True)
    assert "<html" not in fragment and fragment.lstrip().startswith('<div id="board-view">')
    assert card_ids(column_html(fragment, stages["New"])) == expected(
        leads, stages["New"].id, lambda d: d["score"] >= 50, by_score=True)[:3]
    assert 'data-sort="score"' in fragment and 'data-view="band=Hot&amp;sort=score"' in fragment


def test_a_move_from_a_filtered_board_refreshes_the_columns_in_that_view(board, stages):
    web, leads, _ = board
    hot = expected(leads, stages["New"].id, lambda d: d["score"] >= 50, by_score=True)
    lead = db.session.get(Lead, hot[0])
    form = web.get(f"/board/cards/{lead.id}/move?band=Hot&sort=score", htmx=True).get_data(as_text=True)
    assert 'name="view" value="band=Hot&amp;sort=score"' in form
    response = web.post("/board/move", {"lead_id": lead.id, "stage_id": stages["Contacted"].id, "after_id": "",
                                        "version": lead.version, "from_stage_id": stages["New"].id,
                                        "view": "band=Hot&sort=score"}, htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 200, body
    # A move re-scores the lead (to 0 here: no rules), so it leaves the Hot band as it moves.
    moved = db.session.get(Lead, lead.id)
    leads[lead.id].update(stage=moved.stage_id, score=moved.score)
    for stage in (stages["New"], stages["Contacted"]):
        assert card_ids(column_html(body, stage)) == expected(
            leads, stage.id, lambda d: d["score"] >= 50, by_score=True)[:3]
    # Without JavaScript the move returns to the same filtered, sorted board.
    lead = db.session.get(Lead, lead.id)
    plain = web.post("/board/move", {"lead_id": lead.id, "stage_id": stages["New"].id, "version": lead.version,
                                     "view": "band=Hot&sort=score"})
    assert plain.status_code == 302 and plain.headers["Location"].endswith("/board?band=Hot&sort=score")


@pytest.mark.parametrize("key, value, low, high", [
    ("budget", "", "20", "99"), ("plan", "pro", "", ""), ("renewal", "", "2027-03-01", ""), ("remarks", "100%", "", ""),
    ("modules", "CRM", "", ""), ("vip", "yes", "", ""), ("vip", "no", "", ""),
])
def test_the_boards_per_lead_field_probe_matches_the_pools_list_for_every_kind(many, fields, key, value, low, high):
    from sqlalchemy import select
    from app.services.lead_queries import field_filter, filtered
    field, value, low, high = field_filter(key, value, low, high)
    f = PoolFilters(field=field, field_value=value, field_min=low, field_max=high)
    listed = set(db.session.scalars(filtered(select(Lead.id), f, None)))
    probed = set(db.session.scalars(filtered(select(Lead.id), f, None, per_row=True)))
    assert probed == listed and 0 < len(listed) < len(many)


def test_a_tag_filter_in_a_long_column_counts_only_its_first_leads_and_says_at_least(board, stages, monkeypatch):
    web, leads, _ = board
    monkeypatch.setattr(board_service, "SCAN_LIMIT", 10)  # New holds 25 leads, Contacted 8
    first = column_order(stages["New"].id)[:10]
    header = column_html(web.get("/board?tag=VIP").get_data(as_text=True), stages["New"])
    assert f"{sum(leads[i]['vip'] for i in first)}+ matching leads" in header and 'class="total"' not in header
    ids, _ = read_whole_column(web, stages["New"], "/board?tag=VIP")  # the cards are all there
    assert ids == expected(leads, stages["New"].id, lambda d: d["vip"])
    short = column_html(web.get("/board?tag=VIP").get_data(as_text=True), stages["Contacted"])
    want = expected(leads, stages["Contacted"].id, lambda d: d["vip"])
    assert f"{len(want)} matching lead" in short and "+ matching" not in short
