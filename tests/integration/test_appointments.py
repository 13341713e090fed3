"""Appointments from the lead page and the prospect's links: booking, the emails it writes, the
one-click answers (which only a POST gives), the tokens, reminders, and what the team sees."""
import re
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar
from sqlalchemy import func, select

from app.extensions import db
from app.models import Appointment, Lead, Notification, OutboxEmail, TimelineEntry
from app.services import appointments as service, outbox, utcnow
from app.services.appointment_emails import in_zone, link_token


def emails(kind: str | None = None) -> list[OutboxEmail]:
    query = select(OutboxEmail).order_by(OutboxEmail.id)
    if kind:
        query = query.where(OutboxEmail.kind == kind)
    return list(db.session.scalars(query))


def kinds(lead_id: int) -> list[str]:
    return list(db.session.scalars(select(TimelineEntry.kind).where(TimelineEntry.lead_id == lead_id)
                                   .order_by(TimelineEntry.id)))


def ics(email: OutboxEmail) -> Calendar:
    return Calendar.from_ical(email.attachments[0]["content"])


def event(email: OutboxEmail):
    return next(c for c in ics(email).walk("VEVENT"))


def path_of(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def book(member, lead, hours: int = 48, **options) -> Appointment:
    starts = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(hours=hours)
    return service.book_appointment(lead.id, member.id, starts_at=starts, duration_minutes=options.pop("duration", 30),
                                    location=options.pop("location", "https://meet.example.com/abc"),
                                    note=options.pop("note", "We'll walk through pricing."), **options)


@pytest.fixture
def lena(make_lead, member):
    return make_lead(first_name="Lena", last_name="Lindqvist", email="lena@example.com", company="Acme",
                     owner=member)


# --- booking from the lead page -----------------------------------------------------------------


def test_booking_from_the_lead_page_reads_the_time_in_the_members_timezone_and_invites_the_prospect(
        as_member, member, lena, stages):
    from app.services.team_settings import set_user_timezone
    set_user_timezone(member.id, "America/New_York")
    day = date.today() + timedelta(days=3)
    response = as_member.post(f"/leads/{lena.id}/appointments", {
        "date": day.isoformat(), "time": "14:30", "duration": "45", "location": "Zoom: https://zoom.example/j/1",
        "note": "Bring the numbers", "timezone": "Europe/Berlin"})
    assert response.status_code == 302, response.get_data(as_text=True)

    appointment = db.session.scalars(select(Appointment)).one()
    expected = datetime.combine(day, time(14, 30), ZoneInfo("America/New_York")).astimezone(timezone.utc)
    assert appointment.starts_at == expected.replace(tzinfo=None)
    assert (appointment.duration_minutes, appointment.timezone, appointment.status) == (45, "Europe/Berlin", "awaiting")
    lead = db.session.get(Lead, lena.id)
    assert lead.stage.name == "Appointment set" and lead.appointment_status == "awaiting"
    assert kinds(lena.id)[-2:] == ["appointment_booked", "stage_changed"]

    invite = emails("appointment_invite")
    assert len(invite) == 1 and invite[0].to_address == "lena@example.com" and invite[0].state == "queued"
    berlin = expected.astimezone(ZoneInfo("Europe/Berlin"))
    assert f"{berlin:%H:%M}" in invite[0].text_body and "Central European Time (Berlin)" in invite[0].subject
    vevent = event(invite[0])
    assert ics(invite[0])["METHOD"] == "REQUEST"
    assert vevent["UID"] == appointment.uid and vevent["SEQUENCE"] == 0
    assert vevent.decoded("DTSTART") == expected and vevent.decoded("DTEND") == expected + timedelta(minutes=45)

    page = as_member.get(f"/leads/{lena.id}").get_data(as_text=True)
    assert "Awaiting answer" in page and "America/New_York" in page


@pytest.mark.parametrize("form, field, message", [
    ({"date": "", "time": "10:00"}, "date", "Pick the day."),
    ({"date": "2020-01-01", "time": "10:00"}, "date", "Pick a time in the future."),
    ({"time": "25:99"}, "time", "Pick the start time"),
    ({"duration": "7"}, "duration", "Not a valid choice."),
    ({"location": "x" * 501}, "location", "Field cannot be longer than 500 characters."),
    ({"timezone": "Mars/Olympus"}, "timezone", "That is not a timezone we know"),
])
def test_a_bad_booking_is_refused_beside_its_field_and_books_nothing(as_member, lena, form, field, message):
    data = {"date": (date.today() + timedelta(days=2)).isoformat(), "time": "10:00", "duration": "30",
            "location": "", "note": "", "timezone": "UTC", **form}
    response = as_member.post(f"/leads/{lena.id}/appointments", data)
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert re.search(rf'id="{field}-error">[^<]*{re.escape(message)}', body), body[body.find("Book an"):][:3000]
    assert db.session.scalar(select(func.count()).select_from(Appointment)) == 0 and emails() == []


def test_a_lead_without_email_gets_its_appointment_but_no_invitation(as_member, member, make_lead):
    lead = make_lead(first_name="Phone", last_name="Only", phone="+14155550123")
    book(member, lead)
    assert emails() == []
    assert db.session.scalars(select(TimelineEntry).where(TimelineEntry.kind == "appointment_booked")
                              ).one().data["invited"] is False


def test_booking_does_not_move_a_lead_back_from_a_later_stage(member, make_lead, stages):
    lead = make_lead(stage="Won", email="won@example.com")
    book(member, lead)
    assert db.session.get(Lead, lead.id).stage_id == stages["Won"].id


def test_rescheduling_raises_the_sequence_keeps_the_uid_and_needs_a_new_confirmation(as_member, member, lena):
    appointment = book(member, lena)
    first_uid = appointment.uid
    service.answer(link_token(appointment, "confirm"), "confirm")
    local = in_zone(appointment.starts_at + timedelta(days=1), "UTC")
    response = as_member.post(f"/leads/{lena.id}/appointments/{appointment.id}/reschedule", {
        f"a{appointment.id}-date": local.date().isoformat(), f"a{appointment.id}-time": f"{local:%H:%M}",
        f"a{appointment.id}-duration": "60", f"a{appointment.id}-location": "Office", f"a{appointment.id}-note": ""})
    assert response.status_code == 302, response.get_data(as_text=True)
    db.session.refresh(appointment)
    assert (appointment.sequence, appointment.status, appointment.uid) == (1, "awaiting", first_uid)
    update = emails("appointment_update")
    assert len(update) == 1 and event(update[0])["SEQUENCE"] == 1 and event(update[0])["LOCATION"] == "Office"
    assert event(update[0]).decoded("DTSTART") == (appointment.starts_at).replace(tzinfo=timezone.utc)


def test_cancelling_sends_a_cancel_invite_and_shows_on_the_board(as_member, member, lena):
    appointment = book(member, lena)
    response = as_member.post(f"/leads/{lena.id}/appointments/{appointment.id}/cancel")
    assert response.status_code == 302
    cancel = emails("appointment_cancel")
    assert len(cancel) == 1
    assert ics(cancel[0])["METHOD"] == "CANCEL" and event(cancel[0])["STATUS"] == "CANCELLED"
    assert event(cancel[0])["SEQUENCE"] == 1 and event(cancel[0])["UID"] == appointment.uid
    board = as_member.get("/board").get_data(as_text=True)
    card = board[board.find(f'id="card-{lena.id}"'):][:2000]
    assert "appt-cancelled" in card and "Cancelled" in card


def test_an_appointment_of_another_lead_is_not_found_through_this_one(as_member, member, lena, make_lead):
    other = make_lead(first_name="Other", email="other@example.com")
    appointment = book(member, other)
    response = as_member.post(f"/leads/{lena.id}/appointments/{appointment.id}/cancel")
    assert response.status_code == 404
    assert db.session.get(Appointment, appointment.id).status == "awaiting"


# --- the prospect's links -----------------------------------------------------------------------


def links_in(email: OutboxEmail) -> dict[str, str]:
    found = dict(re.findall(r"(https?://\S+/appointments/(confirm|cancel|reschedule)/[\w.\-]+)", email.text_body))
    return {action: path_of(url) for url, action in found.items()}


@pytest.fixture
def prospect(app):
    """A stranger's browser: no sign-in; it fetches the page (and its CSRF token) before pressing."""
    client = app.test_client()

    def press(path: str, **form):
        page = client.get(path).get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        return client.post(path, data={"csrf_token": token.group(1) if token else "", **form})
    client.press = press
    return client


def test_opening_a_confirm_link_any_number_of_ways_changes_nothing(app, member, lena, prospect):
    appointment = book(member, lena)
    confirm = links_in(emails("appointment_invite")[0])["confirm"]
    for method in ("get", "head", "get", "options"):
        response = getattr(prospect, method)(confirm)
        assert response.status_code in (200, 204)
    page = prospect.get(confirm).get_data(as_text=True)
    assert "Yes, I&#39;ll be there" in page and "Hi Lena," in page
    assert "Lindqvist" not in page and "lena@example.com" not in page and "Acme" not in page
    db.session.refresh(appointment)
    assert appointment.status == "awaiting" and appointment.responded_at is None
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 0


def test_pressing_confirm_confirms_once_tells_the_owner_and_pressing_again_changes_nothing(
        as_member, member, lena, prospect):
    appointment = book(member, lena)
    confirm = links_in(emails("appointment_invite")[0])["confirm"]
    response = prospect.press(confirm)
    assert response.status_code == 303 and response.headers["Location"].endswith(confirm)
    db.session.refresh(appointment)
    assert appointment.status == "confirmed" and appointment.responded_at is not None
    assert "You&#39;re confirmed" in prospect.get(confirm).get_data(as_text=True)
    assert db.session.get(Lead, lena.id).appointment_status == "confirmed"
    assert kinds(lena.id).count("appointment_confirmed") == 1

    notice = emails("owner_notice")
    assert len(notice) == 1 and notice[0].to_address == member.email and "confirmed" in notice[0].subject
    assert db.session.scalars(select(Notification.message)).one().startswith("Lena Lindqvist confirmed")
    nav = as_member.get("/board").get_data(as_text=True)
    assert re.search(r'id="bell-count"[^>]*><span class="nav-count" data-unread="1">1<', nav)
    assert "Lena Lindqvist confirmed" in as_member.get("/notifications").get_data(as_text=True)

    prospect.press(confirm)  # replayed
    assert kinds(lena.id).count("appointment_confirmed") == 1 and len(emails("owner_notice")) == 1

    as_member.post("/notifications/read")
    assert db.session.scalars(select(Notification.read_at)).one() is not None


def test_asking_for_another_time_keeps_the_message_and_cancel_then_blocks_confirming(member, lena, prospect):
    appointment = book(member, lena)
    links = links_in(emails("appointment_invite")[0])
    response = prospect.press(links["reschedule"], message="Mornings next week suit me better")
    assert response.status_code == 303
    db.session.refresh(appointment)
    assert appointment.status == "new_time_requested"
    assert appointment.prospect_message == "Mornings next week suit me better"
    assert "Mornings next week" in emails("owner_notice")[0].text_body

    assert prospect.press(links["cancel"]).status_code == 303
    db.session.refresh(appointment)
    assert appointment.status == "cancelled"
    response = prospect.press(links["confirm"])
    assert response.status_code == 409 and "cancelled" in response.get_data(as_text=True)
    db.session.refresh(appointment)
    assert appointment.status == "cancelled"
    assert prospect.get(links["cancel"]).status_code == 200  # opening it again shows what they did


def test_a_message_that_is_too_long_is_refused_with_what_was_typed(member, lena, prospect):
    book(member, lena)
    response = prospect.press(links_in(emails("appointment_invite")[0])["reschedule"], message="x" * 1001)
    assert response.status_code == 422 and "under 1,000 characters" in response.get_data(as_text=True)
    assert db.session.scalars(select(Appointment.status)).one() == "awaiting"


def test_a_press_without_the_pages_csrf_token_changes_nothing(app, member, lena):
    book(member, lena)
    confirm = links_in(emails("appointment_invite")[0])["confirm"]
    response = app.test_client().post(confirm, data={})
    assert response.status_code == 400 and "Press the button again" in response.get_data(as_text=True)
    assert db.session.scalars(select(Appointment.status)).one() == "awaiting"


def tamper(token: str) -> str:
    body, _, signature = token.rpartition(".")
    return f"{body}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"


def test_tampered_wrong_action_expired_and_replaced_links_get_a_friendly_page_and_change_nothing(
        app, member, lena, prospect):
    appointment = book(member, lena)
    token = link_token(appointment, "confirm")
    cases = {
        f"/appointments/confirm/{tamper(token)}": (404, "not valid"),
        f"/appointments/confirm/not-a-token": (404, "not valid"),
        f"/appointments/cancel/{token}": (404, "not valid"),  # a confirm token on the cancel path
    }
    for path, (status, words) in cases.items():
        for response in (prospect.get(path), prospect.press(path)):
            assert response.status_code == status and words in response.get_data(as_text=True), path
            assert "Traceback" not in response.get_data(as_text=True)

    service.reschedule_appointment(appointment.id, member.id, starts_at=appointment.starts_at + timedelta(hours=1),
                                   duration_minutes=30)
    response = prospect.press(f"/appointments/confirm/{token}")
    assert response.status_code == 409 and "newest email" in response.get_data(as_text=True)

    db.session.refresh(appointment)
    fresh = link_token(appointment, "confirm")
    with pytest.raises(service.LinkExpired):
        service.read_link(fresh, "confirm", now=appointment.ends_at + timedelta(seconds=1))
    assert service.read_link(fresh, "confirm", now=appointment.ends_at - timedelta(seconds=1)).id == appointment.id
    db.session.refresh(appointment)
    assert appointment.status == "awaiting"


def test_an_ended_appointments_link_says_so(app, member, lena, prospect):
    appointment = book(member, lena)
    token = link_token(appointment, "confirm")
    appointment.starts_at = utcnow() - timedelta(hours=2)  # it has been and gone
    db.session.commit()
    response = prospect.get(f"/appointments/confirm/{token}")
    assert response.status_code == 410 and "already ended" in response.get_data(as_text=True)


# --- reminders --------------------------------------------------------------------------------


def test_a_reminder_goes_out_once_24_hours_before_a_confirmed_appointment(member, lena):
    appointment = book(member, lena, hours=72)
    service.answer(link_token(appointment, "confirm"), "confirm")
    db.session.refresh(appointment)
    assert service.queue_due_reminders(now=appointment.starts_at - timedelta(hours=25)) == 0
    assert service.queue_due_reminders(now=appointment.starts_at - timedelta(hours=23)) == 1
    assert service.queue_due_reminders(now=appointment.starts_at - timedelta(hours=22)) == 0
    reminder = emails("appointment_reminder")
    assert len(reminder) == 1 and reminder[0].subject.startswith("Reminder:") and not reminder[0].attachments


def test_no_reminder_for_a_cancelled_appointment_and_a_queued_one_is_withdrawn(member, lena, make_lead):
    appointment = book(member, lena, hours=72)
    service.answer(link_token(appointment, "confirm"), "confirm")
    db.session.refresh(appointment)
    service.queue_due_reminders(now=appointment.starts_at - timedelta(hours=23))
    service.cancel_appointment(appointment.id, member.id)
    assert [e.state for e in emails("appointment_reminder")] == ["cancelled"]

    other = make_lead(first_name="Otto", email="otto@example.com")
    second = book(member, other, hours=72)
    service.answer(link_token(second, "confirm"), "confirm")
    service.cancel_appointment(second.id, member.id)
    db.session.refresh(second)
    assert service.queue_due_reminders(now=second.starts_at - timedelta(hours=23)) == 0


def test_a_moved_appointment_gets_its_reminder_for_the_new_time(member, lena):
    appointment = book(member, lena, hours=72)
    service.answer(link_token(appointment, "confirm"), "confirm")
    db.session.refresh(appointment)
    old_start = appointment.starts_at
    service.queue_due_reminders(now=old_start - timedelta(hours=23))
    service.reschedule_appointment(appointment.id, member.id, starts_at=old_start + timedelta(days=2),
                                   duration_minutes=30, now=old_start - timedelta(hours=23))
    assert [e.state for e in emails("appointment_reminder")] == ["cancelled"]
    db.session.refresh(appointment)
    service.answer(link_token(appointment, "confirm"), "confirm", now=old_start - timedelta(hours=22))
    assert service.queue_due_reminders(now=appointment.starts_at - timedelta(hours=23)) == 1


# --- the outbox, for admins ---------------------------------------------------------------------


def test_the_local_outbox_shows_an_email_as_sent_with_its_parts_and_working_links(as_admin, admin, lena):
    book(admin, lena)
    row = emails("appointment_invite")[0]
    assert outbox.deliver(row.id).outcome == "sent"
    db.session.refresh(row)
    assert (row.state, row.transport) == ("sent", "local")
    listing = as_admin.get("/outbox").get_data(as_text=True)
    assert row.subject.split(",")[0] in listing
    # It never left the building: the outbox does not call it sent.
    assert "Kept here (no SMTP configured)" in listing and ">Sent<" not in listing
    page = as_admin.get(f"/outbox/{row.id}").get_data(as_text=True)
    assert "Kept here (no SMTP configured)" in page
    row.transport = "smtp"  # as if a relay had taken it
    db.session.commit()
    assert ">Sent<" in as_admin.get(f"/outbox/{row.id}").get_data(as_text=True)
    assert "Message-Id" in page or "Message-ID" in page
    assert "invite.ics" in page and "/appointments/confirm/" in page
    html = as_admin.get(f"/outbox/{row.id}/html")
    assert "sandbox" in html.headers["Content-Security-Policy"]
    assert '<base target="_blank">' in html.get_data(as_text=True)
    attachment = as_admin.get(f"/outbox/{row.id}/attachments/0")
    assert attachment.headers["Content-Type"].startswith("text/calendar")
    assert Calendar.from_ical(attachment.get_data(as_text=True))["METHOD"] == "REQUEST"
    assert outbox.deliver(row.id).outcome == "skipped"  # a second delivery sends nothing


def test_members_cannot_read_the_outbox(as_member, member, lena):
    book(member, lena)
    row = emails()[0]
    for path in ("/outbox", f"/outbox/{row.id}", f"/outbox/{row.id}/html"):
        assert as_member.get(path).status_code == 403
    assert as_member.post(f"/outbox/{row.id}/retry").status_code == 403


def test_an_admin_can_retry_only_a_failed_email(as_admin, admin, lena, app):
    book(admin, lena)
    row = emails()[0]
    response = as_admin.post(f"/outbox/{row.id}/retry")
    assert response.status_code == 400 and "Only an email that failed" in response.get_data(as_text=True)
    assert "Retry" not in as_admin.get(f"/outbox/{row.id}").get_data(as_text=True)
    row.state, row.attempts = "failed", 5
    db.session.commit()
    assert "Retry sending" in as_admin.get(f"/outbox/{row.id}").get_data(as_text=True)
    assert f'/outbox/{row.id}/retry' in as_admin.get("/outbox").get_data(as_text=True)
    as_admin.post(f"/outbox/{row.id}/retry")
    db.session.refresh(row)
    assert (row.state, row.attempts) == ("queued", 0)
    assert kinds(lena.id)[-1] == "email_retried"


def test_team_settings_choose_the_timezone_and_the_booking_stage(as_admin, admin, stages, make_lead):
    response = as_admin.post("/settings/team", {"timezone": "Asia/Tokyo", "appointment_stage": str(stages["Qualified"].id)})
    assert response.status_code == 302
    lead = make_lead(email="t@example.com")
    appointment = book(admin, lead)
    assert appointment.timezone == "Asia/Tokyo"
    assert db.session.get(Lead, lead.id).stage_id == stages["Qualified"].id
    bad = as_admin.post("/settings/team", {"timezone": "Nowhere/Else", "appointment_stage": ""})
    assert bad.status_code == 422 and "not a timezone we know" in bad.get_data(as_text=True)


def test_members_cannot_change_team_settings(as_member):
    assert as_member.post("/settings/team", {"timezone": "UTC", "appointment_stage": ""}).status_code == 403


def test_a_prospect_who_cancels_gets_a_cancellation_for_their_calendar(member, lena, prospect):
    appointment = book(member, lena)
    links = links_in(emails("appointment_invite")[0])
    prospect.press(links["cancel"])
    cancel = emails("appointment_cancel")
    assert len(cancel) == 1 and ics(cancel[0])["METHOD"] == "CANCEL" and event(cancel[0])["SEQUENCE"] == 1
    assert "cancelled" in prospect.get(links["cancel"]).get_data(as_text=True)
    prospect.press(links["cancel"])  # again: nothing more is sent
    assert len(emails("appointment_cancel")) == 1 and len(emails("owner_notice")) == 1


def test_the_sweeper_fails_a_row_whose_every_attempt_killed_its_worker(app, member, lena):
    book(member, lena)
    row = emails("appointment_invite")[0]
    limit = len(app.config["EMAIL_RETRY_DELAYS"]) + 1
    row.state, row.attempts, row.lease_until = "sending", limit, utcnow() - timedelta(seconds=1)
    db.session.commit()
    outbox.sweep()
    db.session.refresh(row)
    assert row.state == "failed" and "worker stopping" in row.last_error
    assert kinds(lena.id)[-1] == "email_failed"


def test_appointment_links_are_rate_limited_per_address(make_app, stages, member, make_lead):
    limited = make_app(RATELIMIT_ENABLED=True)
    with limited.app_context():
        lead = make_lead(first_name="Rita", email="rita@example.com")
        appointment = book(member, lead)
        path = f"/appointments/confirm/{link_token(appointment, 'confirm')}"
        client = limited.test_client()
        answers = [client.get(path).status_code for _ in range(61)]
        assert answers == [200] * 60 + [429]
        refused = client.get(path)
        assert refused.status_code == 429 and "Too many requests" in refused.get_data(as_text=True)
        assert client.get(path, environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 200


# --- what the review found ----------------------------------------------------------------------


def test_pressing_over_https_with_strict_csrf_confirms(make_app, stages, member, make_lead):
    secure = make_app(WTF_CSRF_SSL_STRICT=True)
    with secure.app_context():
        appointment = book(member, make_lead(first_name="Sam", email="sam@example.com"))
        path = f"/appointments/confirm/{link_token(appointment, 'confirm')}"
        client, origin = secure.test_client(), "https://leads.example.com"
        page = client.get(path, base_url=origin)
        # The page's policy lets the browser send our own address back with the press (Flask-WTF's
        # HTTPS check needs it) and never sends the token-bearing address to another site.
        assert page.headers["Referrer-Policy"] == "same-origin"
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
        pressed = client.post(path, data={"csrf_token": token}, base_url=origin, headers={"Referer": origin + path})
        assert pressed.status_code == 303
        db.session.refresh(appointment)
        assert appointment.status == "confirmed"


def test_a_message_over_several_lines_still_makes_a_sendable_notice(member, lena, prospect):
    book(member, lena)
    prospect.press(links_in(emails("appointment_invite")[0])["reschedule"],
                   message="Tuesday works.\r\nOr Wednesday morning.")
    notice = emails("owner_notice")[0]
    assert "\n" not in notice.subject and notice.subject.startswith("Lena Lindqvist asked for another time")
    assert "Or Wednesday morning." in notice.text_body
    assert outbox.build_message(notice)["Subject"] == notice.subject


def test_a_time_the_clocks_skip_is_refused(as_member, member, lena):
    from app.services.team_settings import set_user_timezone
    set_user_timezone(member.id, "America/New_York")
    response = as_member.post(f"/leads/{lena.id}/appointments", {  # DST starts at 02:00 that day
        "date": "2027-03-14", "time": "02:30", "duration": "30", "location": "", "note": "", "timezone": "UTC"})
    assert response.status_code == 422
    assert "02:30 does not exist on 14 March 2027 in America/New_York" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Appointment)) == 0


