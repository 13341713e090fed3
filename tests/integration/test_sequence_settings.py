"""Sequences at /settings/sequences: an admin makes one, adds an email step and a task step with a send
window, starts, pauses and resumes it; each kind of bad input is refused beside its field (422) with
nothing saved; members are refused; the figures shown are the service's."""
from __future__ import annotations

import re
from datetime import datetime

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Sequence, SequenceRule, SequenceStep
from app.services import closing, email_templates, sequences
from app.services.sequences import StepSettings

URL = "/settings/sequences"


@pytest.fixture
def template(app):
    made = email_templates.create_template(email_templates.TemplateSettings(
        name="Check in", subject="Still thinking, {{ lead.first_name }}?", body_html="<p>Hi</p>"))
    db.session.commit()
    return made


def _step(web, sequence_id, **fields):
    data = {"kind": "email", "template_id": "", "task_title": "", "delay_days": "0", "window_start": "",
            "window_end": "", **fields}
    return web.post(f"{URL}/{sequence_id}/steps", data, htmx=True)


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_an_admin_makes_a_sequence_with_two_steps_then_starts_pauses_and_resumes_it(app, as_admin, template):
    page = as_admin.get(URL).get_data(as_text=True)
    assert "No sequences yet" in page and 'href="/settings/templates"' in page

    response = as_admin.post(URL, {"name": "  Warm   up ", "stop_on_other": "y"}, htmx=True)
    sequence = db.session.scalars(select(Sequence)).one()
    assert response.status_code == 204 and response.headers["HX-Redirect"] == f"{URL}/{sequence.id}"
    assert (sequence.name, sequence.stop_on_other, sequence.status) == ("Warm up", True, "draft")

    refused = as_admin.post(f"{URL}/{sequence.id}/start", {}, htmx=True)
    assert refused.status_code == 422 and "Add a step before starting the sequence." in refused.get_data(as_text=True)
    assert "<html" not in refused.get_data(as_text=True)
    db.session.refresh(sequence)
    assert sequence.status == "draft"

    assert _step(as_admin, sequence.id, template_id=str(template.id)).status_code == 204
    assert _step(as_admin, sequence.id, kind="task", task_title="Call them", delay_days="2", business_days="y",
                 window_days=["0", "2", "4"], window_start="09:00", window_end="11:30").status_code == 204
    first, second = sequences.steps(sequence.id)
    assert (first.kind, first.template_id, first.delay_days, first.window_start) == ("email", template.id, 0, None)
    assert (second.kind, second.task_title, second.delay_days, second.business_days) == ("task", "Call them", 2, True)
    assert (second.window_days, second.window_start, second.window_end) == ("024", 9 * 60, 11 * 60 + 30)

    page = as_admin.get(f"{URL}/{sequence.id}").get_data(as_text=True)
    assert "Email: Check in" in page and "Task: Call them" in page
    assert "right away; sent any day." in page  # the email step
    assert "after 2 working days; due Mon, Wed, Fri, 09:00–11:30." in page  # a task is due, not sent

    for action, status in (("start", "active"), ("pause", "paused"), ("start", "active")):
        response = as_admin.post(f"{URL}/{sequence.id}/{action}", {}, htmx=True)
        assert response.status_code == 204
        db.session.refresh(sequence)
        assert sequence.status == status
    listing = as_admin.get(URL).get_data(as_text=True)
    assert "Running" in listing and "Warm up" in listing


