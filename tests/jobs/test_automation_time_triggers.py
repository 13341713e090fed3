"""Time-based automation triggers through real `worker.py` processes: the worker's sweep finds the
leads that have gone quiet since the automation was saved and runs it for each once, on the lead's
timeline and in the run history; two workers sweeping at the same moment still fire each occurrence
once (the unique occurrence row is the claim). The sweep runs on the worker's real clock here; the
injected-clock cases are in tests/integration/test_automation_time_triggers.py."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.extensions import db
from app.models import AutomationOccurrence, AutomationRun, Lead, Task, TimelineEntry
from app.services import atomic, automations, utcnow
from app.services.leads import create_lead

pytestmark = [pytest.mark.redis, pytest.mark.jobs]


@pytest.fixture
def app(make_app, redis, redis_url):
    app = make_app(REDIS_URL=redis_url)
    with app.app_context():
        yield app


@pytest.fixture
def gone_quiet(app, make_user):
    """Saved five days ago: 'no activity for 2 days' → a call task for the owner."""
    admin = make_user("admin", name="Boss")
    return automations.save(None, automations.AutomationInput(
        name="Gone quiet", trigger="no_activity", trigger_options={"days": "2"},
        actions=[{"kind": "create_task", "title": "Call again", "task_kind": "call", "owner": "", "amount": "0",
                  "unit": "minutes"}]), admin.id, now=utcnow() - timedelta(days=5))


def quiet_leads(stages, owner, count: int, since) -> list[int]:
    ids = [create_lead({"first_name": f"Quiet{n}"}, None, stage_id=stages["New"].id, owner_id=owner.id).id
           for n in range(count)]
    with atomic():
        db.session.execute(update(Lead).where(Lead.id.in_(ids)).values(created_at=since, last_touch_at=None)
                           .execution_options(synchronize_session=False))
    return ids


def test_the_worker_fires_no_activity_once_for_a_lead_that_went_quiet(app, stages, make_user, gone_quiet,
                                                                       run_worker, redis):
    ann = make_user(name="Ann")
    quiet, = quiet_leads(stages, ann, 1, utcnow() - timedelta(days=3))
    busy = create_lead({"first_name": "Busy"}, None, stage_id=stages["New"].id, owner_id=ann.id)
    redis.flushdb()  # nothing of a time trigger lives in Redis

    run_worker()

    db.session.expire_all()
    assert db.session.scalars(select(Task.title).where(Task.lead_id == quiet)).all() == ["Call again"]
    assert db.session.scalar(select(func.count()).select_from(Task).where(Task.lead_id == busy.id)) == 0
    entry = db.session.scalar(select(TimelineEntry.data).where(TimelineEntry.lead_id == quiet,
                                                               TimelineEntry.kind == "automation"))
    assert entry["did"] == ["created the task “Call again” for Ann"]
    assert db.session.execute(select(AutomationRun.status, AutomationRun.event)).all() == [("ok", "time.no_activity")]

    run_worker()  # the next sweep: the same occurrence does not fire again
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Task).where(Task.lead_id == quiet)) == 1


def test_two_workers_sweeping_at_once_fire_each_occurrence_once(app, stages, make_user, gone_quiet, start_worker):
    ann = make_user(name="Ann")
    ids = quiet_leads(stages, ann, 30, utcnow() - timedelta(days=3))
    workers = [start_worker(), start_worker()]
    for worker in workers:
        output, _ = worker.communicate(timeout=180)
        assert worker.returncode == 0, output
    db.session.expire_all()
    per_lead = dict(db.session.execute(select(Task.lead_id, func.count()).group_by(Task.lead_id)).all())
    assert per_lead == {lead_id: 1 for lead_id in ids}
    assert db.session.scalar(select(func.count()).select_from(AutomationOccurrence)) == 30
    assert db.session.scalar(select(func.count()).select_from(AutomationRun)) == 30
