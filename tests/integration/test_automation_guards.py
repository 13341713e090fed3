"""Guards found by an attacker, on both databases: one automation per name (a double click makes one),
applying twice acts on each lead once, a chain of automations setting fields writes one "stopped" row
per automation and lead, and the builder says when a part is full instead of answering a bare 400."""
import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Automation, AutomationRun, Task
from app.services import Conflict, automation_backfill, automations, leads
from app.services.automations import AutomationInput

TASK = {"kind": "create_task", "title": "Call", "task_kind": "call", "owner": "", "amount": "0", "unit": "minutes"}


def make(admin, name="Call them", trigger="lead_captured", actions=None, options=None):
    return automations.save(None, AutomationInput(name=name, trigger=trigger, trigger_options=options or {},
                                                  actions=actions or [TASK]), admin.id)


def test_a_second_automation_with_the_same_name_is_refused_beside_the_name(app, admin):
    first = make(admin)
    with pytest.raises(Conflict) as twin:
        make(admin, name="  call THEM ")
    assert twin.value.field == "name" and "already an automation called" in twin.value.message
    automations.save(first.id, AutomationInput(name="Call them", trigger="lead_captured", trigger_options={},
                                               actions=[TASK]), admin.id)  # saving itself again is fine
    assert db.session.scalar(select(func.count()).select_from(Automation)) == 1


def test_applying_again_acts_only_on_leads_no_application_acted_on(app, admin, member, make_lead):
    for n in range(3):
        make_lead(owner=member, first_name=f"L{n}")
    rule = make(admin)
    automation_backfill.run(automation_backfill.start(rule.id, admin.id).id)
    make_lead(owner=member, first_name="Late")  # captured after: the automation ran on it then
    again = automation_backfill.run(automation_backfill.start(rule.id, admin.id).id)
    assert (again.done, again.acted) == (4, 0)
    db.session.expire_all()
    counts = dict(db.session.execute(select(Task.lead_id, func.count()).group_by(Task.lead_id)).all())
    assert sorted(counts.values()) == [1, 1, 1, 1]


def test_automations_setting_fields_for_each_other_write_one_stopped_row_each(app, admin, member, make_lead):
    steps = [{"kind": "set_field", "field": "source", "value": f"s{n}"} for n in range(5)]
    for n in range(3):
        make(admin, name=f"Chain {n}", trigger="field_changed", options={"field": "source"}, actions=steps)
    lead = make_lead(owner=member)
    leads.change_lead(lead.id, {"source": "start"}, member.id)
    db.session.expire_all()
    loops = db.session.scalar(select(func.count()).select_from(AutomationRun).where(AutomationRun.status == "loop"))
    assert 0 < loops <= 3


def test_the_builder_says_a_part_is_full(as_admin):
    data = {"name": "Full", "trigger": "lead_captured", "match": "all", "op": "add_condition"}
    for n in range(automations.MAX_CONDITIONS):
        data.update({f"conditions-{n}-condition_field": "company", f"conditions-{n}-condition_op": "is_not_empty"})
    full = as_admin.post("/settings/automations", data, htmx=True)
    assert full.status_code == 200 and f"Use at most {automations.MAX_CONDITIONS} conditions." in full.text
    data["op"] = "save"
    data.update({"conditions-20-condition_field": "company", "conditions-20-condition_op": "is_not_empty",
                 "actions-0-kind": "add_tag", "actions-0-tag": "x"})
    refused = as_admin.post("/settings/automations", data, htmx=True)
    assert refused.status_code == 422 and f"Use at most {automations.MAX_CONDITIONS} conditions." in refused.text
