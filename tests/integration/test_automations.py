"""Automations end to end on both databases: every trigger and action of the first slice, through the
services people use (capture, moves, tags, tasks, appointments), their timeline entries and run
history, failure isolation, the loop guard, waits carried on by the sweep with an injected clock,
and the dry run that changes nothing."""
import itertools
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import (
    Automation, AutomationRun, AutomationWait, Lead, Notification, SequenceEnrolment, Task, TimelineEntry,
)
from app.services import ServiceError, automations, leads, sequences, tags, tasks, utcnow
from app.services.automations import AutomationInput
from app.services.sequences import StepSettings


NAMES = itertools.count(1)  # automations need names of their own


def make(admin, trigger: str, actions: list[dict], *, options: dict | None = None, conditions: list | None = None,
         match: str = "all", name: str | None = None) -> Automation:
    return automations.save(None, AutomationInput(name=name or f"Rule {next(NAMES)}", trigger=trigger, trigger_options=options or {},
                                                  match=match, conditions=conditions or [], actions=actions),
                            admin.id)


def runs(automation_id: int) -> list[tuple[str, str]]:
    db.session.expire_all()
    return [(r.status, r.detail) for r in db.session.scalars(
        select(AutomationRun).where(AutomationRun.automation_id == automation_id).order_by(AutomationRun.id))]


def entries(lead_id: int) -> list[dict]:
    return [e.data for e in db.session.scalars(select(TimelineEntry).where(
        TimelineEntry.lead_id == lead_id, TimelineEntry.kind == "automation").order_by(TimelineEntry.id))]


def task_titles(lead_id: int) -> list[str]:
    return list(db.session.scalars(select(Task.title).where(Task.lead_id == lead_id).order_by(Task.id)))


def lead_tags(lead_id: int) -> list[str]:
    return tags.tags_for([lead_id])[lead_id]


def task(title: str, minutes: int = 0, owner: str = "", kind: str = "call") -> dict:
    return {"kind": "create_task", "title": title, "task_kind": kind, "owner": owner, "amount": str(minutes),
            "unit": "minutes"}


@pytest.fixture
def hot(app):
    """The team's tags the rules name."""
    from app.services import atomic
    with atomic():
        tags.ensure_tags(["hot", "vip", "nurture"])


# --- triggers ---------------------------------------------------------------------------------------


def test_a_captured_lead_gets_the_task_with_a_timeline_entry_and_a_run(app, admin, member, make_lead):
    rule = make(admin, "lead_captured", [task("Call", 5)], name="Hot lead follow-up",
                conditions=[{"field": "company", "op": "equals", "value": "Acme"}])
    before = utcnow()
    acme = make_lead(owner=member, company="Acme")
    other = make_lead(owner=member, company="Globex", email="g@example.com")

    assert task_titles(acme.id) == ["Call"]
    due = db.session.scalar(select(Task.due_at).where(Task.lead_id == acme.id))
    assert before + timedelta(minutes=5) <= due <= utcnow() + timedelta(minutes=5)
    assert task_titles(other.id) == []  # the condition does not hold: nothing, and no history row
    assert entries(acme.id) == [{"automation": "Hot lead follow-up", "did": ["created the task “Call” for Max Member"],
                                 "failed": []}]
    assert runs(rule.id) == [("ok", "created the task “Call” for Max Member")]


def test_a_capture_trigger_for_one_source_ignores_others(app, admin, member, make_lead):
    make(admin, "lead_captured", [task("Web call")], options={"source": "Website"})
    web = make_lead(owner=member, source="website")
    fair = make_lead(owner=member, source="Trade fair", email="t@example.com")
    assert task_titles(web.id) == ["Web call"] and task_titles(fair.id) == []


def test_stage_entered_and_left_fire_on_their_stage_only(app, admin, member, make_lead, stages):
    make(admin, "stage_entered", [task("Book a demo")], options={"stage_id": stages["Qualified"].id})
    make(admin, "stage_left", [task("Ask why it left New")], options={"stage_id": stages["New"].id})
    lead = make_lead(owner=member)
    leads.move_lead(lead.id, stages["Contacted"].id, None, None, member.id)
    assert task_titles(lead.id) == ["Ask why it left New"]
    leads.move_lead(lead.id, stages["Qualified"].id, None, None, member.id)
    assert task_titles(lead.id) == ["Ask why it left New", "Book a demo"]


