"""An appointment's reschedule form is fetched when "Move to another time" opens, not rendered for
every open appointment on every lead page."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from app.extensions import db
from app.models import Appointment
from app.services.appointments import book_appointment, cancel_appointment


@pytest.fixture
def lena(make_lead):
    return make_lead(first_name="Lena", email="lena@example.com")


@pytest.fixture
def booked(lena, member):
    starts = (datetime.now().astimezone() + timedelta(days=4)).replace(hour=14, minute=30, second=0, microsecond=0)
    return book_appointment(lena.id, member.id, starts_at=starts, duration_minutes=45, location="Room 5")


def test_the_lead_page_carries_a_link_to_the_form_not_the_form(as_member, lena, booked):
    page = as_member.get(f"/leads/{lena.id}").get_data(as_text=True)
    step = f"/leads/{lena.id}/appointments/{booked.id}/reschedule"
    assert f'hx-get="{step}"' in page and f'<a href="{step}">Open the form to move it</a>' in page
    assert f'name="a{booked.id}-date"' not in page


def test_opening_it_with_htmx_fetches_the_form_filled_in_with_the_appointment(as_member, lena, booked):
    response = as_member.get(f"/leads/{lena.id}/appointments/{booked.id}/reschedule", htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    assert f'name="a{booked.id}-duration"' in body and 'value="Room 5"' in body
    assert 'value="14:30"' in body  # the member's timezone is the team default here, as the booking was
    assert f'action="/leads/{lena.id}/appointments/{booked.id}/reschedule"' in body


def test_without_javascript_the_link_opens_the_lead_page_with_that_form_open(as_member, lena, booked):
    response = as_member.get(f"/leads/{lena.id}/appointments/{booked.id}/reschedule")
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" in body
    assert '<details class="reschedule" open>' in body and f'name="a{booked.id}-date"' in body


def test_a_closed_appointment_offers_no_form(as_member, member, lena, booked):
    cancel_appointment(booked.id, member.id, message="")
    fragment = as_member.get(f"/leads/{lena.id}/appointments/{booked.id}/reschedule", htmx=True)
    assert fragment.status_code == 409 and fragment.headers["HX-Refresh"] == "true"
    assert "no longer open" in fragment.get_data(as_text=True)
    page = as_member.get(f"/leads/{lena.id}/appointments/{booked.id}/reschedule")
    assert page.status_code == 302 and page.headers["Location"].endswith(f"/leads/{lena.id}#appointments")


def test_another_leads_appointment_is_not_found_through_this_lead(as_member, make_lead, booked):
    other = make_lead(first_name="Otto", email="otto@example.com")
    assert as_member.get(f"/leads/{other.id}/appointments/{booked.id}/reschedule", htmx=True).status_code == 404
    assert db.session.get(Appointment, booked.id).is_open