def test_an_admin_edits_moves_and_removes_steps_and_renames_the_sequence(app, as_admin, template):
    sequence = sequences.create_sequence("Warm up")
    first = sequences.add_step(sequence.id, StepSettings(template_id=template.id))
    second = sequences.add_step(sequence.id, StepSettings(kind="task", task_title="Call"))
    db.session.commit()
    edit = as_admin.get(f"{URL}/steps/{second.id}/edit").get_data(as_text=True)
    assert 'value="Call"' in edit and 'type="time"' in edit
    response = as_admin.post(f"{URL}/steps/{second.id}/edit", {"kind": "task", "task_title": "Call again",
                                                                "delay_days": "3"}, htmx=True)
    assert response.status_code == 204
    assert as_admin.post(f"{URL}/steps/{second.id}/move", {"direction": "up"}).status_code == 302
    assert [(s.id, s.task_title, s.delay_days) for s in sequences.steps(sequence.id)] == \
        [(second.id, "Call again", 3), (first.id, None, 0)]
    assert "Remove the step" in as_admin.get(f"{URL}/steps/{first.id}/remove").get_data(as_text=True)
    assert as_admin.post(f"{URL}/steps/{first.id}/remove", {}).status_code == 302
    assert [s.id for s in sequences.steps(sequence.id)] == [second.id]

    response = as_admin.post(f"{URL}/{sequence.id}", {"name": "Cool down"}, htmx=True)
    assert response.status_code == 204
    db.session.refresh(sequence)
    assert (sequence.name, sequence.stop_on_other) == ("Cool down", False)


def test_bad_sequence_names_are_refused_beside_the_field_and_nothing_is_saved(app, as_admin):
    sequences.create_sequence("Warm up")
    db.session.commit()
    for name, message in (("   ", "Give the sequence a name."),
                          ("WARM UP", "Another sequence has that name. Pick another.")):
        response = as_admin.post(URL, {"name": name}, htmx=True)
        page = response.get_data(as_text=True)
        assert response.status_code == 422 and "<html" not in page, name
        assert 'id="name-error"' in page and message in page and 'aria-invalid="true"' in page
    assert [s.name for s in db.session.scalars(select(Sequence))] == ["Warm up"]


@pytest.mark.parametrize("fields, field, message", [
    ({"delay_days": "-1"}, "delay_days", "A delay cannot be negative"),
    ({"delay_days": "400"}, "delay_days", "Keep the delay to at most 365 days"),
    ({"delay_days": "abc"}, "delay_days", "Give the delay in whole days"),
    ({"window_start": "11:00", "window_end": "09:00"}, "window_end", "The window must end after it starts"),
    ({"window_start": "09:00"}, "window_end", "Give the window both a start and an end time, or neither."),
    ({"window_end": "11:00"}, "window_start", "Give the window both a start and an end time, or neither."),
    ({"window_start": "9 o'clock", "window_end": "11:00"}, "window_start", "Give a time of day"),
    ({"template_id": ""}, "template_id", "Choose the email template this step sends."),
    ({"window_days": ["0", "7"]}, "window_days", "Pick the weekdays from the list."),
])
def test_bad_step_input_is_refused_beside_its_field_and_nothing_is_saved(app, as_admin, template, fields, field,
                                                                      message):
    sequence = sequences.create_sequence("Warm up")
    db.session.commit()
    response = _step(as_admin, sequence.id, **{"template_id": str(template.id), **fields})
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "<html" not in page and 'id="step-form"' in page
    assert f'id="{field}-error"' in page and message in page
    assert _count(SequenceStep) == 0


def test_enrolment_rules_are_added_refused_beside_their_input_and_removed(app, as_admin):
    sequence = sequences.create_sequence("Not now")
    reason = closing.add_reason("Not now")
    db.session.commit()
    page = as_admin.get(f"{URL}/{sequence.id}").get_data(as_text=True)
    assert f'<option value="{reason.id}">Not now</option>' in page

    refused = as_admin.post(f"{URL}/{sequence.id}/rules", {"when": "source", "source": "  "}, htmx=True)
    assert refused.status_code == 422 and 'id="source-error"' in refused.get_data(as_text=True)
    refused = as_admin.post(f"{URL}/{sequence.id}/rules", {"when": "lost_reason", "lost_reason": ""}, htmx=True)
    assert refused.status_code == 422 and "Choose one of the lost reasons." in refused.get_data(as_text=True)
    assert _count(SequenceRule) == 0

    for data in ({"when": "lost_reason", "lost_reason": str(reason.id)}, {"when": "source", "source": "Webinar"}):
        assert as_admin.post(f"{URL}/{sequence.id}/rules", data, htmx=True).status_code == 204
    assert [(r.kind, r.value) for r in sequences.rules(sequence.id)] == [("lost_reason", str(reason.id)),
                                                                          ("source", "webinar")]
    page = as_admin.get(f"{URL}/{sequence.id}").get_data(as_text=True)
    assert "Lost with the reason “Not now”" in page
    rule = sequences.rules(sequence.id)[0]
    assert as_admin.post(f"{URL}/{sequence.id}/rules/{rule.id}/delete", {}).status_code == 302
    assert [r.kind for r in sequences.rules(sequence.id)] == ["source"]


