"""The automation builder at /settings/automations: admins only, CSRF, audit; building with add,
remove and reorder; refusals beside the control; pause, resume, delete; examples; run history and
the dry run that changes nothing."""
import re

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEntry, Automation, Task
from app.services import atomic, automations, tags
from app.services.automations import AutomationInput


def form(**fields) -> dict:
    data = {"name": "Hot lead follow-up", "trigger": "lead_captured", "match": "all", "active": "y", "op": "save",
            "actions-0-kind": "create_task", "actions-0-title": "Call", "actions-0-task_kind": "call",
            "actions-0-owner": "", "actions-0-amount": "5", "actions-0-unit": "minutes"}
    data.update(fields)
    return {k: v for k, v in data.items() if v is not None}


def selected(html: str, control_id: str) -> str | None:
    """The chosen option of the select with this id."""
    select_html = re.search(rf'<select[^>]*id="{re.escape(control_id)}"[^>]*>(.*?)</select>', html, re.S)
    chosen = select_html and re.search(r'<option[^>]*\bselected\b[^>]*value="([^"]*)"', select_html.group(1))
    return chosen.group(1) if chosen else None


def count() -> int:
    return db.session.scalar(select(func.count()).select_from(Automation))


def error_beside(html: str, control_id: str) -> str:
    found = re.search(rf'id="{re.escape(control_id)}-error">([^<]*)<', html)
    assert found, f"no error beside {control_id}"
    assert re.search(rf'id="{re.escape(control_id)}"[^>]*aria-invalid="true"|aria-invalid="true"[^>]*id="{re.escape(control_id)}"', html)
    return found.group(1)


def test_members_cannot_reach_automations(as_member):
    response = as_member.get("/settings/automations")
    assert response.status_code == 403 and "Automations are for admins" in response.get_data(as_text=True)


def test_an_empty_list_says_what_to_do_and_offers_examples(as_admin):
    page = as_admin.get("/settings/automations").get_data(as_text=True)
    assert "No automations yet" in page and "Hot lead → call task due in 5 minutes" in page


def test_saving_an_automation_stores_it_and_writes_the_audit_log(as_admin, admin):
    response = as_admin.post("/settings/automations", form(**{
        "conditions-0-condition_field": "company", "conditions-0-condition_op": "equals",
        "conditions-0-condition_value": "Acme"}), htmx=True)
    assert response.status_code == 204 and response.headers["HX-Redirect"] == "/settings/automations"
    saved = db.session.scalars(select(Automation)).one()
    assert (saved.name, saved.trigger, saved.active) == ("Hot lead follow-up", "lead_captured", True)
    assert saved.conditions == [{"field": "company", "op": "equals", "value": "Acme"}]
    assert saved.actions == [{"kind": "create_task", "title": "Call", "task_kind": "call", "owner_id": None,
                              "due_minutes": 5}]
    assert db.session.scalars(select(AuditEntry.action).where(AuditEntry.target == "Hot lead follow-up")).all() == [
        "automation.saved"]
    page = as_admin.get("/settings/automations").get_data(as_text=True)
    assert "Create the call task “Call” for the lead&#39;s owner, due 5 minutes later" in page


def test_a_post_without_the_csrf_token_saves_nothing(as_admin):
    response = as_admin.post("/settings/automations", form(), csrf=False)
    assert response.status_code in (400, 422) and count() == 0