def test_owner_changed_to_the_pool(app, admin, member, make_lead, hot):
    make(admin, "owner_changed", [{"kind": "add_tag", "tag": "nurture"}], options={"to": "pool"})
    lead = make_lead(owner=member)
    leads.assign_lead(lead.id, admin.id, admin.id)
    assert lead_tags(lead.id) == []
    leads.assign_lead(lead.id, None, admin.id)
    assert lead_tags(lead.id) == ["nurture"]


def test_tag_added_fires_for_the_named_tag(app, admin, member, make_lead, hot):
    make(admin, "tag_added", [task("Hot: call now")], options={"tag": "HOT"})
    lead = make_lead(owner=member)
    tags.add_tags(lead.id, ["vip"], member.id)
    assert task_titles(lead.id) == []
    tags.add_tags(lead.id, ["hot"], member.id)
    assert task_titles(lead.id) == ["Hot: call now"]


def test_field_changed_fires_for_that_field(app, admin, member, make_lead):
    make(admin, "field_changed", [task("Check the new value")], options={"field": "value"})
    lead = make_lead(owner=member)
    leads.update_lead(lead.id, {"job_title": "CTO"}, member.id)
    assert task_titles(lead.id) == []
    leads.update_lead(lead.id, {"value": "5000"}, member.id)
    assert task_titles(lead.id) == ["Check the new value"]


def test_task_completed_fires(app, admin, member, make_lead, hot):
    make(admin, "task_completed", [{"kind": "add_tag", "tag": "vip"}])
    lead = make_lead(owner=member)
    first = tasks.create_task(lead.id, member.id, title="Call", due_at=utcnow() + timedelta(hours=1))
    tasks.complete_task(first.id, member.id)
    assert lead_tags(lead.id) == ["vip"]


def test_appointment_confirmed_and_cancelled_fire(app, admin, member, make_lead, hot):
    from datetime import datetime, timezone
    from app.services import appointments
    from app.services.appointment_emails import link_token
    make(admin, "appointment_confirmed", [{"kind": "add_tag", "tag": "hot"}])
    make(admin, "appointment_cancelled", [task("Find a new time")])
    lead = make_lead(owner=member, email="lena@example.com")
    starts = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=2)
    booked = appointments.book_appointment(lead.id, member.id, starts_at=starts, duration_minutes=30,
                                           location="Phone", note="")
    appointments.answer(link_token(booked, "confirm"), "confirm")
    assert lead_tags(lead.id) == ["hot"] and task_titles(lead.id) == []
    appointments.cancel_appointment(booked.id, member.id)
    assert task_titles(lead.id) == ["Find a new time"]


# --- actions ----------------------------------------------------------------------------------------


def test_assign_move_tag_untag_and_set_field_in_one_run(app, admin, member, make_lead, stages, hot):
    rule = make(admin, "lead_captured", [
        {"kind": "assign", "user": str(member.id)},
        {"kind": "move_stage", "stage": str(stages["Qualified"].id)},
        {"kind": "add_tag", "tag": "vip"},
        {"kind": "remove_tag", "tag": "hot"},
        {"kind": "set_field", "field": "job_title", "value": "Buyer"},
    ])
    lead = leads.create_lead({"first_name": "Ida", "last_name": "Jones"}, None)
    db.session.expire_all()
    lead = db.session.get(Lead, lead.id)
    assert (lead.owner_id, lead.stage_id, lead.job_title) == (member.id, stages["Qualified"].id, "Buyer")
    assert lead_tags(lead.id) == ["vip"]
    assert runs(rule.id)[0][0] == "ok"
    assert entries(lead.id)[0]["did"] == ["assigned the lead to Max Member", "moved the lead to “Qualified”",
                                          "added the tag “vip”", "removed the tag “hot”", "set job title to “Buyer”"]