def test_moving_keeps_a_duration_the_form_does_not_list(as_member, member, lena):
    appointment = book(member, lena, duration=20)
    form = as_member.get(f"/leads/{lena.id}/appointments/{appointment.id}/reschedule", htmx=True).get_data(as_text=True)
    assert re.search(rf'<option selected value="20">20 minutes</option>', form)
    local = in_zone(appointment.starts_at, "UTC")
    response = as_member.post(f"/leads/{lena.id}/appointments/{appointment.id}/reschedule", {
        f"a{appointment.id}-date": local.date().isoformat(), f"a{appointment.id}-time": "09:15",
        f"a{appointment.id}-duration": "20", f"a{appointment.id}-location": "", f"a{appointment.id}-note": ""})
    assert response.status_code == 302
    db.session.refresh(appointment)
    assert (appointment.duration_minutes, f"{appointment.starts_at:%H:%M}") == (20, "09:15")


def test_a_change_withdraws_the_emails_it_makes_out_of_date(member, lena):
    appointment = book(member, lena)  # Redis is away in this test, so the invitation is still queued
    service.reschedule_appointment(appointment.id, member.id, starts_at=appointment.starts_at + timedelta(hours=2),
                                   duration_minutes=30)
    service.cancel_appointment(appointment.id, member.id)
    assert [(e.kind, e.state) for e in emails()] == [
        ("appointment_invite", "cancelled"), ("appointment_update", "cancelled"), ("appointment_cancel", "queued")]


