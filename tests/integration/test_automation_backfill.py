"""Applying an automation to the leads that already exist, as a job with progress, on both databases:
only the leads its conditions (and a capture trigger's source) fit are acted on, each once, in keyset
batches that commit with their progress; a second delivery or an overtaken batch does nothing twice;
pausing it meanwhile stops it with the reason; the page starts it (admins, CSRF, audit) and polls."""
import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEntry, AutomationBackfill, AutomationRun, Task
from app.services import Conflict, ServiceError, automation_backfill, automations, trash
from app.services.automations import AutomationInput


def make(admin, *, conditions=None, options=None, active=True):
    return automations.save(None, AutomationInput(
        name="Call the Acme leads", trigger="lead_captured", trigger_options=options or {},
        conditions=conditions or [], active=active,
        actions=[{"kind": "create_task", "title": "Call", "task_kind": "call", "owner": "", "amount": "0",
                  "unit": "minutes"}]), admin.id)


def tasks_on(lead_ids) -> dict[int, int]:
    db.session.expire_all()
    return dict(db.session.execute(select(Task.lead_id, func.count()).where(Task.lead_id.in_(lead_ids))
                                   .group_by(Task.lead_id)).all())


@pytest.fixture
def crowd(admin, member, make_lead):
    """Seven leads, made before any automation: four at Acme (one in the trash), three elsewhere."""
    acme = [make_lead(owner=member, company="Acme", first_name=f"A{n}", source="fair" if n else "web")
            for n in range(4)]
    other = [make_lead(owner=member, company="Globex", first_name=f"G{n}") for n in range(3)]
    trash.trash(acme[3].id, admin.id)
    db.session.commit()
    return acme, other


def test_it_acts_once_on_each_existing_lead_that_fits_in_batches_with_progress(app, admin, crowd):
    acme, other = crowd
    rule = make(admin, conditions=[{"field": "company", "op": "equals", "value": "Acme"}])
    backfill = automation_backfill.start(rule.id, admin.id)
    assert backfill.state == "queued" and automation_backfill.percent_done(backfill) == 0
    assert automation_backfill.claim(backfill.id) and not automation_backfill.claim(backfill.id)
    assert automation_backfill.get(backfill.id).total == 6  # the trashed lead is not looked at
    assert automation_backfill.run_batch(backfill.id, batch=4) is True
    middle = automation_backfill.get(backfill.id)
    assert (middle.done, middle.acted, automation_backfill.percent_done(middle)) == (4, 3, 66)
    assert automation_backfill.run_batch(backfill.id, batch=4) is False
    done = automation_backfill.get(backfill.id)
    assert (done.state, done.done, done.acted, automation_backfill.percent_done(done)) == ("done", 6, 3, 100)
    assert tasks_on([lead.id for lead in acme + other]) == {acme[0].id: 1, acme[1].id: 1, acme[2].id: 1}
    events = set(db.session.scalars(select(AutomationRun.event).where(AutomationRun.automation_id == rule.id)))
    assert events == {"applied"}
    audit = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "automation.applied")).one()
    assert audit.target == "Call the Acme leads"


def test_a_capture_trigger_source_narrows_it_and_a_second_delivery_does_nothing(app, admin, crowd):
    acme, _ = crowd
    rule = make(admin, options={"source": "web"})
    backfill = automation_backfill.start(rule.id, admin.id)
    automation_backfill.run(backfill.id)
    assert automation_backfill.run(backfill.id) is None  # claimed already: a second delivery stops there
    assert tasks_on([lead.id for lead in acme]) == {acme[0].id: 1}


def test_an_overtaken_batch_is_rolled_back(app, admin, crowd, monkeypatch):
    from sqlalchemy import update
    rule = make(admin)
    backfill = automation_backfill.start(rule.id, admin.id)
    automation_backfill.claim(backfill.id)
    real = automation_backfill._fitting

    def meanwhile(*args):  # another delivery commits the same batch while this one works
        db.session.execute(update(AutomationBackfill).where(AutomationBackfill.id == backfill.id).values(after_id=10**6))
        return real(*args)
    monkeypatch.setattr(automation_backfill, "_fitting", meanwhile)
    assert automation_backfill.run_batch(backfill.id) is False
    assert db.session.scalar(select(func.count()).select_from(Task)) == 0


