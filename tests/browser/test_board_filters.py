"""The board's filter form: labelled controls used from the keyboard, an htmx swap of the board that
keeps the address in step, a plain GET without JavaScript, at desktop and phone width."""
import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import column, column_cards, sign_in

SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 375, "height": 812}}


def seed(seeded) -> None:
    """Five leads in New with scores and an "employees" number; one Hot lead is the member's."""
    from sqlalchemy import insert, update
    from app.extensions import db
    from app.models import Lead, LeadFieldValue
    from app.services import custom_fields as cf
    from app.services.custom_fields import FieldSettings
    people = {"Ann Cold": (5, 10, None), "Ben Warm": (30, 250, None), "Cat Hot": (60, 40, seeded.member),
              "Dan Hotter": (90, 300, None), "Eve Hottest": (95, 20, None)}
    ids = {name: seeded.lead(*name.split(), owner=owner) for name, (_, _, owner) in people.items()}
    with seeded.live.db():
        field = cf.create_field(FieldSettings("Employees", key="employees", kind="number"))
        for name, (score, employees, _) in people.items():
            db.session.execute(update(Lead).where(Lead.id == ids[name]).values(score=score))
            db.session.execute(insert(LeadFieldValue).values(lead_id=ids[name], field_id=field.id,
                                                             value_number=Decimal(employees)))
        db.session.commit()


def card_names(page):
    return column_cards(page, "New").locator(".card-title")


@pytest.mark.parametrize("size", list(SIZES))
def test_filtering_and_sorting_the_board_from_the_keyboard(new_page, seeded, size):
    seed(seeded)
    page = new_page(viewport=SIZES[size], is_mobile=size == "phone", has_touch=size == "phone")
    sign_in(page, seeded.member)
    expect(column(page, "New").locator(".count")).to_have_text("5 leads")
    # Folded away while no filter is on, so the board comes first; opened from the keyboard.
    page.locator("#board-filters-panel summary").focus()
    page.keyboard.press("Enter")

    band = page.get_by_label("Score band")
    band.focus()
    band.select_option("Hot")
    page.get_by_label("Order of cards").select_option("score")
    page.get_by_role("button", name="Apply").focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/board\?band=Hot&sort=score$"))
    expect(card_names(page)).to_have_text(["Eve Hottest", "Dan Hotter", "Cat Hot"])
    expect(column(page, "New").locator(".count")).to_have_text("3 matching leads")
    expect(page.locator("#board-hint")).to_contain_text("drag a card to another column to move it")
    expect(page.locator("#board")).to_have_attribute("data-sort", "score")

    # My leads keeps the filters and the sort.
    page.get_by_role("link", name="My leads").click()
    expect(page).to_have_url(re.compile(r"owner=me"))
    expect(card_names(page)).to_have_text(["Cat Hot"])
    expect(page.get_by_label("Score band")).to_have_value("Hot")
    page.get_by_role("link", name="Everyone's leads").click()
    expect(card_names(page)).to_have_text(["Eve Hottest", "Dan Hotter", "Cat Hot"])
    # The switch swaps the page in place (boosted): its new controls are live once it has settled.
    expect(page.locator("body")).not_to_have_class(re.compile(r"htmx-(swapping|settling)"))

    # Picking a custom field redraws the form with that field's range; a minimum score narrows too.
    page.get_by_label("Custom field").select_option("employees")
    expect(page.get_by_label("Employees from")).to_be_visible()
    page.get_by_label("Employees from").fill("30")
    page.get_by_label("Score at least").fill("60")
    page.get_by_label("Score at least").press("Enter")
    expect(page).to_have_url(re.compile(r"field_min=30"))
    expect(card_names(page)).to_have_text(["Dan Hotter", "Cat Hot"])

    page.wait_for_load_state("load")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= SIZES[size]["width"] + 1, f"the board page is {width}px wide"

    page.get_by_role("link", name="Clear filters").click()
    expect(column(page, "New").locator(".count")).to_have_text("5 leads")


def test_without_javascript_the_filter_form_is_a_plain_get(new_page, seeded):
    seed(seeded)
    page = new_page(java_script_enabled=False)
    sign_in(page, seeded.member)
    page.get_by_text("Filters and order").click()  # a <details>: it opens without JavaScript
    page.get_by_label("Score at least").fill("30")
    page.get_by_label("Order of cards").select_option("score")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"min_score=30"))
    expect(card_names(page)).to_have_text(["Eve Hottest", "Dan Hotter", "Cat Hot", "Ben Warm"])
    expect(column(page, "New").locator(".count")).to_have_text("4 matching leads")


@pytest.mark.parametrize("size", list(SIZES))
def test_owner_source_and_search_narrow_the_board_and_stay_in_the_address(new_page, seeded, size):
    seeded.lead("Pia", "Pool", company="Acme", source="web")
    seeded.lead("Pete", "Pooled", company="Globex", source="web")
    seeded.lead("Mo", "Mine", company="Acme", source="web", owner=seeded.member)
    seeded.lead("Ray", "Referred", company="Acme", source="referral")
    page = new_page(viewport=SIZES[size], is_mobile=size == "phone", has_touch=size == "phone")
    sign_in(page, seeded.member)
    expect(column(page, "New").locator(".count")).to_have_text("4 leads")
    page.locator("#board-filters-panel summary").focus()
    page.keyboard.press("Enter")
    page.get_by_label("Owner", exact=True).select_option(label="Unassigned (pool)")
    page.get_by_label("Source", exact=True).select_option("web")
    search = page.get_by_label("Search", exact=True)
    search.fill("acme")
    search.press("Enter")
    expect(page).to_have_url(re.compile(r"/board\?q=acme&owner=none&source=web$"))
    expect(card_names(page)).to_have_text(["Pia Pool"])
    expect(column(page, "New").locator(".count")).to_have_text("1 matching lead")
    # The address is the view: a reload shows the same board and the same choices.
    page.reload()
    expect(card_names(page)).to_have_text(["Pia Pool"])
    expect(page.get_by_label("Owner", exact=True)).to_have_value("none")
    expect(page.get_by_label("Search", exact=True)).to_have_value("acme")
    # "My leads" keeps the search and source.
    page.get_by_role("link", name="My leads").click()
    expect(page).to_have_url(re.compile(r"owner=me"))
    expect(card_names(page)).to_have_text(["Mo Mine"])
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= SIZES[size]["width"] + 1, f"the board page is {width}px wide"
