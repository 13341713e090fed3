"""The daily digest (issue 12, section 4, optional): each person who chose it gets one email a day
of theirs, at or after 07:00 their time, with overdue tasks and today's appointments."""
from datetime import datetime, timedelta

from sqlalchemy import select

from app.extensions import db
from app.models import OutboxEmail
from app.services import tasks
from app.services.appointments import book_appointment
from app.services.digest import send_digests
from app.services.notifications import set_email_choices
from app.services.team_settings import set_user_timezone

MORNING = datetime(2026, 12, 3, 8, 0)  # 09:00 in Berlin


def digests():
    return list(db.session.scalars(select(OutboxEmail).where(OutboxEmail.subject.like("Your day:%"))
                                   .order_by(OutboxEmail.id)))


def test_a_digest_goes_once_a_day_after_seven_with_overdue_tasks_and_todays_appointments(make_user, make_lead):
    ann = make_user(name="Ann", email="ann@example.com")
    set_user_timezone(ann.id, "Europe/Berlin")
    set_email_choices(ann.id, {"daily_digest"})
    quiet = make_user(email="quiet@example.com")  # did not choose it
    lead = make_lead(owner=ann, first_name="Nora", last_name="Quinn", email="nora@example.com")
    tasks.create_task(lead.id, ann.id, title="Call Nora", kind="call", due_at=MORNING - timedelta(days=1),
                      now=MORNING - timedelta(days=2))
    tasks.create_task(lead.id, quiet.id, title="Not Ann's", due_at=MORNING - timedelta(days=1),
                      now=MORNING - timedelta(days=2))
    book_appointment(lead.id, ann.id, starts_at=MORNING + timedelta(hours=5), duration_minutes=30,
                     now=MORNING - timedelta(days=1))

    assert send_digests(MORNING - timedelta(hours=3)) == 0  # 06:00 in Berlin: too early
    assert send_digests(MORNING) == 1
    assert send_digests(MORNING + timedelta(hours=4)) == 0  # once a day
    [email] = digests()
    assert email.to_address == "ann@example.com"
    assert email.subject == "Your day: 1 overdue task, 1 appointment today"
    assert "Call: Call Nora (Nora Quinn)" in email.text_body and "Not Ann's" not in email.text_body
    assert "with Nora Quinn (Awaiting answer)" in email.text_body and "Europe/Berlin" in email.text_body
    assert send_digests(MORNING + timedelta(days=1)) == 1  # the next day, again (the task is still overdue)


def test_a_day_with_nothing_to_say_sends_nothing(make_user):
    ann = make_user()
    set_email_choices(ann.id, {"daily_digest"})
    assert send_digests(MORNING) == 0 and digests() == []


def test_the_digest_lists_the_persons_leads_whose_first_response_is_overdue(make_user, make_lead):
    ann = make_user(name="Ann", email="ann@example.com")
    set_email_choices(ann.id, {"daily_digest"})
    late = [make_lead(owner=ann, first_name=f"Late{n}") for n in range(2)]
    answered = make_lead(owner=ann, first_name="Answered")
    closed = make_lead(owner=ann, first_name="Closed", stage="Won")
    someone_elses = make_lead(owner=make_user(), first_name="Other")
    for lead in (*late, answered, closed, someone_elses):
        lead.sla_due_at = MORNING - timedelta(hours=2)
    answered.first_response_at = MORNING - timedelta(hours=3)
    db.session.commit()
    assert send_digests(MORNING) == 1
    [email] = digests()
    assert email.subject == "Your day: 2 late first responses"
    assert "First response overdue:" in email.text_body and "First response overdue</h2>" in email.html_body
    listed = [name for name in ("Late0", "Late1", "Answered", "Closed", "Other") if name in email.text_body]
    assert listed == ["Late0", "Late1"]
