"""The automations' second set of actions on both databases: assign by the assignment rules, a task
due in business hours, a template email (from the owner, with the unsubscribe link; never to an
address that refuses our email, nor without consent where the team requires it) and a call to a
registered webhook endpoint (one signed delivery row in the event's transaction)."""
import itertools
from datetime import datetime

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AutomationRun, Lead, OutboxEmail, Task, WebhookDelivery
from app.services import ServiceError, assignment, automations, email_templates, sla, webhooks
from app.services.automations import AutomationInput
from app.services.webhooks import EndpointInput
from tests.webhook_receiver import Receiver


NAMES = itertools.count(1)  # automations need names of their own


def make(admin, actions: list[dict], *, trigger: str = "lead_captured", name: str | None = None):
    return automations.save(None, AutomationInput(name=name or f"Rule {next(NAMES)}", trigger=trigger,
                                                  trigger_options={}, actions=actions),
                            admin.id)


def runs(automation_id: int) -> list[tuple[str, str]]:
    db.session.expire_all()
    return [(r.status, r.detail) for r in db.session.scalars(
        select(AutomationRun).where(AutomationRun.automation_id == automation_id).order_by(AutomationRun.id))]


@pytest.fixture
def template(app):
    made = email_templates.create_template(email_templates.TemplateSettings(
        name="Welcome", subject="Welcome, {{ lead.first_name }}", body_html="<p>Hi {{ lead.first_name }}</p>"))
    db.session.commit()
    return made


def emails(lead_id: int) -> list[OutboxEmail]:
    return list(db.session.scalars(select(OutboxEmail).where(OutboxEmail.lead_id == lead_id).order_by(OutboxEmail.id)))


# --- a template email -------------------------------------------------------------------------------


def test_a_template_email_goes_from_the_owner_with_the_unsubscribe_link(app, admin, member, make_lead, template):
    rule = make(admin, [{"kind": "send_email", "template": str(template.id)}], name="Welcome new leads")
    lead = make_lead(owner=member, first_name="Ida", email="ida@example.com")
    (row,) = emails(lead.id)
    assert (row.kind, row.to_address, row.subject) == ("automation_email", "ida@example.com", "Welcome, Ida")
    assert row.reply_to == member.email and "Unsubscribe" in row.text_body
    assert row.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert runs(rule.id) == [("ok", "sent the email “Welcome, Ida”")]


def test_no_email_to_an_address_that_refuses_it_nor_without_consent(app, admin, member, make_lead, template):
    from app.services import team_settings
    from app.services.suppression import suppress
    rule = make(admin, [{"kind": "send_email", "template": str(template.id)}])
    nobody = make_lead(owner=member, email=None, phone="+14155550100")
    suppress("gone@example.com", "unsubscribed")
    db.session.commit()
    gone = make_lead(owner=member, email="gone@example.com")
    team_settings.save("UTC", None, sequences_need_consent=True)
    unconsented = make_lead(owner=member, email="new@example.com")
    assert [emails(lead.id) for lead in (nobody, unconsented)] == [[], []]
    assert [r.state for r in emails(gone.id) if r.state != "suppressed"] == []  # never sent
    details = [detail for _, detail in runs(rule.id)]
    assert [status for status, _ in runs(rule.id)] == ["failed"] * 3
    assert "no email address" in details[0] and "suppression list" in details[1] and "agreed" in details[2], details


def test_a_template_that_is_not_there_is_refused_beside_the_control_and_flagged(app, admin, template):
    for given in ("", "999999", "not a number"):
        with pytest.raises(ServiceError) as refused:
            make(admin, [{"kind": "send_email", "template": given}])
        assert refused.value.field == "actions-0-template"
    rule = make(admin, [{"kind": "send_email", "template": str(template.id)}])
    db.session.delete(template)  # templates cannot be deleted in the app; a restored backup might lack one
    db.session.commit()
    assert "deleted" in automations.problems(db.session.get(type(rule), rule.id))[0]