def test_assign_to_the_pool(app, admin, member, make_lead, stages):
    make(admin, "stage_entered", [{"kind": "assign", "user": "pool"}], options={"stage_id": stages["Lost"].id})
    lead = make_lead(owner=member, stage="Contacted")
    leads.move_lead(lead.id, stages["Lost"].id, None, None, member.id)
    db.session.expire_all()
    assert db.session.get(Lead, lead.id).owner_id is None


def test_enrol_and_stop_a_sequence(app, admin, member, make_lead, stages):
    sequence = sequences.create_sequence("Nurture")
    sequences.add_step(sequence.id, StepSettings(kind="task", task_title="Check in", delay_days=3))
    sequences.start(sequence.id)
    make(admin, "lead_captured", [{"kind": "enrol", "sequence": str(sequence.id)}])
    make(admin, "stage_entered", [{"kind": "stop_sequence", "sequence": str(sequence.id)}],
         options={"stage_id": stages["Contacted"].id})
    lead = make_lead(owner=member, email="n@example.com")
    enrolment = db.session.scalars(select(SequenceEnrolment).where(SequenceEnrolment.lead_id == lead.id)).one()
    assert (enrolment.how, enrolment.ended_at) == ("automation", None)
    leads.move_lead(lead.id, stages["Contacted"].id, None, None, member.id)
    db.session.expire_all()
    assert db.session.get(SequenceEnrolment, enrolment.id).stop_reason == "automation"


def test_notify_the_owner_and_admins(app, admin, member, make_lead):
    make(admin, "lead_captured", [{"kind": "notify", "people": "owner", "message": "A new lead for you"},
                                  {"kind": "notify", "people": "admins", "message": "FYI"}])
    make_lead(owner=member, first_name="Ida", last_name="Jones")
    assert list(db.session.scalars(select(Notification.message).where(Notification.user_id == member.id))) == [
        "Ida Jones: A new lead for you"]
    assert list(db.session.scalars(select(Notification.message).where(Notification.user_id == admin.id))) == [
        "Ida Jones: FYI"]


# --- failures, loops, waits -------------------------------------------------------------------------


def test_a_failing_action_is_recorded_and_the_rest_still_run(app, admin, member, make_lead, make_user, hot):
    from app.services.users import set_active
    gone = make_user(name="Gone Person")
    rule = make(admin, "lead_captured", [task("For gone", owner=str(gone.id)), {"kind": "add_tag", "tag": "vip"}])
    set_active(gone.id, False, admin.id)
    lead = make_lead(owner=member)
    assert lead_tags(lead.id) == ["vip"] and task_titles(lead.id) == []
    (status, detail), = runs(rule.id)
    assert status == "failed" and "added the tag “vip”" in detail and "not an active member" in detail
    assert entries(lead.id)[0]["failed"] == [
        "Create the call task “For gone” for Gone Person, due at once: That person is not an active member of the team."]


def test_an_automation_naming_a_deleted_tag_never_blocks_the_event(app, admin, member, make_lead, hot):
    rule = make(admin, "lead_captured", [{"kind": "add_tag", "tag": "nurture"}])
    tags.delete_tag(tags.find_tag("nurture").id, admin.id)
    lead = make_lead(owner=member)
    assert db.session.get(Lead, lead.id) is not None
    assert runs(rule.id) == [("failed", "Add the tag “nurture”: that tag was deleted")]


def test_the_loop_guard_stops_a_chain_and_records_where(app, admin, member, make_lead, stages):
    """A → B → A: each moves the lead back and forth; A may run once per lead per original event."""
    a = make(admin, "stage_entered", [{"kind": "move_stage", "stage": str(stages["Qualified"].id)}],
             options={"stage_id": stages["Contacted"].id}, name="A")
    b = make(admin, "stage_entered", [{"kind": "move_stage", "stage": str(stages["Contacted"].id)}],
             options={"stage_id": stages["Qualified"].id}, name="B")
    lead = make_lead(owner=member)
    leads.move_lead(lead.id, stages["Contacted"].id, None, None, member.id)
    db.session.expire_all()
    assert db.session.get(Lead, lead.id).stage_id == stages["Contacted"].id  # A moved it on, B moved it back
    assert [s for s, _ in runs(a.id)] == ["ok", "loop"]
    assert [s for s, _ in runs(b.id)] == ["ok"]
    assert "already run for this lead" in runs(a.id)[1][1]


