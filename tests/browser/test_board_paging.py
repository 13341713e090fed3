"""A long column in Chromium: "Show more" loads the next cards by keyset, and they work like the first."""
from playwright.sync_api import expect

from tests.browser.conftest import card, column, column_cards


def test_show_more_loads_the_rest_of_a_long_column_and_its_cards_move_by_keyboard(admin_page, seeded):
    page = admin_page
    for i in range(23):
        seeded.lead(f"Card{i:02d}", "Long")  # newest on top: Card22 ... Card00
    seeded.lead("Quinn", "Qualified", stage="Qualified")
    page.goto("/board")
    cards = column_cards(page, "New")
    expect(cards.locator(".card")).to_have_count(20)
    more = cards.get_by_role("button", name="Show more (3 left)")
    with page.expect_response("**/board/columns/*/cards?*") as answer:
        more.click()
    assert answer.value.status == 200 and "after_position=" in answer.value.url and "offset" not in answer.value.url
    expect(cards.locator(".card")).to_have_count(23)
    expect(cards.locator(".load-more")).to_have_count(0)
    names = [cards.locator(".card-title").nth(i).inner_text() for i in range(23)]
    assert names == [f"Card{i:02d} Long" for i in range(22, -1, -1)]

    # A card that came with "Show more" fetches its "Move to…" form on open, like the first ones.
    oldest = card(page, "Card00 Long")
    oldest.locator("summary").click()
    oldest.get_by_label("Stage", exact=True).select_option(label="Qualified")
    with page.expect_response("**/board/move") as moved:
        oldest.get_by_role("button", name="Move", exact=True).click()
    assert moved.value.status == 200
    expect(column_cards(page, "Qualified").get_by_role("link", name="Card00 Long", exact=True)).to_be_visible()
    expect(column(page, "New").locator(".count")).to_have_text("22 leads")
    expect(cards.locator(".card")).to_have_count(22)  # the opened column stays open after the move
    expect(column(page, "Qualified").locator(".count")).to_have_text("2 leads")
