"""The board's columns page by keyset (position, id), and a board's cost does not grow with its cards."""
import html
import re
from datetime import datetime

import pytest
from sqlalchemy import event, select, update

from app.extensions import db
from app.models import Lead, Notification
from app.services import leads as lead_service
from tests.conftest import Web
from tests.plans import plan


def column_html(body: str, stage) -> str:
    match = re.search(rf'<section id="column-{stage.id}".*?</section>', body, re.S)
    assert match, f"no column for {stage.name}"
    return match.group(0)


def card_ids(fragment: str) -> list[int]:
    return [int(i) for i in re.findall(r'<li class="card" id="card-(\d+)"', fragment)]


def more_link(fragment: str) -> str | None:
    match = re.search(r'<li class="load-more">\s*<button type="button" hx-get="([^"]+)"', fragment)
    return html.unescape(match.group(1)) if match else None


def column_order(stage_id: int) -> list[int]:
    return list(db.session.scalars(select(Lead.id).where(Lead.stage_id == stage_id).order_by(Lead.position, Lead.id)))


def read_whole_column(web: Web, stage, board_url: str = "/board") -> tuple[list[int], list[str]]:
    """Every card id of one column, following its "Show more" links from the board; and the links."""
    fragment = column_html(web.get(board_url).get_data(as_text=True), stage)
    ids, links = card_ids(fragment), []
    while (link := more_link(fragment)) is not None:
        links.append(link)
        response = web.get(link, htmx=True)
        assert response.status_code == 200
        fragment = response.get_data(as_text=True)
        assert "<html" not in fragment
        ids += card_ids(fragment)
        assert len(links) < 50, "the more links never end"
    return ids, links


@pytest.fixture
def paged(make_app, stages, make_user):
    """An app showing 3 cards a page, a signed-in member, and 10 cards in New."""
    app = make_app(BOARD_COLUMN_PAGE=3)
    with app.app_context():
        user = make_user()
        leads = [lead_service.create_lead({"first_name": f"Card{i}"}, None, stage_id=stages["New"].id)
                 for i in range(10)]
        web = Web(app.test_client())
        web.login(user)
        yield web, leads, user


def test_show_more_loads_every_card_of_a_long_column_exactly_once_in_order(paged, stages):
    web, leads, _ = paged
    ids, links = read_whole_column(web, stages["New"])
    assert ids == column_order(stages["New"].id) and sorted(ids) == sorted(lead.id for lead in leads)
    assert len(links) == 3  # 3 + 3 + 3 + 1
    assert all("after_position=" in link and "after_id=" in link and "offset" not in link for link in links)
    first = column_html(web.get("/board").get_data(as_text=True), stages["New"])
    assert "Show more (7 left)" in first


def test_cards_sharing_a_position_are_paged_by_id_without_loss_or_repeat(paged, stages):
    web, leads, _ = paged
    # Positions are meant to be unique per stage, but nothing in the schema enforces it: a page
    # boundary falling inside a run of equal positions must still continue by id.
    tied = [lead.id for lead in leads[2:8]]
    db.session.execute(update(Lead).where(Lead.id.in_(tied)).values(position=0))
    db.session.commit()
    ids, _ = read_whole_column(web, stages["New"])
    assert ids == column_order(stages["New"].id) and len(ids) == len(set(ids)) == 10
    at_zero = [i for i in ids if i in tied]
    assert at_zero == sorted(tied)


def test_my_leads_pages_only_my_cards(paged, stages):
    web, leads, user = paged
    mine = [lead.id for lead in leads[::2]]
    db.session.execute(update(Lead).where(Lead.id.in_(mine)).values(owner_id=user.id))
    db.session.commit()
    ids, links = read_whole_column(web, stages["New"], "/board?owner=me")
    assert sorted(ids) == sorted(mine) and len(ids) == len(set(ids))
    assert links and all("owner=me" in link for link in links)


def test_a_card_deleted_or_moved_after_the_page_loaded_does_not_break_the_next_page(paged, stages):
    web, leads, _ = paged
    first = column_html(web.get("/board").get_data(as_text=True), stages["New"])
    shown, link = card_ids(first), more_link(first)
    # The cursor names the last shown card; it leaves the column before "Show more" is pressed.
    db.session.execute(update(Lead).where(Lead.id == shown[-1]).values(stage_id=stages["Won"].id))
    db.session.commit()
    rest = web.get(link, htmx=True).get_data(as_text=True)
    assert card_ids(rest) == column_order(stages["New"].id)[2:5]


