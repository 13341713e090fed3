"""The board narrowed as the pool is, by owner (anyone, me, a teammate, the pool), source and search
text: each column shows exactly the matching cards, "Show more" and a move keep the filters, the
address keeps them, and a search matching many leads is probed per card, its count bounded."""
import html
import re
from urllib.parse import parse_qsl, urlencode

import pytest
from sqlalchemy import event

from app.extensions import db
from app.models import Lead
from app.services import board as board_service, leads as lead_service, search
from tests.conftest import Web
from tests.integration.test_board_paging import card_ids, column_html, column_order, read_whole_column

SOURCES = ["web", "import", "referral"]
COMPANIES = ["Acme Rockets", "Globex", "Initech", "Acme Anvils"]


@pytest.fixture
def board(make_app, stages, make_user):
    """3 cards a page; 20 leads in New and 7 in Contacted, owners turning among me, a teammate and
    the pool, sources among three, companies among four (two of them Acme); a signed-in member."""
    app = make_app(BOARD_COLUMN_PAGE=3)
    with app.app_context():
        me, mate = make_user(name="Mia Me"), make_user(name="Tom Mate")
        leads = {}
        for n in range(27):
            stage = stages["New"] if n < 20 else stages["Contacted"]
            owner = (me, mate, None)[n % 3]
            source, company = SOURCES[(n // 3) % 3] if n % 7 else "referral", COMPANIES[n % 4]
            lead = lead_service.create_lead({"first_name": f"Card{n}", "last_name": "Zed", "company": company,
                                             "source": source}, None, stage_id=stage.id,
                                            owner_id=owner.id if owner else None)
            leads[lead.id] = {"stage": stage.id, "owner": owner.id if owner else None, "source": source,
                              "company": company}
        db.session.commit()
        web = Web(app.test_client())
        web.login(me)
        yield web, leads, me, mate


def expected(leads: dict, stage_id: int, match) -> list[int]:
    return [i for i in column_order(stage_id) if leads[i]["stage"] == stage_id and match(leads[i])]


def cases(me, mate) -> dict:
    return {
        "": lambda d: True,
        "owner=me": lambda d: d["owner"] == me.id,
        f"owner={mate.id}": lambda d: d["owner"] == mate.id,
        "owner=none": lambda d: d["owner"] is None,
        "source=referral": lambda d: d["source"] == "referral",
        "q=acme": lambda d: d["company"].startswith("Acme"),
        "q=ACME+rock": lambda d: d["company"] == "Acme Rockets",
        "owner=none&source=web": lambda d: d["owner"] is None and d["source"] == "web",
        f"owner={mate.id}&q=acme&source=import": lambda d: (d["owner"] == mate.id and d["source"] == "import"
                                                             and d["company"].startswith("Acme")),
        "q=nobody": lambda d: False,
    }


def test_each_column_pages_through_exactly_the_cards_matching_owner_source_and_search(board, stages):
    web, leads, me, mate = board
    for query, match in cases(me, mate).items():
        for stage in (stages["New"], stages["Contacted"]):
            want = expected(leads, stage.id, match)
            ids, links = read_whole_column(web, stage, f"/board?{query}")
            assert ids == want, (query, stage.name)
            assert len(links) == max(0, (len(want) - 1) // 3), query
            for link in links:  # "Show more" carries the filters
                for part in filter(None, query.split("&")):
                    name, value = part.split("=")
                    assert re.search(rf"[?&]{name}={re.escape(value)}(&|$)", link), (query, link)


def test_the_counts_are_the_matching_cards_and_the_address_keeps_the_filters(board, stages):
    web, leads, me, mate = board
    for query, match in cases(me, mate).items():
        response = web.get(f"/board?{query}", htmx=True)
        body = html.unescape(response.get_data(as_text=True))
        assert response.status_code == 200 and "<html" not in body
        pushed = response.headers["HX-Push-Url"]
        path, _, pushed_query = pushed.partition("?")
        assert path == "/board" and sorted(parse_qsl(pushed_query)) == sorted(parse_qsl(query)), pushed
        for stage in (stages["New"], stages["Contacted"]):
            n = len(expected(leads, stage.id, match))
            count = re.search(r'<span class="count">([^<]*)</span>', column_html(body, stage)).group(1)
            plain = query in ("", "owner=me", f"owner={mate.id}", "owner=none")  # the kept totals: not "matching"
            assert count == f"{n}{'' if plain else ' matching'} lead{'s' if n != 1 else ''}", (query, count)


def test_the_filter_form_offers_owner_source_and_search_with_the_current_choices(board):
    web, _, me, mate = board
    page = html.unescape(web.get(f"/board?q=acme&owner={mate.id}&source=import").get_data(as_text=True))
    assert re.search(r'<input type="search" id="b-q" name="q" value="acme"', page)
    assert re.search(rf'<option value="{mate.id}" selected>Tom Mate</option>', page)
    assert '<option value="none" >Unassigned (pool)</option>' in page
    assert re.search(r'<option selected>import</option>', page) and "<option >referral</option>" in page
    assert "(3 on)" in page  # search, owner and source, in the folded panel's summary


def test_a_move_refreshes_the_columns_with_the_same_filters(board, stages):
    web, leads, me, mate = board
    view = urlencode({"owner": "none", "source": "web"})
    mover = next(i for i in column_order(stages["New"].id) if leads[i]["owner"] is None and leads[i]["source"] == "web")
    other = next(i for i in column_order(stages["New"].id) if leads[i]["owner"] is not None)
    lead = db.session.get(Lead, mover)
    response = web.post("/board/move", {"lead_id": mover, "stage_id": stages["Contacted"].id, "after_id": "",
                                        "version": lead.version, "from_stage_id": stages["New"].id,
                                        "view": view}, htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 200, body
    match = lambda d: d["owner"] is None and d["source"] == "web"  # noqa: E731
    leads[mover]["stage"] = stages["Contacted"].id
    for stage in (stages["New"], stages["Contacted"]):
        shown = card_ids(column_html(body, stage))
        assert shown and shown == expected(leads, stage.id, match)[:len(shown)], stage.name
        assert other not in shown
    assert mover in card_ids(column_html(body, stages["Contacted"]))
    assert mover not in card_ids(column_html(body, stages["New"]))


@pytest.mark.parametrize("query", ["owner=someone", "owner=-3", "q=" + "x" * 201, "source=" + "s" * 101])
def test_a_bad_owner_search_or_source_is_refused_beside_it(board, query):
    web, _, _, _ = board
    response = web.get(f"/board?{query}")
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422 and 'id="board"' in page
    name = query.split("=")[0]
    assert re.search(rf'<p class="error" id="b-{name}-error">', page), name
    more = web.get(f"/board/columns/1/cards?{query}", htmx=True)
    assert more.status_code == 400  # the board's own links never carry one: a tampered address


def test_a_search_matching_many_leads_is_probed_card_by_card_and_counted_over_the_first_leads(board, stages,
                                                                                             monkeypatch):
    web, leads, me, mate = board
    monkeypatch.setattr(search, "FEW", 2)  # "acme" matches 14 leads: past FEW, so probed per row
    monkeypatch.setattr(board_service, "SCAN_LIMIT", 8)  # New holds 20: counted over its first 8
    statements = []

    def seen(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        ids, _ = read_whole_column(web, stages["New"], "/board?q=acme")
        body = web.get("/board?q=acme").get_data(as_text=True)
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert ids == expected(leads, stages["New"].id, lambda d: d["company"].startswith("Acme"))
    first8 = column_order(stages["New"].id)[:8]
    floor = sum(leads[i]["company"].startswith("Acme") for i in first8)
    assert re.search(rf'<span class="count">{floor}\+ matching leads</span>', column_html(body, stages["New"]))
    # Contacted (7 leads) is within the scan: exact.
    n = len(expected(leads, stages["Contacted"].id, lambda d: d["company"].startswith("Acme")))
    assert f'<span class="count">{n} matching lead{"s" if n != 1 else ""}</span>' in column_html(body, stages["Contacted"])
    searching = [s for s in statements if "lead_search" in s]
    # The column queries probe each lead's own document; the only other read of the index is the
    # bounded one (LIMIT FEW + 1) that found the search matches many: never a list of every match.
    assert any("d.lead_id = leads.id" in s for s in searching)
    assert all("d.lead_id = leads.id" in s or "LIMIT" in s for s in searching)
    assert not any(re.search(r"IN \(SELECT (rowid|lead_id) FROM lead_search", s) for s in statements)


@pytest.mark.parametrize("query", ["source=import", "q=acme", "owner=none&source=referral", "tag=none-such"])
def test_a_probed_filter_walks_a_column_a_window_at_a_time_and_still_shows_every_match(board, stages, monkeypatch, query):
    """Each page asks the filter of the next SCAN_LIMIT leads at most; a window with too few matches
    ends the page early and "Show more" resumes after it, so no match is lost or repeated."""
    web, leads, me, mate = board
    monkeypatch.setattr(search, "FEW", 2)
    monkeypatch.setattr(board_service, "SCAN_LIMIT", 4)
    match = {"source=import": lambda d: d["source"] == "import",
             "q=acme": lambda d: d["company"].startswith("Acme"),
             "owner=none&source=referral": lambda d: d["owner"] is None and d["source"] == "referral",
             "tag=none-such": lambda d: False}[query]
    for sort in ("", "&sort=score"):
        for stage in (stages["New"], stages["Contacted"]):
            ids, links = read_whole_column(web, stage, f"/board?{query}{sort}")
            want = expected(leads, stage.id, match)
            if sort:  # by score (all 0 here): every match once
                assert sorted(ids) == sorted(want) and len(ids) == len(set(ids)), (query, stage.name)
            else:  # the manual order, exactly
                assert ids == want, (query, stage.name)
            # New holds 20 leads: at least 20 / 4 windows, each its own request.
            if stage.name == "New" and query in ("source=import", "q=acme"):  # windows over all 20
                assert len(links) >= 4, (query, links)
