"""Automation waits through real `worker.py` processes: a wait that is over is carried on by the
worker's sweep (the rest of the steps run, on the lead's timeline and in the run history), once,
even with two workers sweeping at the same moment; a wait not yet over stays. Waits are rows in the
database, so a Redis flush loses none. (The sweep's clock is injected in
tests/integration/test_automations.py; here the waits fall due against the worker's real clock.)"""
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AutomationRun, AutomationWait, Task, TimelineEntry
from app.services import atomic, automations, tags, utcnow
from app.services.leads import create_lead

pytestmark = [pytest.mark.redis, pytest.mark.jobs]


@pytest.fixture
def app(make_app, redis, redis_url):
    app = make_app(REDIS_URL=redis_url)
    with app.app_context():
        yield app


@pytest.fixture
def follow_up(app, make_user):
    admin = make_user("admin", name="Boss")
    with atomic():
        tags.ensure_tags(["waited"])
    return automations.save(None, automations.AutomationInput(
        name="Follow up later", trigger="lead_captured", trigger_options={},
        actions=[{"kind": "wait", "amount": "5", "unit": "minutes"},
                 {"kind": "create_task", "title": "Follow up", "task_kind": "call", "owner": "", "amount": "0",
                  "unit": "minutes"},
                 {"kind": "add_tag", "tag": "waited"}]), admin.id)


def test_the_worker_carries_on_a_wait_that_is_over_once(app, stages, make_user, follow_up, run_worker, redis):
    ann = make_user(name="Ann")
    now = utcnow()
    due = create_lead({"first_name": "Due"}, None, stage_id=stages["New"].id, owner_id=ann.id,
                      now=now - timedelta(minutes=10))
    later = create_lead({"first_name": "Later"}, None, stage_id=stages["New"].id, owner_id=ann.id, now=now)
    redis.flushdb()  # nothing of a wait lives in Redis

    run_worker()

    db.session.expire_all()
    assert db.session.scalars(select(Task.title).where(Task.lead_id == due.id)).all() == ["Follow up"]
    assert tags.tags_for([due.id])[due.id] == ["waited"]
    assert db.session.scalar(select(func.count()).select_from(Task).where(Task.lead_id == later.id)) == 0
    assert db.session.scalars(select(AutomationWait.lead_id).where(AutomationWait.done_at.is_(None))).all() == [
        later.id]
    entries = db.session.scalars(select(TimelineEntry.data).where(TimelineEntry.lead_id == due.id,
                                                                  TimelineEntry.kind == "automation")
                                 .order_by(TimelineEntry.id)).all()
    assert [e["did"] for e in entries] == [["waiting 5 minutes before the next step"],
                                           ["created the task “Follow up” for Ann", "added the tag “waited”"]]

    run_worker()  # the next sweep finds nothing more for it
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Task).where(Task.lead_id == due.id)) == 1


def test_two_workers_sweeping_at_once_run_each_wait_once(app, stages, make_user, follow_up, start_worker):
    ann = make_user(name="Ann")
    past = utcnow() - timedelta(minutes=10)
    ids = [create_lead({"first_name": f"Lead{n}"}, None, stage_id=stages["New"].id, owner_id=ann.id, now=past).id
           for n in range(30)]
    workers = [start_worker(), start_worker()]
    for worker in workers:
        output, _ = worker.communicate(timeout=180)
        assert worker.returncode == 0, output
    db.session.expire_all()
    per_lead = dict(db.session.execute(select(Task.lead_id, func.count()).group_by(Task.lead_id)).all())
    assert per_lead == {lead_id: 1 for lead_id in ids}
    assert db.session.scalar(select(func.count()).select_from(AutomationWait)
                             .where(AutomationWait.done_at.is_(None))) == 0
    assert db.session.scalar(select(func.count()).select_from(AutomationRun)
                             .where(AutomationRun.status == "ok")) == 60  # the wait, then the rest, per lead