@pytest.mark.parametrize("query", [
    "after_position=abc&after_id=1", "after_position=1&after_id=x", "after_position=&after_id=",
    "after_position=99999999999999999999999&after_id=1", "after_position=9223372036854775808&after_id=1",
    "after_position=1&after_id=99999999999", "after_position=1&after_id=-4", "after_position=--1&after_id=1",
    "after_position=1.5&after_id=2", "after_position=%C2%B2&after_id=1", "after_position=1",
    "offset=3", "offset=-1", "shown=-9&after_position=x", "shown=zz",
])
def test_a_tampered_cursor_starts_the_column_from_the_top(paged, stages, query):
    web, _, _ = paged
    response = web.get(f"/board/columns/{stages['New'].id}/cards?{query}", htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 200, body
    assert card_ids(body) == column_order(stages["New"].id)[:3] and "Show more (7 left)" in body


def test_a_cursor_past_the_ends_of_the_position_range_answers_without_error(paged, stages):
    web, _, _ = paged
    order = column_order(stages["New"].id)
    low = web.get(f"/board/columns/{stages['New'].id}/cards?after_position=-9223372036854775807&after_id=0&shown=0",
                  htmx=True)
    high = web.get(f"/board/columns/{stages['New'].id}/cards?after_position=9223372036854775807&after_id=1&shown=3",
                   htmx=True)
    assert low.status_code == high.status_code == 200
    assert card_ids(low.get_data(as_text=True)) == order[:3]
    assert card_ids(high.get_data(as_text=True)) == [] and more_link(high.get_data(as_text=True)) is None


def test_more_cards_of_a_stage_that_is_gone_is_a_404(paged, stages):
    web, _, _ = paged
    for url in ("/board/columns/999999/cards?after_position=1&after_id=1", "/board/columns/99999999999/cards"):
        response = web.get(url, htmx=True)
        assert response.status_code == 404, url


def test_a_nul_byte_in_the_cursor_is_a_clear_400(paged, stages):
    web, _, _ = paged
    response = web.get(f"/board/columns/{stages['New'].id}/cards?after_position=1%00&after_id=1", htmx=True)
    assert response.status_code == 400 and "NUL" in response.get_data(as_text=True)


def test_loading_more_runs_no_offset(paged, stages):
    web, _, _ = paged
    link = more_link(column_html(web.get("/board").get_data(as_text=True), stages["New"]))
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))
    event.listen(db.engine, "before_cursor_execute", record)
    try:
        assert web.get(link, htmx=True).status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    cards = [(s, p) for s, p in statements if "FROM leads" in s and "ORDER BY leads.position" in s]
    assert len(cards) == 1
    statement, parameters = cards[0]
    if db.engine.dialect.name == "postgresql":
        assert "OFFSET" not in statement.upper(), statement
    else:  # SQLAlchemy's SQLite dialect always writes "LIMIT ? OFFSET ?": the offset must be 0
        assert statement.rstrip().endswith("LIMIT ? OFFSET ?") and parameters[-1] == 0, (statement, parameters)
    assert "leads.position >=" in statement


