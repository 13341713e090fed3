"""The pipeline stage editor: admins rename and reorder stages; members are kept out."""
import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.browser.conftest import mouse_drag

DEFAULT_ORDER = ["New", "Contacted", "Qualified", "Appointment set", "Won", "Lost"]


def stage_names_in_db(live):
    from app.extensions import db
    from app.models import Stage
    with live.db():
        return list(db.session.scalars(select(Stage.name).order_by(Stage.position, Stage.id)))


def stage_item(page, name):
    return page.get_by_role("list", name="Stages in pipeline order").get_by_role("listitem").filter(
        has=page.get_by_text(name, exact=True))


def stage_names_on_page(page):
    return page.get_by_role("list", name="Stages in pipeline order").locator(".stage-name").all_inner_texts()


def expect_stage_list(page, names):
    expect(page.get_by_role("list", name="Stages in pipeline order").locator(".stage-name")).to_have_text(names)


def test_an_admin_renames_and_reorders_stages_and_the_board_follows(admin_page, seeded):
    page = admin_page
    seeded.lead("Ria", "Renamed", stage="Contacted")
    page.goto("/settings/stages")
    expect_stage_list(page, DEFAULT_ORDER)

    # Rename: Edit link -> form -> Save.
    page.get_by_role("link", name="Edit Contacted", exact=True).click()
    expect(page.get_by_role("heading", name="Edit stage")).to_be_visible()
    name = page.get_by_label("Name")
    expect(name).to_have_value("Contacted")
    name.fill("Reached out")
    page.get_by_role("button", name="Save stage").click()
    expect(page).to_have_url(re.compile(r"/settings/stages$"))
    expect_stage_list(page, ["New", "Reached out", "Qualified", "Appointment set", "Won", "Lost"])
    expect(page.get_by_role("heading", name="Pipeline stages", level=1)).to_be_visible()

    # Reorder with the buttons: New goes down one, then Won goes up one.
    with page.expect_response(re.compile(r"/settings/stages/\d+/move$")):
        page.get_by_role("button", name="Move New down").click()
    expect_stage_list(page, ["Reached out", "New", "Qualified", "Appointment set", "Won", "Lost"])
    expect(page.get_by_role("button", name="Move New down")).to_be_focused()
    with page.expect_response(re.compile(r"/settings/stages/\d+/move$")):
        page.get_by_role("button", name="Move Won up").click()
    expect_stage_list(page, ["Reached out", "New", "Qualified", "Won", "Appointment set", "Lost"])
    expect(page.get_by_role("button", name="Move Won up")).to_be_focused()

    # Reorder by dragging a handle: Lost to the top.
    with page.expect_response("**/settings/stages/order") as answer:
        mouse_drag(page, stage_item(page, "Lost").locator(".drag-handle"), stage_item(page, "Reached out"),
                   target_position="top", arrived=lambda: stage_names_on_page(page)[0] == "Lost")
    assert answer.value.status == 200
    expected = ["Lost", "Reached out", "New", "Qualified", "Won", "Appointment set"]
    expect_stage_list(page, expected)
    expect(page.locator("#flash")).to_have_text("Stage order saved.")
    assert stage_names_in_db(seeded.live) == expected

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Board").click()
    expect(page).to_have_url(re.compile(r"/board$"))
    expect(page.locator("#board").get_by_role("heading", level=2)).to_have_text(expected)
    renamed = page.get_by_role("region", name="Reached out", exact=True)
    expect(renamed.get_by_role("link", name="Ria Renamed", exact=True)).to_be_visible()


def test_saving_a_stage_returns_to_the_whole_stage_page_with_a_confirmation(admin_page, seeded):
    page = admin_page
    page.goto("/settings/stages")
    page.get_by_role("link", name="Edit Qualified", exact=True).click()
    page.get_by_label("Name").fill("Vetted")
    page.get_by_role("button", name="Save stage").click()

    expect(page).to_have_url(re.compile(r"/settings/stages$"))
    expect_stage_list(page, ["New", "Contacted", "Vetted", "Appointment set", "Won", "Lost"])
    expect(page.get_by_role("status")).to_have_text("Saved the stage Vetted.", timeout=2_000)
    expect(page.get_by_role("heading", name="Pipeline stages", level=1)).to_be_visible(timeout=1_000)
    expect(page.get_by_role("navigation", name="Main")).to_be_visible(timeout=1_000)
    expect(page.get_by_role("heading", name="Add a stage")).to_be_visible(timeout=1_000)


def test_a_member_is_refused_the_stage_editor_and_sees_no_admin_links(member_page, seeded):
    page = member_page
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Board")).to_be_visible()
    expect(nav.get_by_role("link", name="Stages")).to_have_count(0)
    expect(nav.get_by_role("link", name="Team settings")).to_have_count(0)
    expect(nav.get_by_role("link", name="People")).to_have_count(0)

    response = page.goto("/settings/stages")

    assert response.status == 403
    expect(page.get_by_role("heading", name="Not allowed", level=1)).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text(
        "Pipeline stages are for admins. Ask an admin if something there needs changing.")
    expect(page.get_by_role("link", name="Back to the board")).to_be_visible()
    expect(page.get_by_role("list", name="Stages in pipeline order")).to_have_count(0)
    expect(nav.get_by_role("link", name="Stages")).to_have_count(0)
    expect(nav.get_by_role("link", name="Team settings")).to_have_count(0)
    expect(nav.get_by_role("link", name="People")).to_have_count(0)
    assert stage_names_in_db(seeded.live) == DEFAULT_ORDER


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 900}, {"width": 375, "height": 812}],
                         ids=["desktop", "phone"])
def test_a_new_stage_lands_before_won_and_a_taken_name_is_refused_beside_the_field(new_page, seeded, viewport):
    from tests.browser.conftest import sign_in
    page = new_page(viewport=viewport)
    sign_in(page, seeded.admin)
    page.goto("/settings/stages")
    name = page.get_by_label("Name", exact=True)
    name.fill("Proposal")
    name.press("Enter")  # by keyboard
    expect_stage_list(page, ["New", "Contacted", "Qualified", "Appointment set", "Proposal", "Won", "Lost"])

    name = page.get_by_label("Name", exact=True)
    name.fill("WON")
    page.get_by_role("button", name="Add stage").click()
    error = page.locator("#name-error")
    expect(error).to_contain_text("There is already a stage called WON")
    expect(page.get_by_label("Name", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Name", exact=True)).to_be_focused()
    assert stage_names_in_db(seeded.live).count("Won") == 1 and "WON" not in stage_names_in_db(seeded.live)