@pytest.fixture
def smtp_app(app, smtp_server):
    app.config["SMTP_URL"] = smtp_server.url
    return app


def test_a_relay_that_refuses_for_good_fails_the_email_at_once(smtp_app, smtp_server, member, lena):
    book(member, lena)
    smtp_server.refuse_with = "550 5.1.1 No such mailbox"
    row = emails()[0]
    assert outbox.deliver(row.id).outcome == "failed"
    db.session.refresh(row)
    assert (row.state, row.attempts) == ("failed", 1) and "No such mailbox" in row.last_error
    # A bad mailbox (5.1.1) is also the lead's address marked undeliverable.
    assert kinds(lena.id)[-2:] == ["email_failed", "email_undeliverable"]


def test_a_password_is_never_sent_to_a_relay_without_tls(smtp_app, smtp_server, member, lena):
    smtp_app.config["SMTP_URL"] = smtp_server.url.replace("smtp://", "smtp://user:secret@")
    book(member, lena)
    row = emails()[0]
    assert outbox.deliver(row.id).outcome == "failed"
    db.session.refresh(row)
    assert "STARTTLS" in row.last_error and smtp_server.attempts == 0


def test_a_name_with_a_comma_and_accents_reaches_one_recipient(smtp_app, smtp_server, member, make_lead):
    lead = make_lead(first_name="Léna", last_name="O'Brien, Jr.", email="lena@example.com")
    book(member, lead)
    assert outbox.deliver(emails()[0].id).outcome == "sent"
    received = smtp_server.wait_for(1)[0]
    assert [(a.display_name, a.addr_spec) for a in received["To"].addresses] == [("Léna O'Brien, Jr.",
                                                                                 "lena@example.com")]


