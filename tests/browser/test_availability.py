"""The availability form, on a desktop and a phone: a member sets their away date and working hours
with the keyboard and labelled controls; a bad day is refused beside it; an admin sees them away."""
import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.browser.conftest import sign_in

WIDTHS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 375, "height": 812}}


def saved_availability(live, user_id):
    from app.extensions import db
    from app.models import User, WorkingHours
    with live.db():
        user = db.session.get(User, user_id)
        hours = db.session.execute(select(WorkingHours.weekday, WorkingHours.starts_at, WorkingHours.ends_at)
                                   .where(WorkingHours.user_id == user_id).order_by(WorkingHours.weekday)).all()
        return user.away_until, [(d, s.strftime("%H:%M"), e.strftime("%H:%M")) for d, s, e in hours]


@pytest.mark.parametrize("width", WIDTHS)
def test_a_member_sets_availability_and_a_bad_day_is_refused_beside_it(new_page, seeded, width):
    page = new_page(viewport=WIDTHS[width], is_mobile=width == "phone", has_touch=width == "phone")
    sign_in(page, seeded.member)
    page.goto("/account")
    form = page.locator("#availability-form")
    expect(form.get_by_role("heading", name="Availability")).to_be_visible()

    # Half a day: refused beside Tuesday, nothing saved, focusable fields still there.
    form.get_by_label("Tuesday from").fill("09:00")
    with page.expect_response(re.compile(r"/account/availability$")) as reply:
        form.get_by_role("button", name="Save availability").click()
    assert reply.value.status == 422
    tuesday = page.locator("#availability-form").get_by_label("Tuesday from")
    expect(tuesday).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#day1_start-error")).to_have_text("Give Tuesday both a start and an end time, or neither.")
    assert saved_availability(seeded.live, seeded.member.id) == (None, [])

    # Fixed: Tuesday 09:00-17:00, a Friday night shift, away until a day far ahead; saved with Enter.
    form = page.locator("#availability-form")
    form.get_by_label("Tuesday to").fill("17:00")
    form.get_by_label("Friday from").fill("22:00")
    form.get_by_label("Friday to").fill("06:00")
    form.get_by_label("Away until (last day away)").fill("2099-12-12")
    form.get_by_label("Friday to").press("Enter")
    expect(page.get_by_text("Saved your availability.")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/account$"))
    away, hours = saved_availability(seeded.live, seeded.member.id)
    assert str(away) == "2099-12-12" and hours == [(1, "09:00", "17:00"), (4, "22:00", "06:00")]
    expect(page.locator("#availability-form").get_by_label("Friday to")).to_have_value("06:00")

    page.wait_for_load_state("load")
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTHS[width]["width"] + 1


@pytest.mark.parametrize("width", WIDTHS)
def test_an_admin_sees_who_is_away_and_edits_their_availability(new_page, seeded, width):
    from app.services.availability import set_availability
    from datetime import date
    with seeded.live.db():
        set_availability(seeded.member.id, date(2099, 12, 12), {})
    page = new_page(viewport=WIDTHS[width], is_mobile=width == "phone", has_touch=width == "phone")
    sign_in(page, seeded.admin)
    page.goto("/settings/users")
    row = page.get_by_role("row").filter(has_text="Max Member")
    expect(row).to_contain_text("Away until 12 Dec 2099")
    row.get_by_role("link", name="Availability of Max Member").click()
    expect(page.get_by_role("heading", name="Max Member's availability", level=1)).to_be_visible()
    page.get_by_label("Away until (last day away)").fill("")
    page.get_by_role("button", name="Save availability").click()
    expect(page).to_have_url(re.compile(r"/settings/users$"))
    expect(page.get_by_role("row").filter(has_text="Max Member")).not_to_contain_text("Away until")
    assert saved_availability(seeded.live, seeded.member.id) == (None, [])
    page.wait_for_load_state("load")
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTHS[width]["width"] + 1