def test_chains_stop_at_depth_three(app, admin, member, make_lead, stages):
    order = ["Contacted", "Qualified", "Appointment set", "Won"]
    rules = [make(admin, "stage_entered", [{"kind": "move_stage", "stage": str(stages[order[n + 1]].id)}],
                  options={"stage_id": stages[order[n]].id}, name=f"Step {n}") for n in range(3)]
    lead = make_lead(owner=member)
    leads.move_lead(lead.id, stages["Contacted"].id, None, None, member.id)
    db.session.expire_all()
    assert [runs(r.id)[0][0] for r in rules] == ["ok", "ok", "ok"]
    # The third move (into Won) would start a fourth automation: add one, and see it stopped.
    fourth = make(admin, "stage_entered", [{"kind": "move_stage", "stage": str(stages["New"].id)}],
                  options={"stage_id": stages["Won"].id}, name="Step 3")
    leads.move_lead(lead.id, stages["New"].id, None, None, member.id)
    leads.move_lead(lead.id, stages["Contacted"].id, None, None, member.id)
    assert runs(fourth.id)[-1][0] == "loop" and "3 automations in a row" in runs(fourth.id)[-1][1]


def test_a_wait_leaves_a_row_and_the_sweep_carries_on_when_it_is_due(app, admin, member, make_lead, hot):
    rule = make(admin, "lead_captured", [{"kind": "add_tag", "tag": "hot"}, {"kind": "wait", "amount": "2",
                                                                            "unit": "days"},
                                         task("Follow up"), {"kind": "add_tag", "tag": "vip"}])
    lead = make_lead(owner=member)
    wait = db.session.scalars(select(AutomationWait)).one()
    assert (wait.next_action, wait.done_at) == (2, None)
    assert lead_tags(lead.id) == ["hot"] and task_titles(lead.id) == []

    assert automations.run_due_waits(now=utcnow() + timedelta(days=1)) == 0
    assert task_titles(lead.id) == []
    assert automations.run_due_waits(now=utcnow() + timedelta(days=2, minutes=1)) == 1
    assert task_titles(lead.id) == ["Follow up"] and lead_tags(lead.id) == ["hot", "vip"]
    assert automations.run_due_waits(now=utcnow() + timedelta(days=3)) == 0  # each runs once
    assert [s for s, _ in runs(rule.id)] == ["ok", "ok"]


def test_a_paused_automation_neither_runs_nor_carries_on_its_waits(app, admin, member, make_lead, hot):
    rule = make(admin, "lead_captured", [{"kind": "wait", "amount": "1", "unit": "minutes"}, task("Later")])
    lead = make_lead(owner=member)
    automations.set_active(rule.id, False, admin.id)
    assert automations.run_due_waits(now=utcnow() + timedelta(hours=1)) == 0
    make_lead(owner=member, email="second@example.com")
    assert db.session.scalar(select(func.count()).select_from(AutomationWait)) == 1
    automations.set_active(rule.id, True, admin.id)
    assert automations.run_due_waits(now=utcnow() + timedelta(hours=1)) == 1
    assert task_titles(lead.id) == ["Later"]


def test_an_event_in_a_savepoint_that_rolled_back_runs_nothing(app, admin, member, make_lead, hot):
    from app.services import atomic
    make(admin, "tag_added", [task("Tagged")])
    lead = make_lead(owner=member)
    with atomic():
        try:
            with atomic():
                tags.add_tags(lead.id, ["vip"], member.id)
                raise RuntimeError("undo")
        except RuntimeError:
            pass
    assert task_titles(lead.id) == [] and lead_tags(lead.id) == []


def test_a_dry_run_shows_what_would_happen_and_changes_nothing(app, admin, member, make_lead, hot):
    lead = make_lead(owner=member, company="Acme")
    rule = make(admin, "lead_captured", [task("Call", 5), {"kind": "add_tag", "tag": "vip"}],
                conditions=[{"field": "company", "op": "equals", "value": "acme"}])
    result = automations.try_on_lead(rule.id, lead.id)
    assert result.holds and result.status == "ok"
    assert result.outcomes == ["created the task “Call” for Max Member", "added the tag “vip”"]
    assert result.explanations == ["Fires: Company is Acme."]
    assert task_titles(lead.id) == [] and lead_tags(lead.id) == [] and runs(rule.id) == []
    assert entries(lead.id) == []


