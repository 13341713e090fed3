"""Automations' second slice on both databases, with an injected clock: the time-based triggers the
worker's sweep finds (no activity for N days, a task overdue, a date reached), each firing once per
lead per occurrence and never for the backlog that was already past when the automation was saved;
the band, bounce, unsubscribe and SLA triggers through the services that cause them; and a wait that
re-checks the conditions and the steps before carrying on. (tests/jobs/test_automation_time_triggers.py
runs the sweep in real workers.)"""
import itertools
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from app.extensions import db
from app.models import AutomationOccurrence, AutomationRun, AutomationWait, Lead, Task, TimelineEntry
from app.services import ServiceError, atomic, automations, leads, scoring, sla, tags, tasks, team_settings
from app.services.automations import AutomationInput

T0 = datetime(2026, 6, 1, 12, 0)  # a Monday, noon UTC


NAMES = itertools.count(1)  # automations need names of their own


def make(admin, trigger: str, actions: list[dict], *, options: dict | None = None, conditions: list | None = None,
         name: str | None = None, now: datetime | None = None):
    return automations.save(None, AutomationInput(name=name or f"Rule {next(NAMES)}", trigger=trigger, trigger_options=options or {},
                                                  conditions=conditions or [], actions=actions), admin.id, now=now)


def task(title: str) -> dict:
    return {"kind": "create_task", "title": title, "task_kind": "call", "owner": "", "amount": "0", "unit": "minutes"}


def titles(lead_id: int) -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(select(Task.title).where(Task.lead_id == lead_id).order_by(Task.id)))


def runs(automation_id: int) -> list[tuple[str, str, int]]:
    db.session.expire_all()
    return [(r.status, r.event, r.lead_id) for r in db.session.scalars(
        select(AutomationRun).where(AutomationRun.automation_id == automation_id).order_by(AutomationRun.id))]


def details(automation_id: int) -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(select(AutomationRun.detail).where(AutomationRun.automation_id == automation_id)
                                   .order_by(AutomationRun.id)))


def set_lead(lead_id: int, **values) -> None:
    with atomic():
        db.session.execute(update(Lead).where(Lead.id == lead_id).values(**values)
                           .execution_options(synchronize_session=False))


@pytest.fixture
def team_tags(app):
    with atomic():
        tags.ensure_tags(["quiet", "vip"])


# --- no activity for N days --------------------------------------------------------------------------


def test_no_activity_fires_once_when_a_lead_has_gone_quiet_and_again_after_the_next_quiet_spell(
        app, admin, member, make_lead, team_tags):
    rule = make(admin, "no_activity", [{"kind": "add_tag", "tag": "quiet"}], options={"days": "3"}, now=T0)
    assert rule.trigger_options == {"days": 3}
    lead = make_lead(owner=member)
    set_lead(lead.id, created_at=T0 + timedelta(hours=1), last_touch_at=None)

    assert automations.run_time_triggers(T0 + timedelta(days=3)) == 0  # quiet for 2 days 23 hours: not yet
    assert automations.run_time_triggers(T0 + timedelta(days=3, hours=2)) == 1
    assert tags.tags_for([lead.id])[lead.id] == ["quiet"]
    assert automations.run_time_triggers(T0 + timedelta(days=5)) == 0  # still quiet: the same occurrence
    assert runs(rule.id) == [("ok", "time.no_activity", lead.id)]

    set_lead(lead.id, last_touch_at=T0 + timedelta(days=4))  # someone called
    assert automations.run_time_triggers(T0 + timedelta(days=7, hours=1)) == 1  # quiet again for 3 days
    assert [status for status, _, _ in runs(rule.id)] == ["ok", "ok"]
    assert db.session.scalar(select(func.count()).select_from(AutomationOccurrence)) == 2


