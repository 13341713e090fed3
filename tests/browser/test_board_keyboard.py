"""The board from the keyboard, at desktop and phone width: Escape closes a card's "Move to…" menu
and gives focus back to its button; after "Show more" focus is on the first new card; after a save
that failed, focus is on the first field in error."""
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import card, column_cards, move_to_won_by_keyboard, sign_in

SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 375, "height": 812}}


@pytest.mark.parametrize("size", list(SIZES))
def test_escape_closes_the_move_to_menu_and_focus_returns_to_its_button(new_page, seeded, size):
    seeded.lead("Esme", "Escape")
    page = new_page(viewport=SIZES[size])
    sign_in(page, seeded.member)
    the_card = card(page, "Esme Escape")
    summary = the_card.locator(".move-to > summary")
    summary.focus()
    page.keyboard.press("Enter")
    stage = the_card.get_by_label("Stage", exact=True)
    expect(stage).to_be_visible()
    stage.focus()
    page.keyboard.press("Escape")
    expect(the_card.locator(".move-to")).not_to_have_attribute("open", "")
    expect(stage).to_be_hidden()
    expect(summary).to_be_focused()
    # Opened again and closed from its own button: Escape there closes it as well.
    page.keyboard.press("Enter")
    expect(stage).to_be_visible()
    page.keyboard.press("Escape")
    expect(stage).to_be_hidden()
    expect(summary).to_be_focused()


@pytest.mark.parametrize("size", list(SIZES))
def test_after_show_more_focus_is_on_the_first_new_card(new_page, seeded, size):
    for i in range(23):
        seeded.lead(f"Card{i:02d}", "Long")  # newest on top: Card22 ... Card00
    page = new_page(viewport=SIZES[size])
    sign_in(page, seeded.member)
    cards = column_cards(page, "New")
    expect(cards.locator(".card")).to_have_count(20)
    more = cards.get_by_role("button", name="Show more (3 left)")
    more.focus()
    page.keyboard.press("Enter")
    expect(cards.locator(".card")).to_have_count(23)
    expect(page.get_by_role("link", name="Card02 Long", exact=True)).to_be_focused()


@pytest.mark.parametrize("size", list(SIZES))
def test_after_a_failed_save_focus_is_on_the_first_error(new_page, seeded, size):
    seeded.lead("Wanda", "Win", value="800")
    page = new_page(viewport=SIZES[size])
    sign_in(page, seeded.member)
    dialog = move_to_won_by_keyboard(page, "Wanda Win")
    value = dialog.get_by_label("Won value")
    expect(value).to_be_focused()
    value.fill("lots")
    dialog.get_by_label("Won on").focus()  # focus elsewhere: the refusal must bring it back
    page.keyboard.press("Enter")
    value = page.get_by_role("dialog", name="Won: Wanda Win").get_by_label("Won value")
    expect(value).to_have_attribute("aria-invalid", "true")
    expect(value).to_be_focused()

    # A task added from the card's menu without its title: focus goes to the title, its error beside it.
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)
    the_card = card(page, "Wanda Win")
    the_card.locator(".move-to > summary").click()
    the_card.get_by_text("Add a task").click()
    title = the_card.get_by_label("Task", exact=True)
    title.fill("")
    the_card.get_by_role("button", name="Add task").focus()
    page.keyboard.press("Enter")
    title = card(page, "Wanda Win").get_by_label("Task", exact=True)
    expect(title).to_have_attribute("aria-invalid", "true")
    expect(title).to_be_focused()