# --- a webhook --------------------------------------------------------------------------------------


@pytest.fixture
def receiver(app, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_HTTP", True)  # the test receiver speaks plain http
    server = Receiver()
    yield server
    server.close()


def test_calling_a_webhook_writes_one_delivery_to_that_endpoint_in_the_same_transaction(app, admin, member,
                                                                                      make_lead, receiver):
    endpoint = webhooks.create_endpoint(EndpointInput(receiver.url, ["task.completed"], allow_private=True), admin.id)
    other = webhooks.create_endpoint(EndpointInput(receiver.url + "other", ["task.completed"], allow_private=True),
                                     admin.id)
    rule = make(admin, [{"kind": "call_webhook", "endpoint": str(endpoint.id)}], name="Tell the CRM")
    lead = make_lead(owner=member)
    (delivery,) = db.session.scalars(select(WebhookDelivery).where(WebhookDelivery.lead_id == lead.id))
    assert (delivery.endpoint_id, delivery.event) == (endpoint.id, "automation.called")
    assert delivery.data == {"automation": {"id": rule.id, "name": "Tell the CRM"}}
    assert other.id != endpoint.id and runs(rule.id) == [("ok", f"called the webhook “{receiver.url}”")]
    body = webhooks.build_body(delivery)
    assert '"type":"automation.called"' in body and '"name":"Tell the CRM"' in body


def test_a_turned_off_endpoint_is_a_recorded_failure_and_a_private_one_cannot_be_saved(app, admin, member,
                                                                                      make_lead, receiver):
    endpoint = webhooks.create_endpoint(EndpointInput(receiver.url, ["task.completed"], allow_private=True), admin.id)
    rule = make(admin, [{"kind": "call_webhook", "endpoint": str(endpoint.id)}])
    webhooks.update_endpoint(endpoint.id, EndpointInput(receiver.url, ["task.completed"], enabled=False,
                                                        allow_private=True))
    lead = make_lead(owner=member)
    assert db.session.scalars(select(WebhookDelivery).where(WebhookDelivery.lead_id == lead.id)).all() == []
    assert runs(rule.id)[0][0] == "failed" and "turned off" in runs(rule.id)[0][1]
    with pytest.raises(ServiceError):  # the only way to a URL is an endpoint, and a private one is refused
        webhooks.create_endpoint(EndpointInput("http://127.0.0.1:8080/x", ["task.completed"]), admin.id)


# --- assign by the rules, a task in business hours --------------------------------------------------


def test_assign_by_the_rules_routes_a_pool_lead_and_leaves_an_owned_one(app, admin, member, make_lead):
    assignment.save_rule(None, name="Everyone to Max", condition={}, target="person", user_id=member.id)
    rule = make(admin, [{"kind": "assign", "user": "rules"}], trigger="stage_entered")
    pool = make_lead(owner=None, first_name="Pia")
    owned = make_lead(owner=admin, first_name="Olu")
    from app.services import leads, stages
    contacted = next(s for s in stages.pipeline() if s.name == "Contacted")
    leads.move_lead(pool.id, contacted.id, None, None, admin.id)
    leads.move_lead(owned.id, contacted.id, None, None, admin.id)
    db.session.expire_all()
    assert db.session.get(Lead, pool.id).owner_id == member.id
    assert db.session.get(Lead, owned.id).owner_id == admin.id
    details = sorted(detail for _, detail in runs(rule.id))
    assert details == ["assigned the lead to Max Member by the assignment rules",
                       "left the lead with Ada Admin (the rules assign leads in the pool)"]


def test_a_task_due_in_business_hours_skips_the_weekend(app, admin, member, make_lead):
    sla.save_calendar({d: "09:00-17:00" for d in range(5)}, "")
    rule = make(admin, [{"kind": "create_task", "title": "Call", "task_kind": "call", "owner": "",
                         "amount": "2", "unit": "business hours"}])
    action = automations.ACTIONS["create_task"]
    stored = db.session.get(type(rule), rule.id).actions[0]
    assert stored["business"] is True and stored["due_minutes"] == 120
    friday_4pm = datetime(2026, 12, 4, 16, 0)
    assert action.due(stored, friday_4pm) == datetime(2026, 12, 7, 10, 0)  # one hour Friday, one Monday
    assert action.describe(stored) == "Create the call task “Call” for the lead's owner, due 2 business hours later"
    lead = make_lead(owner=member)
    task = db.session.scalar(select(Task).where(Task.lead_id == lead.id))
    assert task is not None and task.title == "Call"
    assert automations.as_rows(db.session.get(type(rule), rule.id))[0]["unit"] == "business hours"


def test_a_wait_is_clock_time_only(app, admin):
    with pytest.raises(ServiceError) as refused:
        make(admin, [{"kind": "wait", "amount": "2", "unit": "business hours"},
                     {"kind": "add_tag", "tag": "x"}])
    assert refused.value.field == "actions-0-amount" and "task" in refused.value.message


# --- the builder ------------------------------------------------------------------------------------


def builder_form(**fields) -> dict:
    data = {"name": "Welcome", "trigger": "lead_captured", "match": "all", "active": "y", "op": "save"}
    data.update(fields)
    return data


def test_the_builder_offers_templates_endpoints_the_rules_and_business_hours(as_admin, template):
    page = as_admin.post("/settings/automations", builder_form(**{
        "actions-0-kind": "send_email", "op": "refresh"}), htmx=True).get_data(as_text=True)
    assert 'id="actions-0-template"' in page and f'value="{template.id}">Welcome<' in page
    page = as_admin.post("/settings/automations", builder_form(**{"actions-0-kind": "call_webhook", "op": "refresh"}),
                         htmx=True).get_data(as_text=True)
    assert "No endpoints yet: add one in Settings → Webhooks" in page
    page = as_admin.post("/settings/automations", builder_form(**{"actions-0-kind": "create_task", "op": "refresh"}),
                         htmx=True).get_data(as_text=True)
    assert ">business hours<" in page
    page = as_admin.post("/settings/automations", builder_form(**{"actions-0-kind": "wait", "op": "refresh"}),
                         htmx=True).get_data(as_text=True)
    assert ">business hours<" not in page
    page = as_admin.post("/settings/automations", builder_form(**{"actions-0-kind": "assign", "op": "refresh"}),
                         htmx=True).get_data(as_text=True)
    assert 'value="rules">By the assignment rules<' in page


def test_the_builder_saves_a_template_email_and_refuses_a_missing_one_beside_it(as_admin, template):
    refused = as_admin.post("/settings/automations", builder_form(**{"actions-0-kind": "send_email",
                                                                     "actions-0-template": ""}), htmx=True)
    assert refused.status_code == 422 and 'id="actions-0-template-error">Choose an email template.<' in refused.text
    saved = as_admin.post("/settings/automations", builder_form(**{"actions-0-kind": "send_email",
                                                                   "actions-0-template": str(template.id)}), htmx=True)
    assert saved.status_code == 204
    from app.models import Automation
    assert db.session.scalars(select(Automation)).one().actions == [{"kind": "send_email", "template_id": template.id}]


def test_a_dry_run_says_it_would_email_and_call_but_writes_neither(app, admin, member, make_lead, template, receiver):
    endpoint = webhooks.create_endpoint(EndpointInput(receiver.url, ["task.completed"], allow_private=True), admin.id)
    lead = make_lead(owner=member, first_name="Ida", email="ida@example.com")
    rule = make(admin, [{"kind": "send_email", "template": str(template.id)},
                        {"kind": "call_webhook", "endpoint": str(endpoint.id)}])
    dry = automations.try_on_lead(rule.id, lead.id)
    assert dry.outcomes == ["sent the email “Welcome, Ida”", f"called the webhook “{receiver.url}”"]
    assert emails(lead.id) == [] and db.session.scalars(select(WebhookDelivery)).all() == []
    assert db.session.info.get(webhooks.PENDING, []) == []
