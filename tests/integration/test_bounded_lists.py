"""Every list on the lead page and the notifications page is a bounded first page with a "Show older"
link: following the links walks the whole history once, newest first, with no row twice and none
missed, even where rows share a timestamp. A cursor that was tampered with gets the first
page, never a 500. The booking form no longer carries every time zone."""
import re
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Appointment, Note, Notification, TimelineEntry
from app.services import utcnow


def ids(body: str, prefix: str) -> list[int]:
    return [int(n) for n in re.findall(rf'id="{prefix}-(\d+)"', body)]


def older_link(body: str, path: str) -> str | None:
    """The "Show older" link's address (its href, which htmx also gets)."""
    found = re.search(rf'href="([^"]*/{path}\?before=\d+)"', body)
    return found.group(1) if found else None


def walk(web, first_page: str, path: str, prefix: str) -> list[list[int]]:
    """The ids on the first page, then on each page "Show older" loads in place, until it is gone."""
    pages, body = [ids(first_page, prefix)], first_page
    while (link := older_link(body, path)) is not None:
        response = web.get(link, htmx=True)
        body = response.get_data(as_text=True)
        assert response.status_code == 200 and "<html" not in body
        pages.append(ids(body, prefix))
    return pages


def newest_first(model, moment, **where) -> list[int]:
    query = select(model.id).filter_by(**where).order_by(moment.desc(), model.id.desc())
    return list(db.session.scalars(query))


@pytest.fixture
def lena(make_lead, member):
    return make_lead(first_name="Lena", last_name="Lindqvist", email="lena@example.com", owner=member)