@pytest.mark.parametrize("fields, control, message", [
    ({"trigger": ""}, "trigger", "Choose what starts the automation."),
    ({"actions-0-kind": "wait", "actions-0-amount": "0", "actions-0-unit": "days", "actions-1-kind": "add_tag",
      "actions-1-tag": "vip"}, "actions-0-amount", "Enter a wait of at least 1 minute."),
    ({"actions-0-kind": "wait", "actions-0-amount": "2", "actions-0-unit": "days", "actions-1-kind": "add_tag",
      "actions-1-tag": "vip"} | {"actions-0-amount": "400"}, "actions-0-amount", "Enter a wait of at most a year (365 days)."),
    ({"actions-0-kind": "move_stage", "actions-0-stage": "999999"}, "actions-0-stage",
     "That stage was deleted; choose another."),
    ({"actions-0-kind": "assign", "actions-0-user": "999999"}, "actions-0-user",
     "That person was deactivated or removed; choose someone else."),
    ({"actions-0-kind": "enrol", "actions-0-sequence": "999999"}, "actions-0-sequence",
     "That sequence was deleted; choose another."),
    ({"actions-0-kind": "remove_tag", "actions-0-tag": "gone"}, "actions-0-tag", "There is no tag “gone”"),
    ({"conditions-0-condition_field": "custom.deleted", "conditions-0-condition_op": "equals"},
     "conditions-0-condition_field", "That custom field was deleted"),
])
def test_the_builder_refuses_beside_the_control(as_admin, fields, control, message):
    with atomic():
        tags.ensure_tags(["vip"])
    response = as_admin.post("/settings/automations", form(**fields), htmx=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "<html" not in html
    assert message in error_beside(html, control).replace("&#34;", '"').replace("&#39;", "'")
    assert count() == 0


def test_an_automation_without_an_action_is_refused(as_admin):
    fields = form()
    for key in [k for k in fields if k.startswith("actions-")]:
        del fields[key]
    response = as_admin.post("/settings/automations", fields, htmx=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="actions-error">Add at least one action' in html and count() == 0


def test_the_cap_on_automations_is_a_clear_message(as_admin, admin, monkeypatch):
    monkeypatch.setattr(automations, "MAX_AUTOMATIONS", 1)
    assert as_admin.post("/settings/automations", form(), htmx=True).status_code == 204
    response = as_admin.post("/settings/automations", form(name="Second"), htmx=True)
    assert response.status_code == 422 and "A team can have at most 1 automations" in response.get_data(as_text=True)
    assert count() == 1


def test_adding_moving_and_removing_steps_rearranges_the_form_without_saving(as_admin):
    with_two = form(op="add_action")
    html = as_admin.post("/settings/automations", with_two, htmx=True).get_data(as_text=True)
    assert "Step 2" in html and count() == 0
    swapped = form(**{"op": "up-1", "actions-1-kind": "add_tag", "actions-1-tag": "vip"})
    html = as_admin.post("/settings/automations", swapped, htmx=True).get_data(as_text=True)
    assert selected(html, "actions-0-kind") == "add_tag" and selected(html, "actions-1-kind") == "create_task"
    assert 'name="actions-0-tag"' in html and 'value="vip"' in html and 'name="actions-1-title"' in html
    removed = form(**{"op": "remove_action-0"})
    html = as_admin.post("/settings/automations", removed, htmx=True).get_data(as_text=True)
    assert "Step 1" not in html and count() == 0
    with_condition = as_admin.post("/settings/automations", form(op="add_condition"), htmx=True).get_data(as_text=True)
    assert 'name="conditions-0-condition_field"' in with_condition


def test_an_example_fills_the_builder(as_admin):
    page = as_admin.get("/settings/automations/new?example=hot").get_data(as_text=True)
    assert 'value="Hot lead follow-up"' in page and 'value="Call"' in page
    assert selected(page, "conditions-0-condition_field") == "score_band"


def test_pause_resume_and_delete(as_admin, admin):
    rule = automations.save(None, AutomationInput(name="Tidy", trigger="lead_captured", trigger_options={},
                                                  actions=[{"kind": "notify", "people": "owner", "message": "Hi"}]),
                            admin.id)
    rule_id = rule.id
    html = as_admin.post(f"/settings/automations/{rule_id}/pause", htmx=True).get_data(as_text=True)
    assert "Paused" in html and db.session.get(Automation, rule_id).active is False
    as_admin.post(f"/settings/automations/{rule_id}/resume", htmx=True)
    assert db.session.get(Automation, rule_id).active is True
    as_admin.post(f"/settings/automations/{rule_id}/delete", htmx=True)
    assert count() == 0
    assert db.session.scalars(select(AuditEntry.action).where(AuditEntry.target == "Tidy")
                              .order_by(AuditEntry.id)).all() == [
        "automation.saved", "automation.paused", "automation.resumed", "automation.deleted"]
    stale = as_admin.post(f"/settings/automations/{rule_id}/pause", htmx=True)
    assert stale.status_code == 422 and "That automation no longer exists." in stale.get_data(as_text=True)


def test_the_edit_page_shows_history_and_failures_and_the_dry_run_changes_nothing(as_admin, admin, member,
                                                                                   make_lead):
    rule = automations.save(None, AutomationInput(name="Call new leads", trigger="lead_captured", trigger_options={},
                                                  actions=[{"kind": "create_task", "title": "Call", "task_kind": "call",
                                                            "owner": "", "amount": "0", "unit": "minutes"}]), admin.id)
    owned = make_lead(owner=member, first_name="Ida", last_name="Owned", email="ida@example.com")
    make_lead(first_name="Pia", last_name="Pooled", email="pia@example.com")  # in the pool: nobody to own the task
    page = as_admin.get(f"/settings/automations/{rule.id}").get_data(as_text=True)
    assert "Run history" in page and "Pia Pooled" in page and "nobody could own the task" in page
    assert re.search(r"<td>1</td>\s*<td>1</td>", page)  # one ran, one failed today
    tasks_before = db.session.scalar(select(func.count()).select_from(Task))
    tried = as_admin.get(f"/settings/automations/{rule.id}/try?q=Ida&lead={owned.id}", htmx=True).get_data(as_text=True)
    assert "A rehearsal, undone at once, did this:" in tried and "created the task “Call” for Max Member" in tried
    assert db.session.scalar(select(func.count()).select_from(Task)) == tasks_before


# --- the second slice's triggers in the builder -----------------------------------------------------------


def test_choosing_a_time_trigger_shows_its_options_and_what_is_already_past(as_admin, admin, member, make_lead):
    from datetime import timedelta
    from sqlalchemy import update
    from app.models import Lead
    from app.services import utcnow
    quiet = make_lead(owner=member, email="quiet@example.com")
    with atomic():
        db.session.execute(update(Lead).where(Lead.id == quiet.id).values(last_touch_at=utcnow() - timedelta(days=9)))
    html = as_admin.post("/settings/automations", form(op="refresh", trigger="no_activity", trigger_days="7"),
                         htmx=True).get_data(as_text=True)
    assert '<label for="trigger_days">Days without activity</label>' in html and 'id="trigger_days-hint"' in html
    assert "Won and lost leads are left out" in html
    note = re.search(r'id="automation-backlog" role="status">(.*?)</p>', html, re.S).group(1)
    assert "Right now 1 open lead has had no activity for that long already: they are not included" in " ".join(
        note.split())
    assert count() == 0


def test_saving_time_triggers_stores_their_options_and_lists_them_in_words(as_admin):
    response = as_admin.post("/settings/automations", form(trigger="task_overdue", trigger_amount="2",
                                                           trigger_unit="hours"), htmx=True)
    assert response.status_code == 204
    saved = db.session.scalars(select(Automation)).one()
    assert (saved.trigger, saved.trigger_options) == ("task_overdue", {"minutes": 120})
    page = as_admin.get("/settings/automations").get_data(as_text=True)
    assert "A task on a lead is overdue by 2 hours" in page
    edit = as_admin.get(f"/settings/automations/{saved.id}").get_data(as_text=True)
    assert 'id="trigger_amount"' in edit and 'value="2"' in edit and selected(edit, "trigger_unit") == "hours"

    as_admin.post("/settings/automations", form(name="Close soon", trigger="date_reached",
                                                trigger_date_field="expected_close_on", trigger_days="3",
                                                trigger_when="before"), htmx=True)
    dated = db.session.scalars(select(Automation).where(Automation.name == "Close soon")).one()
    assert dated.trigger_options == {"date_field": "expected_close_on", "days": 3, "when": "before"}
    edit = as_admin.get(f"/settings/automations/{dated.id}").get_data(as_text=True)
    assert selected(edit, "trigger_date_field") == "expected_close_on" and selected(edit, "trigger_when") == "before"


@pytest.mark.parametrize("fields, control, message", [
    ({"trigger": "no_activity", "trigger_days": "0"}, "trigger_days", "Enter at least 1 day."),
    ({"trigger": "no_activity", "trigger_days": "soon"}, "trigger_days", "Enter a whole number of days."),
    ({"trigger": "task_overdue", "trigger_amount": "-1", "trigger_unit": "hours"}, "trigger_amount",
     "Enter how long overdue as a whole number."),
    ({"trigger": "date_reached", "trigger_date_field": ""}, "trigger_date_field", "Choose which date."),
])
def test_the_builder_refuses_bad_time_options_beside_the_control(as_admin, fields, control, message):
    response = as_admin.post("/settings/automations", form(**fields), htmx=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and message in error_beside(html, control) and count() == 0


def test_the_band_trigger_offers_the_teams_bands_and_the_idle_example_fills_the_builder(as_admin):
    html = as_admin.post("/settings/automations", form(op="refresh", trigger="score_band"),
                         htmx=True).get_data(as_text=True)
    band_select = re.search(r'<select[^>]*id="trigger_band"[^>]*>(.*?)</select>', html, re.S).group(1)
    assert re.findall(r'>([^<]+)</option>', band_select) == ["Any band", "Cold", "Warm", "Hot"]
    page = as_admin.get("/settings/automations/new?example=idle").get_data(as_text=True)
    assert selected(page, "trigger") == "no_activity" and 'id="trigger_days"' in page and 'value="3"' in page