def test_no_activity_leaves_out_won_lost_and_deleted_leads(app, admin, member, make_lead, stages):
    rule = make(admin, "no_activity", [task("Call")], options={"days": "1"}, now=T0)
    won, trashed, open_lead = (make_lead(owner=member, email=f"{n}@example.com") for n in ("won", "bin", "open"))
    for lead in (won, trashed, open_lead):
        set_lead(lead.id, created_at=T0 + timedelta(minutes=5), last_touch_at=None)
    set_lead(won.id, closed_on=date(2026, 6, 1))
    set_lead(trashed.id, deleted_at=T0 + timedelta(minutes=6))
    assert automations.run_time_triggers(T0 + timedelta(days=2)) == 1
    assert [lead_id for _, _, lead_id in runs(rule.id)] == [open_lead.id]


def test_a_new_time_automation_leaves_the_backlog_alone_and_the_builder_says_how_many(app, admin, member,
                                                                                      make_lead):
    old = [make_lead(owner=member, email=f"old{n}@example.com") for n in range(3)]
    for lead in old:
        set_lead(lead.id, created_at=T0 - timedelta(days=30), last_touch_at=T0 - timedelta(days=20))
    assert automations.backlog("no_activity", {"days": "7"}, T0) == (3, NoActivityWords)
    rule = make(admin, "no_activity", [task("Call")], options={"days": "7"}, now=T0)
    assert automations.run_time_triggers(T0 + timedelta(days=1)) == 0
    assert runs(rule.id) == [] and all(titles(lead.id) == [] for lead in old)
    assert automations.backlog("no_activity", {"days": "x"}, T0) is None  # options not complete: no figure
    assert automations.backlog("lead_captured", {}, T0) is None


NoActivityWords = automations.NoActivity.backlog_words[1]


def test_many_leads_quiet_since_the_same_instant_fire_once_each_across_small_batches(app, admin, member,
                                                                                     make_lead):
    """An import gives many leads one capture time: the cursor's tie-break (the lead id) moves past
    them a batch at a time, and a second sweep over the same window fires none again."""
    rule = make(admin, "no_activity", [task("Call")], options={"days": "1"}, now=T0)
    ids = [make_lead(owner=member, email=f"same{n}@example.com").id for n in range(5)]
    for lead_id in ids:
        set_lead(lead_id, created_at=T0 + timedelta(hours=2), last_touch_at=None)
    assert automations.run_time_triggers(T0 + timedelta(days=2), batch=2, batches=2) == 4  # bounded per sweep
    assert automations.run_time_triggers(T0 + timedelta(days=2), batch=2, batches=2) == 1  # the rest next sweep
    assert automations.run_time_triggers(T0 + timedelta(days=2, minutes=5), batch=2) == 0
    assert sorted(lead_id for _, _, lead_id in runs(rule.id)) == sorted(ids)


def test_conditions_are_checked_when_a_time_trigger_fires(app, admin, member, make_lead):
    rule = make(admin, "no_activity", [task("Call the big one")], options={"days": "2"}, now=T0,
                conditions=[{"field": "company", "op": "equals", "value": "Acme"}])
    acme = make_lead(owner=member, company="Acme", email="a@example.com")
    other = make_lead(owner=member, company="Globex", email="g@example.com")
    for lead in (acme, other):
        set_lead(lead.id, created_at=T0 + timedelta(hours=1), last_touch_at=None)
    automations.run_time_triggers(T0 + timedelta(days=3))
    assert titles(acme.id) == ["Call the big one"] and titles(other.id) == []
    assert runs(rule.id) == [("ok", "time.no_activity", acme.id)]


def test_pausing_and_resuming_starts_counting_again_from_the_resume(app, admin, member, make_lead):
    rule = make(admin, "no_activity", [task("Call")], options={"days": "1"}, now=T0)
    lead = make_lead(owner=member)
    set_lead(lead.id, created_at=T0 + timedelta(hours=1), last_touch_at=None)
    automations.set_active(rule.id, False, admin.id, now=T0 + timedelta(hours=2))
    assert automations.run_time_triggers(T0 + timedelta(days=2)) == 0
    automations.set_active(rule.id, True, admin.id, now=T0 + timedelta(days=2))
    assert automations.run_time_triggers(T0 + timedelta(days=3)) == 0  # it fell due while paused
    assert runs(rule.id) == []


