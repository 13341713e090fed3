"""README screenshots, taken from demo data: `LEADBOARD_SCREENSHOTS=docs/screenshots pytest -k screenshot`.

Without the variable the pictures go to a temporary directory, so the test still runs every time."""
import os
import re
import struct
from pathlib import Path

from playwright.sync_api import expect
from sqlalchemy import func, select

from tests.conftest import TEST_PASSWORD

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
VIEWPORT = {"width": 1400, "height": 900}
PHONE = {"width": 375, "height": 812}


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def busy_demo_lead(live) -> tuple[int, str]:
    """A demo lead with an owner, a history and notes: the most eventful one, given two more notes and a move."""
    from app.extensions import db
    from app.models import Lead, Note, Stage, TimelineEntry
    from app.services.leads import add_note, move_lead
    with live.db():
        lead = db.session.scalars(
            select(Lead).join(Note, Note.lead_id == Lead.id).join(TimelineEntry, TimelineEntry.lead_id == Lead.id)
            .join(Stage, Stage.id == Lead.stage_id)
            .where(Lead.owner_id.is_not(None), Stage.kind == "open", Stage.position > 0)
            .group_by(Lead.id).order_by(func.count(TimelineEntry.id).desc(), Lead.id).limit(1)).one()
        add_note(lead.id, "Called: they are comparing us with two other vendors; decision by the end of the month.",
                 lead.owner_id)
        add_note(lead.id, "Sent the pricing sheet and a case study from a customer in their industry.",
                 lead.owner_id)
        next_stage = db.session.scalars(select(Stage).where(Stage.position > lead.stage.position)
                                        .order_by(Stage.position).limit(1)).one()
        move_lead(lead.id, next_stage.id, None, None, lead.owner_id)
        return lead.id, lead.full_name


def test_screenshots_of_the_board_and_a_lead_page_from_demo_data(fresh_db, new_page, tmp_path):
    from app.services.demo import DEMO_ADMIN, seed
    target = Path(os.environ.get("LEADBOARD_SCREENSHOTS") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    with fresh_db.db():
        seed(leads=300, admin_password=TEST_PASSWORD)
    lead_id, lead_name = busy_demo_lead(fresh_db)

    page = new_page(viewport=VIEWPORT)
    page.goto("/login")
    page.get_by_label("Email").fill(DEMO_ADMIN)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/board$"))
    expect(page.locator("#board").get_by_role("heading", level=2)).to_have_count(6)
    expect(page.get_by_role("list", name="New cards").locator(".card").first).to_be_visible()
    page.screenshot(path=target / "board.png", full_page=False)

    page.goto(f"/leads/{lead_id}")
    expect(page.get_by_role("heading", name=lead_name, level=1)).to_be_visible()
    timeline = page.get_by_role("region", name="Timeline")
    expect(timeline.get_by_role("listitem").first).to_contain_text("Moved from ")  # the move we just made
    expect(timeline.get_by_role("listitem").nth(5)).to_be_visible()  # at least six entries
    expect(page.get_by_role("region", name="Notes").get_by_role("listitem")).to_have_count(3)
    page.screenshot(path=target / "lead.png", full_page=False)

    # The same two at phone width: one column at a time with its switcher, the rep's actions first.
    phone = new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    phone.goto("/login")
    phone.get_by_label("Email").fill(DEMO_ADMIN)
    phone.get_by_label("Password").fill(TEST_PASSWORD)
    phone.get_by_role("button", name="Sign in").click()
    expect(phone).to_have_url(re.compile(r"/board$"))
    expect(phone.get_by_role("navigation", name="Columns")).to_be_visible()
    expect(phone.get_by_role("list", name="New cards").locator(".card").first).to_be_visible()
    phone.screenshot(path=target / "board-phone.png", full_page=False)
    phone.goto(f"/leads/{lead_id}")
    expect(phone.get_by_role("region", name="Actions")).to_be_visible()
    phone.screenshot(path=target / "lead-phone.png", full_page=False)

    for name, size in (("board.png", VIEWPORT), ("lead.png", VIEWPORT), ("board-phone.png", PHONE),
                       ("lead-phone.png", PHONE)):
        path = target / name
        assert path.stat().st_size > 10_000, f"{path} is suspiciously small"
        # A phone's screenshot is in device pixels (is_mobile sets a device scale factor).
        width, height = png_size(path)
        assert (width / size["width"], height / size["height"]) in {(1, 1), (2, 2), (3, 3)}, (name, width, height)