def test_an_answer_on_a_pool_lead_booked_through_the_api_reaches_the_admins(admin, make_user, make_lead):
    other_admin = make_user("admin", name="Bea Boss", email="bea@example.com")
    lead = make_lead(first_name="Pool", email="pool@example.com")  # no owner
    appointment = service.book_appointment(lead.id, None, starts_at=datetime.now(timezone.utc) + timedelta(days=1),
                                           duration_minutes=30)  # as the API books: no one
    service.answer(link_token(appointment, "confirm"), "confirm")
    assert sorted(e.to_address for e in emails("owner_notice")) == sorted([admin.email, other_admin.email])
    assert sorted(db.session.scalars(select(Notification.user_id))) == sorted([admin.id, other_admin.id])


def test_the_same_booking_sent_twice_is_one_appointment_with_one_invitation(member, lena):
    starts = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(hours=48)

    def booking(at):
        return service.book_appointment(lena.id, member.id, starts_at=at, duration_minutes=30, location="Phone call")
    first = booking(starts)
    again = booking(starts)  # a double click, or a request the browser sent again
    assert again.id == first.id
    assert db.session.scalar(select(func.count(Appointment.id))) == 1
    assert db.session.scalar(select(func.count(OutboxEmail.id))) == 1
    other = booking(starts + timedelta(hours=24))  # another time is another appointment
    assert other.id != first.id and db.session.scalar(select(func.count(Appointment.id))) == 2


def test_two_identical_bookings_at_the_same_moment_make_one_appointment(app, member, lena):
    import threading
    starts = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(hours=30)
    made, errors = [], []
    lead_id, member_id = lena.id, member.id  # read here: the threads have sessions of their own

    def one():
        with app.app_context():
            try:
                made.append(service.book_appointment(lead_id, member_id, starts_at=starts, duration_minutes=30,
                                                     location="Phone call").id)
            except Exception as exc:  # noqa: BLE001 (reported below)
                errors.append(exc)
            finally:
                db.session.remove()
    threads = [threading.Thread(target=one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(set(made)) == 1
    assert db.session.scalar(select(func.count(Appointment.id))) == 1


def test_control_characters_in_a_booking_are_dropped_and_the_location_is_one_line(member, lena):
    appointment = book(member, lena, location="Room\r\n4\x07B,\tfloor 5", note="Bring\x0c the\r\ncontract\x1b")
    assert appointment.location == "Room 4B, floor 5"
    assert appointment.note == "Bring the\ncontract"
    [invite] = db.session.scalars(select(OutboxEmail)).all()
    assert "\x07" not in invite.subject + invite.text_body and "Room 4B, floor 5" in invite.text_body