# --- a task overdue ------------------------------------------------------------------------------------


def test_task_overdue_fires_once_per_task_and_again_after_a_snooze(app, admin, member, make_lead, team_tags):
    rule = make(admin, "task_overdue", [{"kind": "notify", "people": "owner", "message": "A task is late"}],
                options={"amount": "1", "unit": "hours"}, now=T0)
    assert rule.trigger_options == {"minutes": 60}
    lead = make_lead(owner=member)
    late = tasks.create_task(lead.id, member.id, title="Send the quote", due_at=T0 + timedelta(hours=2), now=T0)
    done = tasks.create_task(lead.id, member.id, title="Done in time", due_at=T0 + timedelta(hours=2), now=T0)
    tasks.complete_task(done.id, member.id, now=T0 + timedelta(hours=1))

    assert automations.run_time_triggers(T0 + timedelta(hours=2, minutes=59)) == 0  # late by 59 minutes
    assert automations.run_time_triggers(T0 + timedelta(hours=3, minutes=1)) == 1
    assert automations.run_time_triggers(T0 + timedelta(hours=4)) == 0
    assert runs(rule.id) == [("ok", "time.task_overdue", lead.id)]

    with atomic():  # put off to the next day: a new due time, a new occurrence
        db.session.execute(update(Task).where(Task.id == late.id).values(due_at=T0 + timedelta(days=1)))
    assert automations.run_time_triggers(T0 + timedelta(days=1, hours=1, minutes=1)) == 1
    assert len(runs(rule.id)) == 2


# --- a date reached ------------------------------------------------------------------------------------


def test_days_before_the_expected_close_date_fires_at_the_start_of_that_day_in_the_teams_zone(
        app, admin, member, make_lead):
    team_settings.save("Europe/Berlin", None)  # UTC+2 in June
    rule = make(admin, "date_reached", [task("Chase the decision")],
                options={"date_field": "expected_close_on", "days": "2", "when": "before"}, now=T0)
    assert automations.describe_trigger(rule) == "2 days before a lead's expected close date"
    lead = make_lead(owner=member)
    set_lead(lead.id, expected_close_on=date(2026, 6, 10))
    # 8 June starts in Berlin at 22:00 UTC on 7 June.
    assert automations.run_time_triggers(datetime(2026, 6, 7, 21, 59)) == 0
    assert automations.run_time_triggers(datetime(2026, 6, 7, 22, 1)) == 1
    assert titles(lead.id) == ["Chase the decision"]
    assert automations.run_time_triggers(datetime(2026, 6, 9, 12, 0)) == 0
    set_lead(lead.id, expected_close_on=date(2026, 6, 20))  # moved: a new date, a new occurrence
    assert automations.run_time_triggers(datetime(2026, 6, 18, 12, 0)) == 1


def test_a_custom_date_field_reached_and_a_deleted_one_refused(app, admin, member, make_lead):
    from app.services import custom_fields
    from app.services.custom_fields import FieldSettings
    renewal = custom_fields.create_field(FieldSettings(label="Renewal", kind="date"))
    options = {"date_field": "custom.renewal", "days": "0", "when": "after"}
    rule = make(admin, "date_reached", [task("Renew")], options=options, now=T0)
    assert automations.describe_trigger(rule) == "The day of a lead's date “Renewal” comes"
    lead = make_lead(owner=member)
    leads.update_lead(lead.id, {}, member.id, custom={"renewal": "2026-06-03"}, custom_partial=True)
    assert automations.run_time_triggers(datetime(2026, 6, 2, 23, 0)) == 0
    assert automations.run_time_triggers(datetime(2026, 6, 3, 0, 30)) == 1
    assert titles(lead.id) == ["Renew"]

    custom_fields.delete_field(renewal.id, admin.id)
    db.session.expire_all()
    assert automations.problems(rule) == ["Trigger: That date field was deleted or is not a date; choose another."]
    assert automations.run_time_triggers(datetime(2026, 6, 4, 1, 0)) == 0  # the sweep skips it, and goes on
    with pytest.raises(ServiceError) as refused:
        make(admin, "date_reached", [task("Renew")], options=options)
    assert refused.value.field == "trigger_date_field"