def add_notes(lead, author, count: int) -> None:
    """`count` notes, three to a timestamp, so the pages must break ties by id."""
    start = utcnow() - timedelta(days=count)
    db.session.add_all([Note(lead_id=lead.id, author_id=author.id, body=f"Note number {n}",
                             created_at=start + timedelta(minutes=n // 3)) for n in range(count)])
    db.session.commit()


def add_past_appointments(lead, member, count: int) -> None:
    start = utcnow() - timedelta(days=count + 1)
    db.session.add_all([Appointment(lead_id=lead.id, booked_by_id=member.id, uid=f"past-{lead.id}-{n}@test",
                                    sequence=0, starts_at=start + timedelta(days=n // 2), duration_minutes=30,
                                    location=f"Room {n}", note="", timezone="UTC",
                                    status="cancelled" if n % 5 == 0 else "confirmed",
                                    created_at=start, updated_at=start) for n in range(count)])
    db.session.commit()


# --- notes -----------------------------------------------------------------------------------------


def test_the_lead_page_shows_the_newest_notes_and_loads_the_older_ones_once_each(as_member, member, lena):
    add_notes(lena, member, 45)
    page = as_member.get(f"/leads/{lena.id}").get_data(as_text=True)
    pages = walk(as_member, page, "notes", "note")
    assert [len(p) for p in pages] == [20, 20, 5]
    assert sum(pages, []) == newest_first(Note, Note.created_at, lead_id=lena.id)
    assert "Note number 44" in page and "Note number 24" not in page


def test_without_javascript_the_older_notes_open_on_a_page_of_their_own(as_member, member, lena):
    add_notes(lena, member, 25)
    link = older_link(as_member.get(f"/leads/{lena.id}").get_data(as_text=True), "notes")
    response = as_member.get(link)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" in body and "Older notes" in body
    assert ids(body, "note") == newest_first(Note, Note.created_at, lead_id=lena.id)[20:]
    assert older_link(body, "notes") is None and f'href="/leads/{lena.id}"' in body


def test_a_new_note_shows_at_the_top_and_the_list_stays_one_page(as_member, member, lena):
    add_notes(lena, member, 30)
    response = as_member.post(f"/leads/{lena.id}/notes", {"body": "Called back, all good"}, htmx=True)
    body = response.get_data(as_text=True)
    notes = body[body.index('id="notes"'):]
    newest = db.session.scalar(select(Note).where(Note.body == "Called back, all good"))
    assert ids(notes, "note")[0] == newest.id and len(ids(notes, "note")) == 20
    assert older_link(notes, "notes") is not None


@pytest.mark.parametrize("before", ["abc", "-1", "99999999999", "0", "²", "2147483647"])
def test_a_tampered_notes_cursor_starts_from_the_newest(as_member, member, lena, before):
    add_notes(lena, member, 25)
    for htmx in (True, False):
        response = as_member.get(f"/leads/{lena.id}/notes?before={before}", htmx=htmx)
        assert response.status_code == 200
        assert ids(response.get_data(as_text=True), "note") == newest_first(Note, Note.created_at, lead_id=lena.id)[:20]


def test_another_leads_note_as_the_cursor_gets_the_first_page(as_member, member, lena, make_lead):
    other = make_lead(first_name="Otto", last_name="Other")
    add_notes(lena, member, 25)
    add_notes(other, member, 3)
    foreign = newest_first(Note, Note.created_at, lead_id=other.id)[-1]
    body = as_member.get(f"/leads/{lena.id}/notes?before={foreign}", htmx=True).get_data(as_text=True)
    assert ids(body, "note") == newest_first(Note, Note.created_at, lead_id=lena.id)[:20]


# --- the timeline ------------------------------------------------------------------------------


def test_the_timeline_pages_by_time_and_id_with_no_entry_twice(as_member, member, lena):
    moment = utcnow() - timedelta(days=1)
    db.session.add_all([TimelineEntry(lead_id=lena.id, kind="note", actor_id=member.id, data={"body": f"e{n}"},
                                      created_at=moment + timedelta(seconds=n // 4)) for n in range(120)])
    db.session.commit()
    page = as_member.get(f"/leads/{lena.id}").get_data(as_text=True)
    pages = walk(as_member, page, "timeline", "entry")
    assert [len(p) for p in pages] == [50, 50, 21]  # and the "created" entry
    assert sum(pages, []) == newest_first(TimelineEntry, TimelineEntry.created_at, lead_id=lena.id)
    deleted = as_member.get(f"/leads/{lena.id}/timeline?before=2147483600", htmx=True).get_data(as_text=True)
    assert ids(deleted, "entry") == pages[0]


# --- appointments ------------------------------------------------------------------------------


def test_the_panel_shows_upcoming_and_the_latest_past_appointments_then_older_on_demand(
        as_member, member, lena):
    from app.services.appointments import book_appointment
    add_past_appointments(lena, member, 25)
    soon = [book_appointment(lena.id, member.id, starts_at=datetime.now().astimezone() + timedelta(days=d),
                             duration_minutes=30).id for d in (2, 5)]
    page = as_member.get(f"/leads/{lena.id}").get_data(as_text=True)
    pages = walk(as_member, page, "appointments", "appointment")
    assert [len(p) for p in pages] == [12, 10, 5]
    assert pages[0][:2] == soon  # upcoming: the soonest first
    assert soon[::-1] + sum(pages, [])[2:] == newest_first(Appointment, Appointment.starts_at, lead_id=lena.id)
    # A "Move to another time" per open appointment shown (its form is fetched when opened), none for the others.
    shown = db.session.scalars(select(Appointment).where(Appointment.id.in_(pages[0]))).all()
    assert page.count('<details class="reschedule"') == sum(1 for a in shown if a.is_open) < 12
    assert not re.search(r'name="a\d+-date"', page)  # no reschedule form rendered up front


def test_older_appointments_come_with_their_forms_and_moving_one_still_works(as_member, member, lena):
    add_past_appointments(lena, member, 25)
    order = newest_first(Appointment, Appointment.starts_at, lead_id=lena.id)
    oldest, older_open = order[-1], order[-2]  # n == 0 (cancelled) and n == 1 (confirmed)
    page = as_member.get(f"/leads/{lena.id}/appointments?before={order[19]}", htmx=True).get_data(as_text=True)
    assert "<html" not in page and ids(page, "appointment") == order[20:]
    assert f"/appointments/{older_open}/reschedule\"" in page and f"/appointments/{oldest}/reschedule\"" not in page

    refused = as_member.post(f"/leads/{lena.id}/appointments/{older_open}/reschedule",
                             {f"a{older_open}-date": "2020-01-01", f"a{older_open}-time": "10:00",
                              f"a{older_open}-duration": "30"})
    text = refused.get_data(as_text=True)
    assert refused.status_code == 422 and f'id="appointment-{older_open}"' in text
    assert "Pick a time in the future." in text

    day = (date.today() + timedelta(days=3)).isoformat()
    moved = as_member.post(f"/leads/{lena.id}/appointments/{older_open}/reschedule",
                           {f"a{older_open}-date": day, f"a{older_open}-time": "10:00", f"a{older_open}-duration": "30"})
    assert moved.status_code == 302
    assert db.session.get(Appointment, older_open).starts_at.date().isoformat() == day


def test_a_tampered_appointments_cursor_is_refused_or_starts_from_the_latest(as_member, member, lena):
    add_past_appointments(lena, member, 15)
    latest_past = newest_first(Appointment, Appointment.starts_at, lead_id=lena.id)[:10]
    garbage = as_member.get(f"/leads/{lena.id}/appointments?before=x1", htmx=True).get_data(as_text=True)
    assert ids(garbage, "appointment") == latest_past
    body = as_member.get(f"/leads/{lena.id}/appointments?before=2147483000", htmx=True).get_data(as_text=True)
    assert ids(body, "appointment") == latest_past


# --- the time-zone control ------------------------------------------------------------------------


def test_the_lead_page_carries_a_few_time_zones_and_fetches_the_rest_on_demand(as_member, member, lena):
    from app.services.team_settings import set_user_timezone
    set_user_timezone(member.id, "Asia/Kathmandu")
    page = as_member.get(f"/leads/{lena.id}").get_data(as_text=True)
    assert page.count("<option") < 60 and "Pacific/Chatham" not in page
    assert re.search(r'<input[^>]*name="timezone"[^>]*value="Asia/Kathmandu"', page)
    url = re.search(r'hx-get="(/leads/timezones\?v=\w+)"', page).group(1)
    options = as_member.get(url, htmx=True)
    # Every zone people live in today (about 300), without the old aliases such as US/Eastern.
    body = options.get_data(as_text=True)
    assert "Pacific/Chatham" in body and body.count("<option") > 250 and 'value="US/Eastern"' not in body
    assert "max-age=31536000" in options.headers["Cache-Control"]


@pytest.mark.parametrize("zone, expected", [("Pacific/Chatham", "Pacific/Chatham"), ("  America/Boise ", "America/Boise"),
                                            ("", "Asia/Kathmandu")])
def test_booking_takes_any_zone_typed_and_an_empty_one_means_the_members(as_member, member, lena, zone, expected):
    from app.services.team_settings import set_user_timezone
    set_user_timezone(member.id, "Asia/Kathmandu")
    response = as_member.post(f"/leads/{lena.id}/appointments", {
        "date": (date.today() + timedelta(days=4)).isoformat(), "time": "09:00", "duration": "30",
        "location": "", "note": "", "timezone": zone})
    assert response.status_code == 302, response.get_data(as_text=True)
    assert db.session.scalars(select(Appointment.timezone)).one() == expected


def test_a_zone_that_does_not_exist_is_refused_beside_the_field(as_member, lena):
    response = as_member.post(f"/leads/{lena.id}/appointments", {
        "date": (date.today() + timedelta(days=4)).isoformat(), "time": "09:00", "duration": "30",
        "timezone": "Europe/Atlantis"})
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and re.search(r'id="timezone-error">[^<]*not a timezone we know', body)
    assert 'value="Europe/Atlantis"' in body
    assert db.session.scalar(select(func.count()).select_from(Appointment)) == 0


# --- notifications -------------------------------------------------------------------------------


def add_notifications(user, count: int) -> None:
    moment = utcnow() - timedelta(days=1)
    db.session.add_all([Notification(user_id=user.id, message=f"Notice {n}", created_at=moment + timedelta(seconds=n // 2),
                                     read_at=None if n % 3 else moment) for n in range(count)])
    db.session.commit()


def test_notifications_show_the_newest_and_load_the_older_ones_once_each(as_member, member, admin):
    add_notifications(member, 120)
    add_notifications(admin, 5)
    page = as_member.get("/notifications").get_data(as_text=True)
    pages = walk(as_member, page, "notifications", "notification")
    assert [len(p) for p in pages] == [50, 50, 20]
    assert sum(pages, []) == newest_first(Notification, Notification.created_at, user_id=member.id)


@pytest.mark.parametrize("before", ["zz", "99999999999", "2147483647", "other"])
def test_a_tampered_notifications_cursor_starts_from_the_newest(as_member, member, admin, before):
    add_notifications(member, 60)
    add_notifications(admin, 2)
    if before == "other":
        before = newest_first(Notification, Notification.created_at, user_id=admin.id)[0]
    for htmx in (True, False):
        response = as_member.get(f"/notifications?before={before}", htmx=htmx)
        assert response.status_code == 200
        assert ids(response.get_data(as_text=True), "notification") == \
            newest_first(Notification, Notification.created_at, user_id=member.id)[:50]
