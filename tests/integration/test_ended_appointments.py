"""An appointment that is over cannot be cancelled (the prospect would get a cancellation for a
meeting in the past); it can still be moved, as a missed one is. Upcoming ones are listed soonest first."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Appointment, OutboxEmail
from app.services import utcnow
from app.services.appointments import AppointmentEnded, book_appointment, cancel_appointment


@pytest.fixture
def lena(make_lead):
    return make_lead(first_name="Lena", email="lena@example.com")


def book_at(lead, member, starts: datetime, minutes: int = 30) -> Appointment:
    """Book for the future, then put it at `starts` (booking refuses the past, as it should)."""
    appointment = book_appointment(lead.id, member.id, starts_at=datetime.now().astimezone() + timedelta(days=1),
                                   duration_minutes=minutes)
    appointment.starts_at = starts
    db.session.commit()
    return appointment


def cancellations() -> int:
    return len(db.session.scalars(select(OutboxEmail).where(OutboxEmail.kind == "appointment_cancel")).all())


def test_an_ended_appointment_cannot_be_cancelled_and_nobody_is_emailed(member, lena):
    ended = book_at(lena, member, utcnow() - timedelta(hours=2))
    with pytest.raises(AppointmentEnded):
        cancel_appointment(ended.id, member.id)
    db.session.rollback()
    assert db.session.get(Appointment, ended.id).is_open and cancellations() == 0


def test_one_under_way_can_still_be_cancelled(member, lena):
    running = book_at(lena, member, utcnow() - timedelta(minutes=10), minutes=30)
    assert cancel_appointment(running.id, member.id).status == "cancelled"


def test_the_page_offers_no_cancel_for_an_ended_one_but_still_offers_a_move(as_member, member, lena):
    ended = book_at(lena, member, utcnow() - timedelta(days=1))
    upcoming = book_at(lena, member, utcnow() + timedelta(days=3))
    page = as_member.get(f"/leads/{lena.id}").get_data(as_text=True)
    assert f'id="cancel-appointment-{upcoming.id}"' in page and f'id="cancel-appointment-{ended.id}"' not in page
    assert f"/appointments/{ended.id}/reschedule" in page


def test_posting_a_cancel_for_an_ended_one_says_why_and_sends_nothing(as_member, member, lena):
    ended = book_at(lena, member, utcnow() - timedelta(days=1))
    response = as_member.post(f"/leads/{lena.id}/appointments/{ended.id}/cancel", {f"c{ended.id}-message": ""})
    assert response.status_code == 302
    page = as_member.get(response.headers["Location"]).get_data(as_text=True)
    assert "already ended, so there is nothing to cancel" in page
    assert db.session.get(Appointment, ended.id).is_open and cancellations() == 0


def test_upcoming_appointments_are_listed_soonest_first(as_member, member, lena):
    later = book_at(lena, member, utcnow() + timedelta(days=9))
    sooner = book_at(lena, member, utcnow() + timedelta(days=2))
    page = as_member.get(f"/leads/{lena.id}").get_data(as_text=True)
    assert page.index(f'id="appointment-{sooner.id}"') < page.index(f'id="appointment-{later.id}"')