# --- refusals -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("given, field, message", [
    (dict(trigger=""), "trigger", "Choose what starts"),
    (dict(actions=[]), "actions", "Add at least one action"),
    (dict(actions=[{"kind": "wait", "amount": "0", "unit": "days"}, task("x")]), "actions-0-amount", "at least 1 minute"),
    (dict(actions=[{"kind": "wait", "amount": "366", "unit": "days"}, task("x")]), "actions-0-amount", "at most a year"),
    (dict(actions=[task("x"), {"kind": "wait", "amount": "1", "unit": "days"}]), "actions-1-kind", "needs an action after"),
    (dict(actions=[{"kind": "move_stage", "stage": "999999"}]), "actions-0-stage", "stage was deleted"),
    (dict(actions=[{"kind": "assign", "user": "999999"}]), "actions-0-user", "deactivated or removed"),
    (dict(actions=[{"kind": "enrol", "sequence": "999999"}]), "actions-0-sequence", "sequence was deleted"),
    (dict(actions=[{"kind": "add_tag", "tag": "never made"}]), "actions-0-tag", "There is no tag"),
    (dict(trigger="stage_entered", trigger_options={"stage_id": "999999"}), "trigger_stage", "stage was deleted"),
    (dict(conditions=[{"field": "custom.gone", "op": "equals", "value": "x"}]), "conditions-0-condition_field",
     "custom field was deleted"),
])
def test_the_editor_refuses_what_cannot_run(app, admin, given, field, message):
    values = dict(name="Rule", trigger="lead_captured", trigger_options={}, actions=[task("Call")], **{})
    values.update(given)
    with pytest.raises(ServiceError) as refused:
        automations.save(None, AutomationInput(**values), admin.id)
    assert refused.value.field == field and message in refused.value.message
    assert db.session.scalar(select(func.count()).select_from(Automation)) == 0


def test_the_team_has_at_most_so_many_automations(app, admin, monkeypatch):
    monkeypatch.setattr(automations, "MAX_AUTOMATIONS", 2)
    make(admin, "lead_captured", [task("a")])
    make(admin, "lead_captured", [task("b")])
    with pytest.raises(ServiceError, match="at most 2 automations"):
        make(admin, "lead_captured", [task("c")])


def test_the_not_now_example_reopens_a_lost_lead_90_days_later(app, admin, member, make_lead, stages):
    from app.services import closing
    from app.services.closing import Closing
    existing = {reason.name.casefold(): reason for reason in closing.reasons()}
    not_now = existing.get("not now") or closing.add_reason("Not now")
    price = next(reason for key, reason in existing.items() if key != "not now") if len(existing) > 1 \
        else closing.add_reason("Too expensive")
    example = automations.examples()["not_now"]
    rule = automations.save(None, AutomationInput(name=example["name"], trigger=example["trigger"],
                                                  trigger_options=example["trigger_options"],
                                                  conditions=example["conditions"], actions=example["actions"]),
                            admin.id)
    assert rule.conditions == [{"field": "lost_reason", "op": "equals", "value": not_now.id}]
    later = make_lead(owner=member, email="later@example.com")
    never = make_lead(owner=member, email="never@example.com")
    leads.move_lead(later.id, stages["Lost"].id, None, None, member.id, Closing(lost_reason_id=not_now.id))
    leads.move_lead(never.id, stages["Lost"].id, None, None, member.id, Closing(lost_reason_id=price.id))
    assert db.session.scalars(select(AutomationWait.lead_id)).all() == [later.id]
    assert automations.run_due_waits(now=utcnow() + timedelta(days=89)) == 0
    assert automations.run_due_waits(now=utcnow() + timedelta(days=90, minutes=1)) == 1
    assert task_titles(later.id) == ["Re-open: ask again"] and task_titles(never.id) == []
