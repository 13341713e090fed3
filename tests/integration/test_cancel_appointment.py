"""Cancelling an appointment from the lead page asks first and can carry a message (issue 9, section 6)."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Appointment, OutboxEmail
from app.services import appointments as service


def cancel_emails() -> list[OutboxEmail]:
    return list(db.session.scalars(select(OutboxEmail).where(OutboxEmail.kind == "appointment_cancel")))


@pytest.fixture
def lena(make_lead, member):
    return make_lead(first_name="Lena", last_name="Lindqvist", email="lena@example.com", owner=member)


@pytest.fixture
def appointment(member, lena) -> Appointment:
    starts = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(hours=48)
    return service.book_appointment(lena.id, member.id, starts_at=starts, duration_minutes=30,
                                    note="We'll walk through pricing.")


def status_of(appointment_id: int) -> str:
    return db.session.get(Appointment, appointment_id, populate_existing=True).status


def test_the_cancel_button_asks_first_and_changes_nothing(as_member, lena, appointment):
    page = as_member.get(f"/leads/{lena.id}").get_data(as_text=True)
    assert f'hx-get="/leads/{lena.id}/appointments/{appointment.id}/cancel"' in page

    step = as_member.get(f"/leads/{lena.id}/appointments/{appointment.id}/cancel", htmx=True).get_data(as_text=True)

    assert "<html" not in step and f'id="cancel-appointment-{appointment.id}"' in step
    assert "Cancel the appointment on" in step and "Yes, cancel it" in step
    assert "Message for the prospect (optional)" in step
    assert status_of(appointment.id) != "cancelled"
    assert cancel_emails() == []

    kept = as_member.get(f"/leads/{lena.id}/appointments/{appointment.id}/cancel?keep=1", htmx=True)
    assert "Cancel appointment" in kept.get_data(as_text=True) and "Yes, cancel it" not in kept.get_data(as_text=True)


def test_without_javascript_the_confirm_step_is_on_the_lead_page(as_member, lena, appointment):
    page = as_member.get(f"/leads/{lena.id}/appointments/{appointment.id}/cancel").get_data(as_text=True)
    assert "<html" in page and "Yes, cancel it" in page and status_of(appointment.id) != "cancelled"


def test_the_message_for_the_prospect_lands_in_the_cancellation_emails_text_and_html(as_member, lena, appointment):
    message = "Sorry, I'm ill that day. I'll send <new> times tomorrow."
    response = as_member.post(f"/leads/{lena.id}/appointments/{appointment.id}/cancel",
                              data={f"c{appointment.id}-message": message})

    assert response.status_code == 302
    assert status_of(appointment.id) == "cancelled"
    [email] = cancel_emails()
    assert message in email.text_body
    assert "Sorry, I&#39;m ill that day. I&#39;ll send &lt;new&gt; times tomorrow." in email.html_body
    assert "with your message" in as_member.get(f"/leads/{lena.id}").get_data(as_text=True)


def test_cancelling_without_a_message_sends_the_plain_cancellation(as_member, lena, appointment):
    as_member.post(f"/leads/{lena.id}/appointments/{appointment.id}/cancel")
    [email] = cancel_emails()
    assert "This appointment has been cancelled" in email.text_body
    assert "ill that day" not in email.text_body


def test_a_message_too_long_is_refused_beside_the_field_and_nothing_is_cancelled(as_member, lena, appointment):
    response = as_member.post(f"/leads/{lena.id}/appointments/{appointment.id}/cancel",
                              data={f"c{appointment.id}-message": "x" * 1001})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert f'id="c{appointment.id}-message-error"' in body
    assert status_of(appointment.id) != "cancelled" and cancel_emails() == []