def test_the_figures_shown_are_the_services(app, as_admin, template, make_lead, member):
    sequence = sequences.create_sequence("Warm up")
    sequences.add_step(sequence.id, StepSettings(template_id=template.id))
    sequences.add_step(sequence.id, StepSettings(template_id=template.id, delay_days=5))
    sequences.start(sequence.id)
    monday = datetime(2026, 12, 7, 8, 0)
    leads = [make_lead(email=f"p{i}@example.com", owner=member) for i in range(5)]
    sequences.enrol_many([lead.id for lead in leads], sequence.id, None, now=monday)
    leads[4].email = None  # its address removed after it joined: its first email is skipped
    db.session.commit()
    sequences.run_due(monday)
    sequences.on_booked(leads[0], monday)
    sequences.on_reply(leads[1], monday)
    db.session.commit()

    figures = sequences.figures(sequence.id)
    assert (figures.enrolled, figures.active, figures.stopped) == (5, 3, {"booked": 1, "replied": 1})
    page = as_admin.get(f"{URL}/{sequence.id}").get_data(as_text=True)
    assert '<tr><th scope="row">Enrolled</th><td class="num">5</td></tr>' in page
    assert '<tr><th scope="row">Active</th><td class="num">3</td></tr>' in page
    assert '<tr><th scope="row">Stopped: an appointment was booked</th><td class="num">1</td></tr>' in page
    assert '<tr><th scope="row">Stopped: the prospect replied</th><td class="num">1</td></tr>' in page
    assert '<tr><th scope="row">Booked after</th><td class="num">1</td></tr>' in page
    assert "<td class=\"num\">4</td><td class=\"num\">1</td>" in page  # step 1: 4 sent, 1 skipped (no email)
    listing = as_admin.get(URL).get_data(as_text=True)
    row = listing[listing.index(f'id="sequence-{sequence.id}"'):]
    # Steps, enrolled, active, finished, stopped, booked after.
    assert re.findall(r'<td class="num"[^>]*>([^<]*)<', row)[:6] == ["2", "5", "3", "0", "2", "1"]

    refused = as_admin.post(f"{URL}/{sequence.id}/delete", {})
    assert refused.status_code == 409 and "its history stays" in refused.get_data(as_text=True)
    assert _count(Sequence) == 1


def test_a_sequence_nobody_joined_can_be_deleted(app, as_admin, template):
    sequence = sequences.create_sequence("Draft")
    sequences.add_step(sequence.id, StepSettings(template_id=template.id))
    db.session.commit()
    assert "Delete the sequence “Draft”?" in as_admin.get(f"{URL}/{sequence.id}/delete").get_data(as_text=True)
    response = as_admin.post(f"{URL}/{sequence.id}/delete", {})
    assert response.status_code == 302 and response.headers["Location"] == URL
    assert (_count(Sequence), _count(SequenceStep)) == (0, 0)


def test_members_cannot_see_or_change_sequences(app, as_member):
    sequence = sequences.create_sequence("Warm up")
    db.session.commit()
    for method, url in (("get", URL), ("get", f"{URL}/{sequence.id}"), ("post", URL),
                        ("post", f"{URL}/{sequence.id}/start")):
        response = getattr(as_member, method)(url, **({"data": {"name": "Mine"}} if method == "post" else {}))
        assert response.status_code == 403, url
        assert "Sequences are for admins" in response.get_data(as_text=True)
    assert [s.name for s in db.session.scalars(select(Sequence))] == ["Warm up"]