@pytest.mark.parametrize("trigger, options, field, message", [
    ("no_activity", {"days": ""}, "trigger_days", "whole number"),
    ("no_activity", {"days": "0"}, "trigger_days", "at least 1"),
    ("no_activity", {"days": "400"}, "trigger_days", "at most 365"),
    ("task_overdue", {"amount": "2", "unit": "weeks"}, "trigger_amount", "minutes, hours or days"),
    ("date_reached", {"date_field": ""}, "trigger_date_field", "Choose which date"),
    ("date_reached", {"date_field": "custom.nothing", "days": "1"}, "trigger_date_field", "deleted"),
    ("date_reached", {"date_field": "expected_close_on", "days": "1", "when": "around"}, "trigger_when",
     "before or after"),
    ("score_band", {"band": "Lukewarm"}, "trigger_band", "no score band"),
])
def test_the_new_triggers_refuse_bad_options_beside_the_control(app, admin, trigger, options, field, message):
    with pytest.raises(ServiceError) as refused:
        make(admin, trigger, [task("x")], options=options)
    assert refused.value.field == field and message in refused.value.message


# --- event triggers: band, bounce, unsubscribe, SLA ----------------------------------------------------------


def test_score_crossing_into_a_band_fires_for_that_band_only(app, admin, member, make_lead):
    rule = make(admin, "score_band", [task("Hot: call now")], options={"band": "hot"})
    assert rule.trigger_options == {"band": "Hot"}
    scoring.save_rule(None, label="Big company", condition={"field": "company", "op": "equals", "value": "Acme"},
                      points=60)
    scoring.save_rule(None, label="Has a job title", condition={"field": "job_title", "op": "is_not_empty"},
                      points=25)
    warm = make_lead(owner=member, email="w@example.com")
    leads.update_lead(warm.id, {"job_title": "CTO"}, member.id)  # 25: Cold into Warm
    assert titles(warm.id) == []
    hot = make_lead(owner=member, email="h@example.com")
    leads.update_lead(hot.id, {"company": "Acme"}, member.id)  # 60: into Hot
    assert titles(hot.id) == ["Hot: call now"]
    assert runs(rule.id) == [("ok", "lead.score_band_changed", hot.id)]


def test_an_email_bounce_and_an_unsubscribe_fire_their_triggers(app, admin, member, make_lead, team_tags):
    from app.services.bounces import record_hard_bounce
    from app.services.suppression import LinkPayload, unsubscribe
    bounced = make(admin, "email_bounced", [task("Find a working address")])
    left = make(admin, "unsubscribed", [{"kind": "add_tag", "tag": "quiet"}])
    lead = make_lead(owner=member, email="gone@example.com")
    other = make_lead(owner=member, email="stop@example.com")
    with atomic():
        record_hard_bounce(lead.id, "gone@example.com", "550 5.1.1 no such user", T0)
    assert titles(lead.id) == ["Find a working address"]
    unsubscribe(LinkPayload("stop@example.com", other.id), T0)
    assert tags.tags_for([other.id])[other.id] == ["quiet"]
    unsubscribe(LinkPayload("stop@example.com", other.id), T0)  # pressed again: nothing new happened
    assert runs(bounced.id) == [("ok", "lead.email_bounced", lead.id)]
    assert runs(left.id) == [("ok", "lead.unsubscribed", other.id)]