def test_paused_meanwhile_it_stops_saying_why_and_a_paused_one_cannot_start(app, admin, crowd):
    rule = make(admin)
    backfill = automation_backfill.start(rule.id, admin.id)
    with pytest.raises(Conflict):
        automation_backfill.start(rule.id, admin.id)
    automations.set_active(rule.id, False, admin.id)
    stopped = automation_backfill.run(backfill.id)
    assert stopped.state == "failed" and "paused or deleted" in stopped.detail
    with pytest.raises(ServiceError) as refused:
        automation_backfill.start(rule.id, admin.id)
    assert "resume it" in refused.value.message


def test_a_lost_job_is_queued_again_by_the_sweep(app, admin, crowd):
    from datetime import timedelta
    from app.services import utcnow
    rule = make(admin)
    backfill = automation_backfill.start(rule.id, admin.id)
    assert automation_backfill.requeue_lost(utcnow()) == 0
    assert automation_backfill.requeue_lost(backfill.created_at + timedelta(minutes=2)) == 1


# --- the page ---------------------------------------------------------------------------------------


def test_members_cannot_apply_one(as_member, admin, crowd):
    rule = make(admin)
    refused = as_member.post(f"/settings/automations/{rule.id}/apply", {})
    assert refused.status_code == 403 and db.session.scalar(select(func.count()).select_from(AutomationBackfill)) == 0


def test_the_page_starts_it_and_shows_its_progress(as_admin, admin, crowd):
    rule = make(admin)
    page = as_admin.get(f"/settings/automations/{rule.id}").text
    assert "Apply to existing leads" in page and "hx-confirm" in page
    started = as_admin.post(f"/settings/automations/{rule.id}/apply", {}, htmx=True)
    assert started.status_code == 200 and 'hx-trigger="every 2s"' in started.text and "You can leave this page" in started.text
    again = as_admin.post(f"/settings/automations/{rule.id}/apply", {}, htmx=True)
    assert again.status_code == 409 and "being applied" in again.text
    backfill = db.session.scalars(select(AutomationBackfill)).one()
    automation_backfill.run(backfill.id)
    progress = as_admin.get(f"/settings/automations/{rule.id}/apply", htmx=True).text
    assert "hx-trigger" not in progress and "6 leads looked at, its steps ran on 6" in progress


def test_a_capture_trigger_way_in_holds_for_existing_leads_and_the_dry_run(app, admin, member, stages):
    from app.services.capture import capture_lead
    from app.services.imports import VIA
    imported = capture_lead({"first_name": "Imp", "email": "imp@example.com"}, via=VIA, owner_id=member.id).lead
    by_hand = capture_lead({"first_name": "Hand", "email": "hand@example.com"}, via="manual entry",
                           actor_id=member.id, owner_id=member.id).lead
    rule = make(admin, options={"form_id": "way:import"})
    assert automations.try_on_lead(rule.id, imported.id).fires is True
    assert automations.try_on_lead(rule.id, by_hand.id).fires is False
    automation_backfill.run(automation_backfill.start(rule.id, admin.id).id)
    assert tasks_on([imported.id, by_hand.id]) == {imported.id: 1}


def test_the_not_now_example_names_one_of_the_teams_lost_reasons(app, stages):
    from app.services import closing
    from app.models import LostReason
    names = list(db.session.scalars(select(LostReason.name)))
    example = automations.examples()["not_now"]
    assert example["conditions"][0]["value"] in names or not names
    closing.add_reason("Bad timing")
    db.session.commit()
    assert automations.examples()["not_now"]["conditions"][0]["value"] in {"Bad timing", *names}
