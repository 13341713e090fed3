"""Moving cards on the board: by dragging, and by the keyboard's "Move to…" menu."""
from playwright.sync_api import expect
from sqlalchemy import select

from tests.browser.conftest import card, column, column_cards, mouse_drag


def lead_row(live, lead_id):
    """The lead's stage name and its timeline kinds/data, read straight from the database."""
    from app.extensions import db
    from app.models import Lead, TimelineEntry
    with live.db():
        lead = db.session.get(Lead, lead_id)
        entries = db.session.execute(select(TimelineEntry.kind, TimelineEntry.data, TimelineEntry.actor_id)
                                     .where(TimelineEntry.lead_id == lead_id).order_by(TimelineEntry.id)).all()
        return lead.stage.name, [(kind, data, actor) for kind, data, actor in entries]


def test_dragging_a_card_to_another_column_moves_the_lead_and_survives_a_reload(admin_page, seeded):
    page = admin_page
    dora = seeded.lead("Dora", "Drag", value="1200")
    seeded.lead("Nina", "Stays")
    seeded.lead("Carl", "Contacted", stage="Contacted", value="300")
    page.goto("/board")
    expect(column(page, "New").locator(".count")).to_have_text("2 leads")
    expect(column(page, "Contacted").locator(".count")).to_have_text("1 lead")

    with page.expect_response("**/board/move") as answer:
        mouse_drag(page, card(page, "Dora Drag"), column_cards(page, "Contacted"),
                   arrived=lambda: column_cards(page, "Contacted").locator("#card-%d" % dora).count() == 1)

    assert answer.value.status == 200
    expect(column(page, "New").locator(".count")).to_have_text("1 lead")
    expect(column(page, "Contacted").locator(".count")).to_have_text("2 leads")
    expect(column(page, "Contacted").locator(".total")).to_have_text("$1,500")
    expect(page.locator("#flash")).to_have_text("Moved Dora Drag to Contacted.")
    expect(column_cards(page, "Contacted").get_by_role("link", name="Dora Drag", exact=True)).to_be_visible()

    page.reload()
    expect(column_cards(page, "Contacted").get_by_role("link", name="Dora Drag", exact=True)).to_be_visible()
    expect(column_cards(page, "New").get_by_role("link", name="Dora Drag", exact=True)).to_have_count(0)
    expect(column_cards(page, "New").get_by_role("link", name="Nina Stays", exact=True)).to_be_visible()

    stage, timeline = lead_row(seeded.live, dora)
    assert stage == "Contacted"
    assert ("stage_changed", {"from": "New", "to": "Contacted"}, seeded.admin.id) in timeline


def test_the_keyboard_move_to_menu_moves_a_card_and_focus_follows_it(admin_page, seeded):
    page = admin_page
    kim = seeded.lead("Kim", "Keys")
    seeded.lead("Quinn", "Qualified", stage="Qualified")
    page.goto("/board")
    kims_card = card(page, "Kim Keys")
    link = kims_card.get_by_role("link", name="Kim Keys", exact=True)

    link.focus()
    page.keyboard.press("Tab")
    summary = kims_card.locator("summary")
    expect(summary).to_be_focused()
    expect(summary).to_have_text("Move to… (Kim Keys)")
    page.keyboard.press("Enter")
    stage_select = kims_card.get_by_label("Stage", exact=True)
    expect(stage_select).to_be_visible()
    page.keyboard.press("Tab")
    expect(stage_select).to_be_focused()
    stage_select.select_option(label="Qualified")
    page.keyboard.press("Tab")
    expect(kims_card.get_by_role("button", name="Move", exact=True)).to_be_focused()
    with page.expect_response("**/board/move") as answer:
        page.keyboard.press("Enter")

    assert answer.value.status == 200
    moved_link = column_cards(page, "Qualified").get_by_role("link", name="Kim Keys", exact=True)
    expect(moved_link).to_be_visible()
    expect(moved_link).to_be_focused()
    expect(column_cards(page, "New").get_by_role("link", name="Kim Keys", exact=True)).to_have_count(0)
    expect(column(page, "Qualified").locator(".count")).to_have_text("2 leads")
    expect(column(page, "New").locator(".count")).to_have_text("0 leads")
    expect(page.locator("#flash")).to_have_text("Moved Kim Keys to Qualified.")

    page.reload()
    expect(column_cards(page, "Qualified").get_by_role("link", name="Kim Keys", exact=True)).to_be_visible()
    stage, timeline = lead_row(seeded.live, kim)
    assert stage == "Qualified"
    assert ("stage_changed", {"from": "New", "to": "Qualified"}, seeded.admin.id) in timeline