def test_the_sla_warning_and_breach_fire_once_each(app, admin, member, stages, team_tags):
    warned = make(admin, "sla_warning", [{"kind": "add_tag", "tag": "vip"}])
    breached = make(admin, "sla_breached", [{"kind": "notify", "people": "admins", "message": "Missed"}])
    sla.add_rule(match="any", value="", amount="10", unit="minutes", business_time=False, on_breach="nothing")
    lead = leads.create_lead({"first_name": "Lena", "last_name": "Late"}, None, stage_id=stages["New"].id,
                             owner_id=member.id, now=T0)
    assert sla.escalate_due(T0 + timedelta(minutes=8)) == (1, 0)
    assert sla.escalate_due(T0 + timedelta(minutes=11)) == (0, 1)
    assert sla.escalate_due(T0 + timedelta(minutes=30)) == (0, 0)
    assert tags.tags_for([lead.id])[lead.id] == ["vip"]
    assert runs(warned.id) == [("ok", "lead.sla_warning", lead.id)]
    assert runs(breached.id) == [("ok", "lead.sla_breached", lead.id)]


# --- waits: conditions again, and steps that changed ------------------------------------------------------------


def test_after_a_wait_a_lead_that_no_longer_matches_stops_with_the_reason(app, admin, member, make_lead):
    rule = make(admin, "lead_captured", [{"kind": "wait", "amount": "1", "unit": "days"}, task("Follow up")],
                conditions=[{"field": "company", "op": "equals", "value": "Acme"}])
    lead = make_lead(owner=member, company="Acme")
    leads.update_lead(lead.id, {"company": "Globex"}, member.id)
    assert automations.run_due_waits(now=datetime.utcnow() + timedelta(days=2)) == 1
    assert titles(lead.id) == []
    assert [status for status, _, _ in runs(rule.id)] == ["ok", "skipped"]
    assert details(rule.id)[-1] == ("Stopped after the wait: the lead no longer meets the conditions (wanted: "
                                    "Company is “Acme”; found: Company is Globex).")


def test_a_wait_under_steps_that_were_edited_since_stops_instead_of_taking_a_wrong_step(app, admin, member,
                                                                                        make_lead):
    rule = make(admin, "lead_captured", [{"kind": "wait", "amount": "1", "unit": "days"}, task("Follow up")])
    lead = make_lead(owner=member)
    automations.save(rule.id, AutomationInput(name=rule.name, trigger="lead_captured", trigger_options={},
                                              actions=[task("Call first"), {"kind": "wait", "amount": "1",
                                                                            "unit": "days"}, task("Follow up")]),
                     admin.id)
    assert automations.run_due_waits(now=datetime.utcnow() + timedelta(days=2)) == 1
    assert titles(lead.id) == []
    assert runs(rule.id)[-1][0] == "skipped" and "steps were changed while this lead waited" in details(rule.id)[-1]
    later = make_lead(owner=member, email="later@example.com")  # waits left under the new steps carry on
    assert titles(later.id) == ["Call first"]
    assert automations.run_due_waits(now=datetime.utcnow() + timedelta(days=2)) == 1
    assert titles(later.id) == ["Call first", "Follow up"]
    assert db.session.scalar(select(func.count()).select_from(AutomationWait)
                             .where(AutomationWait.done_at.is_(None))) == 0


def test_a_time_triggered_run_is_on_the_leads_timeline(app, admin, member, make_lead):
    make(admin, "no_activity", [task("Call")], options={"days": "1"}, now=T0, name="Quiet a day")
    lead = make_lead(owner=member)
    set_lead(lead.id, created_at=T0 + timedelta(hours=1), last_touch_at=None)
    automations.run_time_triggers(T0 + timedelta(days=2))
    entry = db.session.scalar(select(TimelineEntry.data).where(TimelineEntry.lead_id == lead.id,
                                                               TimelineEntry.kind == "automation"))
    assert entry == {"automation": "Quiet a day", "did": ["created the task “Call” for Max Member"], "failed": []}