def test_a_move_refreshes_columns_bounded_and_the_refreshed_more_link_continues(paged, stages, monkeypatch):
    web, leads, _ = paged
    monkeypatch.setattr("app.board.routes.MAX_SHOWN", 5)
    mover = lead_service.create_lead({"first_name": "Mover"}, None, stage_id=stages["Contacted"].id)
    top = column_order(stages["New"].id)[0]
    response = web.post("/board/move", {"lead_id": mover.id, "stage_id": stages["New"].id, "after_id": top,
                                        "version": mover.version, "from_stage_id": stages["Contacted"].id,
                                        "shown": 9000}, htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "Moved Mover to New." in body
    refreshed = column_html(body, stages["New"])
    order = column_order(stages["New"].id)
    assert len(order) == 11 and card_ids(refreshed) == order[:5] and order[1] == mover.id
    assert "Show more (6 left)" in refreshed
    rest = []
    link = more_link(refreshed)
    while link:
        fragment = web.get(link, htmx=True).get_data(as_text=True)
        rest += card_ids(fragment)
        link = more_link(fragment)
    assert card_ids(refreshed) + rest == order


# --- what a board and a signed-in page cost ------------------------------------------------------


def board_cost(app, web, monkeypatch) -> tuple[int, int]:
    """(url_for calls, SQL statements) of one GET /board."""
    calls = {"url_for": 0, "sql": 0}
    original = app.url_for

    def counted(*args, **kwargs):
        calls["url_for"] += 1
        return original(*args, **kwargs)
    monkeypatch.setattr(app, "url_for", counted)
    monkeypatch.setitem(app.jinja_env.globals, "url_for", counted)

    def tick(*args):
        calls["sql"] += 1
    event.listen(db.engine, "before_cursor_execute", tick)
    try:
        assert web.get("/board").status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", tick)
        monkeypatch.undo()
    return calls["url_for"], calls["sql"]


def test_a_boards_url_for_calls_and_queries_do_not_grow_with_its_cards(app, as_member, stages, make_user, make_lead,
                                                                     monkeypatch):
    from app.services.demo import bulk_leads
    columns = len(stages)
    for name in stages:
        make_lead(name, first_name=f"Only {name}")
    small_urls, small_sql = board_cost(app, as_member, monkeypatch)  # one card a column
    owner = make_user().id
    bulk_leads(400, [owner], list(stages.values()), notes=False)
    shown = len(card_ids(as_member.get("/board").get_data(as_text=True)))
    assert shown >= 60
    large_urls, large_sql = board_cost(app, as_member, monkeypatch)
    # At most one more per column (its "Show more"); a url_for per card would add 3 x shown.
    assert large_urls <= small_urls + columns, (small_urls, large_urls)
    assert large_urls < shown
    assert large_sql == small_sql


FLOOR_QUERIES = 2  # the session, its user and the unread count in one; the page's own lookup


def test_the_signed_in_floor_is_one_query_before_the_pages_own(app, as_member, member, count_queries):
    db.session.add(Notification(user_id=member.id, message="A prospect answered", created_at=datetime(2026, 1, 1)))
    db.session.commit()
    with count_queries() as counter:
        page = as_member.get("/leads/0")
    assert page.status_code == 404 and counter.count <= FLOOR_QUERIES
    body = page.get_data(as_text=True)
    assert re.search(r'id="bell-count"[^>]*><span class="nav-count" data-unread="1">1<', body) and member.name in body
    as_member.get("/notifications")  # a running process has the team's settings cached already
    with count_queries() as counter:
        assert as_member.get("/notifications").status_code == 200
    # The session (with the count) and the list; and the times are shown in the reader's zone, whose
    # fallback is the team's: one read of the settings version says the cached settings still hold.
    assert counter.count <= FLOOR_QUERIES + 1
    # A fragment shows no layout: it loads the session alone, and still answers only its owner.
    with count_queries() as counter:
        assert as_member.get("/leads/0", htmx=True).status_code == 404
    assert counter.count <= FLOOR_QUERIES


def test_the_floor_still_refuses_an_ended_session(app, as_member, member):
    from app.models import UserSession
    db.session.execute(UserSession.__table__.delete().where(UserSession.user_id == member.id))
    db.session.commit()
    response = as_member.get("/account")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_my_leads_by_score_reads_one_range_of_the_owner_score_index(app, stages, make_user):
    """A person's column sorted by score must not walk the stage's other leads (a rep with few leads
    in a stage of many): it reads (stage_id, owner_id, score, id) in order."""
    from app.services import board
    rep = make_user(email="few@example.com")
    query = board._narrowed(select(Lead), stages["New"].id, board.View(owner_id=rep.id, sort="score"))
    query = query.order_by(Lead.score.desc(), Lead.id.desc()).limit(21)
    found = plan(query, "INSERT INTO leads (first_name, last_name, stage_id, position, version, created_at, "
                 "updated_at, stage_entered_at, score) SELECT 'L', 'N' || g, :stage, g, 1, now(), now(), now(), "
                 "g % 100 FROM generate_series(1, 20000) g", stage=stages["New"].id)
    assert "ix_leads_stage_owner_score_id" in found, found
