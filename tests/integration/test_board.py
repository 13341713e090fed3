import re
from decimal import Decimal

from sqlalchemy import or_, select

from app.extensions import db
from app.models import Lead, TimelineEntry
from app.services import closing, leads as lead_service


def column_html(body: str, stage) -> str:
    match = re.search(rf'<section id="column-{stage.id}".*?</section>', body, re.S)
    assert match, f"no column for {stage.name}"
    return match.group(0)


def card_names(column: str) -> list[str]:
    return re.findall(r'class="card-title" href="/leads/\d+">([^<]+)</a>', column)


def test_columns_show_honest_totals_even_when_only_the_first_cards_are_loaded(make_app, stages, make_user):
    from app.services.demo import bulk_leads
    from tests.conftest import Web
    app = make_app(BOARD_COLUMN_PAGE=5)
    with app.app_context():
        user = make_user()
        bulk_leads(40, [user.id], list(stages.values()), notes=False)
        expected = {s.id: (0, Decimal(0)) for s in stages.values()}
        cutoff = closing.board_cutoff()
        # A won or lost column counts the leads closed in the period it shows (the last 30 days).
        for lead in db.session.scalars(select(Lead).where(or_(Lead.closed_on.is_(None), Lead.closed_on >= cutoff))):
            count, total = expected[lead.stage_id]
            expected[lead.stage_id] = (count + 1, total + lead.value)
        web = Web(app.test_client())
        web.login(user)
        body = web.get("/board").get_data(as_text=True)
    from app.filters import money
    for stage in stages.values():
        column = column_html(body, stage)
        count, total = expected[stage.id]
        assert f"{count} lead{'s' if count != 1 else ''}" in column and money(total) in column
        assert len(card_names(column)) == min(5, count)
        if count > 5:
            assert f"Show more ({count - 5} left)" in column


def test_show_more_loads_the_next_cards_of_a_column(make_app, stages, make_user):
    from tests.conftest import Web
    app = make_app(BOARD_COLUMN_PAGE=2)
    with app.app_context():
        user = make_user()
        for i in range(5):
            lead_service.create_lead({"first_name": f"Card{i}"}, None, stage_id=stages["New"].id)
        web = Web(app.test_client())
        web.login(user)
        column = column_html(web.get("/board").get_data(as_text=True), stages["New"])
        first = card_names(column)
        link = re.search(r'class="load-more">\s*<button type="button" hx-get="([^"]+)"', column).group(1)
        more = web.get(link.replace("&amp;", "&"), htmx=True).get_data(as_text=True)
    assert first == ["Card4", "Card3"]  # newest on top
    assert card_names(more) == ["Card2", "Card1"] and "Show more (1 left)" in more and "<html" not in more


def test_my_leads_shows_only_cards_i_own(as_member, make_lead, member, stages):
    make_lead(first_name="Mine", owner=member)
    make_lead(first_name="Theirs")
    body = as_member.get("/board?owner=me").get_data(as_text=True)
    assert "Mine Lead" in body and "Theirs Lead" not in body
    assert as_member.get("/board?owner=someone").status_code == 422  # the whole board, said beside the filters


def move(web, lead, stage, after=None, version=None, **extra):
    data = {"lead_id": lead.id, "stage_id": stage.id, "after_id": after.id if after else "",
            "version": version if version is not None else lead.version, "from_stage_id": lead.stage_id, **extra}
    return web.post("/board/move", data, htmx=True)


def test_dragging_a_card_to_another_column_and_position_persists_it(as_member, make_lead, stages, member):
    a, b = make_lead(first_name="A", stage="Contacted"), make_lead(first_name="B", stage="Contacted")
    mover = make_lead(first_name="Mover")
    # Contacted shows B, A (newest first); drop Mover between them.
    response = move(as_member, mover, stages["Contacted"], after=b)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "Moved Mover Lead to Contacted." in body
    assert 'hx-swap-oob="true"' in body and "<html" not in body
    page = as_member.get("/board").get_data(as_text=True)
    assert card_names(column_html(page, stages["Contacted"])) == ["B Lead", "Mover Lead", "A Lead"]
    assert card_names(column_html(page, stages["New"])) == []
    db.session.refresh(mover)
    assert mover.stage_id == stages["Contacted"].id and mover.first_response_at is not None
    entry = db.session.scalars(select(TimelineEntry).where(TimelineEntry.lead_id == mover.id,
                                                           TimelineEntry.kind == "stage_changed")).one()
    assert (entry.data["from"], entry.data["to"], entry.actor_id) == ("New", "Contacted", member.id)


def test_reordering_within_a_column_keeps_every_card(as_member, make_lead, stages):
    cards = [make_lead(first_name=f"C{i}") for i in range(4)]  # shown C3, C2, C1, C0
    assert move(as_member, cards[3], stages["New"], after=cards[0]).status_code == 200
    assert move(as_member, cards[0], stages["New"], after=None, version=cards[0].version).status_code == 200
    page = as_member.get("/board").get_data(as_text=True)
    assert card_names(column_html(page, stages["New"])) == ["C0 Lead", "C2 Lead", "C1 Lead", "C3 Lead"]


