"""The automations' further triggers on both databases: a lead captured one way in (a form, the API,
an import, by hand), a custom field changed (by key, through a rename), an appointment booked, and
a prospect asking for another time."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Task
from app.services import ServiceError, appointments, automations, leads
from app.services import custom_fields as cf
from app.services.appointment_emails import link_token
from app.services.automations import AutomationInput
from app.services.capture import capture_lead
from app.services.custom_fields import FieldSettings


def make(admin, trigger: str, title: str, options: dict | None = None):
    return automations.save(None, AutomationInput(
        name=title, trigger=trigger, trigger_options=options or {},
        actions=[{"kind": "create_task", "title": title, "task_kind": "call", "owner": "", "amount": "0",
                  "unit": "minutes"}]), admin.id)


def titles(lead_id: int) -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(select(Task.title).where(Task.lead_id == lead_id).order_by(Task.id)))


def test_a_capture_trigger_can_ask_for_one_way_in(app, admin, member, stages):
    make(admin, "lead_captured", "From the API", {"form_id": "way:api"})
    make(admin, "lead_captured", "By hand", {"form_id": "way:hand"})
    by_api = capture_lead({"first_name": "Api", "email": "api@example.com"}, via="API key Zapier", owner_id=member.id)
    by_hand = capture_lead({"first_name": "Hand", "email": "hand@example.com"}, via="manual entry",
                           actor_id=member.id, owner_id=member.id)
    assert titles(by_api.lead.id) == ["From the API"] and titles(by_hand.lead.id) == ["By hand"]
    described = sorted(automations.describe_trigger(rule) for rule in automations.automations())
    assert described == ["A lead is captured by hand", "A lead is captured through the API"]
    with pytest.raises(ServiceError) as refused:
        make(admin, "lead_captured", "x", {"form_id": "way:telepathy"})
    assert refused.value.field == "trigger_form"


def test_an_import_fires_the_import_way_in(app, admin, member, stages):
    from app.services.imports import VIA
    make(admin, "lead_captured", "Imported", {"form_id": "way:import"})
    make(admin, "lead_captured", "From a form", {"form_id": "way:form"})
    imported = capture_lead({"first_name": "Imp", "email": "imp@example.com"}, via=VIA, actor_id=admin.id,
                            owner_id=member.id)
    assert titles(imported.lead.id) == ["Imported"]
    assert [leads.way_in(v) for v in ("web form Contact us", "API key Zapier", VIA, "manual entry")] == [
        "form", "api", "import", "hand"]


def test_a_custom_field_change_fires_by_key_even_after_a_rename(app, admin, member, make_lead):
    budget = cf.create_field(FieldSettings("Budget", key="budget", kind="number"))
    cf.create_field(FieldSettings("Employees", key="employees", kind="number"))
    db.session.commit()
    rule = make(admin, "field_changed", "Budget changed", {"field": "custom:budget"})
    assert automations.describe_trigger(rule) == "A lead's “Budget” changes"
    lead = make_lead(owner=member)
    leads.change_lead(lead.id, {"custom_fields": {"employees": "40"}}, member.id)
    assert titles(lead.id) == []
    leads.change_lead(lead.id, {"custom_fields": {"budget": "5000"}}, member.id)
    assert titles(lead.id) == ["Budget changed"]
    cf.update_field(budget.id, FieldSettings("Annual budget", key="budget", kind="number"), admin.id)
    db.session.commit()
    leads.change_lead(lead.id, {"custom_fields": {"budget": "9000"}}, member.id)
    assert titles(lead.id) == ["Budget changed", "Budget changed"]
    with pytest.raises(ServiceError) as refused:
        make(admin, "field_changed", "x", {"field": "custom:no_such_field"})
    assert refused.value.field == "trigger_field"


def test_booking_and_asking_for_another_time_fire(app, admin, member, make_lead):
    make(admin, "appointment_booked", "Prepare the call")
    make(admin, "new_time_asked", "Offer new times")
    lead = make_lead(owner=member, email="lena@example.com")
    starts = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=2)
    booked = appointments.book_appointment(lead.id, member.id, starts_at=starts, duration_minutes=30,
                                           location="Phone", note="")
    assert titles(lead.id) == ["Prepare the call"]
    appointments.answer(link_token(booked, "reschedule"), "reschedule", "Thursday works better")
    assert titles(lead.id) == ["Prepare the call", "Offer new times"]


def test_the_builder_lists_the_ways_in_and_custom_fields(as_admin):
    cf.create_field(FieldSettings("Budget", key="budget", kind="number"))
    db.session.commit()
    page = as_admin.post("/settings/automations", {"name": "x", "trigger": "lead_captured", "op": "refresh"},
                         htmx=True).text
    assert 'value="way:import">By an import<' in page
    page = as_admin.post("/settings/automations", {"name": "x", "trigger": "field_changed", "op": "refresh"},
                         htmx=True).text
    assert 'value="custom:budget">Budget (custom field)<' in page
