"""Two people editing one lead: the second is told, sees the saved values, and keeps what they typed
in the message; saving again can never silently undo the first person's change."""
from __future__ import annotations

import re

import pytest

from app.extensions import db
from app.models import Lead, TimelineEntry
from sqlalchemy import select


def edit_form(lead, **changes) -> dict:
    values = {"first_name": lead.first_name, "last_name": lead.last_name, "email": lead.email or "",
              "phone": lead.phone or "", "company": lead.company or "", "job_title": lead.job_title or "",
              "source": lead.source or "", "value": "", "version": lead.version}
    return {**values, **changes}


def saved(lead_id: int) -> Lead:
    db.session.expire_all()
    return db.session.get(Lead, lead_id)


def test_a_conflicting_save_shows_the_saved_values_and_what_was_typed(as_member, make_lead):
    lead = make_lead(first_name="Grace", last_name="Hopper", job_title="Buyer", company="Navy")
    stale = edit_form(lead)
    first = as_member.post(f"/leads/{lead.id}/edit", edit_form(lead, job_title="VP Purchasing"))
    assert first.status_code == 302

    second = as_member.post(f"/leads/{lead.id}/edit", {**stale, "company": "Remington Rand"}, htmx=True)

    body = second.get_data(as_text=True)
    assert second.status_code == 422 and "<html" not in body
    assert "Someone else edited this lead" in body and "What you had typed: Company: Remington Rand" in body
    assert re.search(r'name="job_title"[^>]*value="VP Purchasing"', body)  # their change is on the form
    assert re.search(r'name="company"[^>]*value="Navy"', body)
    assert f'value="{saved(lead.id).version}"' in body  # the form now carries the current version
    assert (saved(lead.id).job_title, saved(lead.id).company) == ("VP Purchasing", "Navy")


def test_saving_the_redrawn_form_keeps_the_first_persons_change(as_member, make_lead):
    lead = make_lead(first_name="Grace", last_name="Hopper", job_title="Buyer", company="Navy")
    stale = edit_form(lead)
    as_member.post(f"/leads/{lead.id}/edit", edit_form(lead, job_title="VP Purchasing"))
    as_member.post(f"/leads/{lead.id}/edit", {**stale, "company": "Remington Rand"})
    current = saved(lead.id)
    # The person re-applies their change on the redrawn form (current values, current version).
    again = as_member.post(f"/leads/{lead.id}/edit", edit_form(current, company="Remington Rand"))
    assert again.status_code == 302
    assert (saved(lead.id).job_title, saved(lead.id).company) == ("VP Purchasing", "Remington Rand")


@pytest.mark.parametrize("version", [None, "", "abc", "²", "99999999999999999999999"])
def test_an_edit_without_a_usable_version_saves_nothing(as_member, make_lead, version):
    lead = make_lead(first_name="Grace", job_title="Buyer")
    data = edit_form(lead, job_title="Overwritten")
    if version is None:
        del data["version"]
    else:
        data["version"] = version
    response = as_member.post(f"/leads/{lead.id}/edit", data, htmx=True)
    assert response.status_code == 422 and "This form is out of date" in response.get_data(as_text=True)
    assert saved(lead.id).job_title == "Buyer"
    assert db.session.scalars(select(TimelineEntry.kind).where(TimelineEntry.lead_id == lead.id)).all() == ["created"]


@pytest.mark.parametrize("url, data", [
    ("/leads?owner=²", None),
    ("/leads/export.csv?owner=²", None),
    ("/leads/{id}/assign", {"owner": "²"}),
    ("/leads/bulk", {"action": "assign", "owner": "²", "lead_ids": "{id}"}),
    ("/leads/bulk", {"action": "move", "stage": "²", "lead_ids": "{id}"}),
    ("/leads/merge", {"survivor": "{id}", "loser": "{id}", "survivor_version": "²"}),
])
def test_unicode_digits_are_refused_with_a_message_not_a_500(as_member, make_lead, url, data):
    lead = make_lead(first_name="Ada")
    url = url.replace("{id}", str(lead.id))
    if data is None:
        response = as_member.get(url)
    else:
        response = as_member.post(url, {k: v.replace("{id}", str(lead.id)) for k, v in data.items()})
    assert 400 <= response.status_code < 500 or response.status_code in (200, 302), response.status_code
    assert saved(lead.id).owner_id is None and saved(lead.id).version == lead.version


def test_admin_forms_refuse_unicode_digits_without_a_500(as_admin, stages):
    stage = stages["Contacted"]
    deleted = as_admin.post(f"/settings/stages/{stage.id}/delete", {"move_to": "²"})
    assert 400 <= deleted.status_code < 500 or deleted.status_code == 302
    created = as_admin.post("/settings/forms", {"name": "Contact", "slug": "contact", "ask_email": "required",
                                                "default_stage_id": "²"})
    assert created.status_code < 500