def test_many_drops_between_the_same_two_cards_never_lose_order(as_member, make_lead, stages):
    top, bottom = make_lead(first_name="Top"), make_lead(first_name="Bottom")
    lead_service.move_lead(bottom.id, stages["New"].id, top.id, None, None)  # Top, Bottom
    movers = [make_lead(first_name=f"M{i}", stage="Qualified") for i in range(14)]
    for mover in movers:  # each lands right under Top, halving the gap until it must renumber
        assert move(as_member, mover, stages["New"], after=top).status_code == 200
    names = card_names(column_html(as_member.get("/board").get_data(as_text=True), stages["New"]))
    assert names == ["Top Lead"] + [f"M{i} Lead" for i in reversed(range(14))] + ["Bottom Lead"]


def test_a_move_from_a_stale_board_is_refused_with_a_message_and_fresh_columns(as_member, make_lead, stages, make_user):
    lead = make_lead(first_name="Contested")
    rival = make_user()
    stale_version = lead.version
    lead_service.move_lead(lead.id, stages["Qualified"].id, None, stale_version, rival.id)
    response = move(as_member, lead, stages["Won"], version=stale_version)
    body = response.get_data(as_text=True)
    assert response.status_code == 409 and "Someone else changed this lead" in body
    assert response.headers["HX-Reswap"] == "none" and 'id="flash"' in body  # the notice rides out of band
    # The refreshed columns show where the card really is.
    assert "Contested Lead" in column_html(body, stages["Qualified"])
    db.session.refresh(lead)
    assert lead.stage_id == stages["Qualified"].id


def test_a_drop_next_to_a_card_that_has_left_the_column_is_refused(as_member, make_lead, stages):
    neighbour = make_lead(first_name="Neighbour", stage="Won")
    lead = make_lead(first_name="Mover")
    response = move(as_member, lead, stages["Lost"], after=neighbour, closing="1")
    assert response.status_code == 409 and "board changed while you were dragging" in response.get_data(as_text=True)
    db.session.refresh(lead)
    assert lead.stage_id == stages["New"].id


def test_a_tampered_stage_or_lead_id_is_refused_and_nothing_moves(as_member, make_lead, stages):
    lead = make_lead()
    bad_stage = as_member.post("/board/move", {"lead_id": lead.id, "stage_id": 999999, "version": lead.version},
                               htmx=True)
    assert bad_stage.status_code == 409 and "stage no longer exists" in bad_stage.get_data(as_text=True)
    assert bad_stage.headers["HX-Refresh"] == "true"  # the board reloads: its columns are out of date
    bad_lead = as_member.post("/board/move", {"lead_id": 999999, "stage_id": stages["Won"].id}, htmx=True)
    assert bad_lead.status_code == 404
    garbage = as_member.post("/board/move", {"lead_id": "x", "stage_id": "<script>"}, htmx=True)
    assert garbage.status_code == 400 and "<script>" not in garbage.get_data(as_text=True)
    db.session.refresh(lead)
    assert lead.stage_id == stages["New"].id


def test_the_move_to_menu_works_without_javascript(as_member, make_lead, stages):
    lead = make_lead(first_name="Keyboard")
    response = as_member.post("/board/move", {"lead_id": lead.id, "stage_id": stages["Qualified"].id,
                                              "version": lead.version})
    assert response.status_code == 302 and response.headers["Location"] == "/board"
    db.session.refresh(lead)
    assert lead.stage_id == stages["Qualified"].id
    page = as_member.get("/board").get_data(as_text=True)
    assert "Moved Keyboard Lead to Qualified." in page


def test_the_board_and_pool_run_the_same_number_of_queries_for_5_or_60_leads(app, as_member, stages, make_user,
                                                                            count_queries):
    from app.services.demo import bulk_leads
    owners = [make_user().id for _ in range(3)]

    def queries(url):
        with count_queries() as counter:
            assert as_member.get(url).status_code == 200
        return counter.count

    bulk_leads(5, owners, list(stages.values()), notes=False)
    lead_service.create_lead({"first_name": "Pooled"}, None, stage_id=stages["New"].id)  # every filter matches
    small = {url: queries(url) for url in ("/board", "/leads", "/leads?owner=none&sort=value")}
    bulk_leads(55, owners, list(stages.values()), notes=False)
    large = {url: queries(url) for url in small}
    assert small == large, (small, large)
    lead = db.session.scalars(select(Lead).limit(1)).one()
    for _ in range(30):
        lead_service.add_note(lead.id, "again", owners[0])
    # 12 before issue 11; custom fields, tags and the score band (one query each, whatever the history) add 5.
    assert queries(f"/leads/{lead.id}") <= 17
