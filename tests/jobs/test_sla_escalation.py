"""SLA escalations through real `worker.py` processes: two workers sweeping at the same moment warn
and breach each lead once, and a breach's "back to the pool" happens once. (The sweep's clock is
injected in tests/integration/test_sla.py; here leads are due against the worker's real clock.)"""
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Lead, Notification, TimelineEntry
from app.services import sla, utcnow
from app.services.leads import create_lead

pytestmark = [pytest.mark.redis, pytest.mark.jobs]


@pytest.fixture
def app(make_app, redis, redis_url):
    app = make_app(REDIS_URL=redis_url)
    with app.app_context():
        yield app


def test_two_workers_escalate_each_lead_once(app, stages, make_user, start_worker):
    ann, boss = make_user(name="Ann"), make_user("admin", name="Boss")
    sla.add_rule(match="any", value="", amount="10", unit="minutes", business_time=False, on_breach="pool")
    now = utcnow()
    # 20 leads at 85% of their target (a warning due), 20 past it (a breach due, back to the pool).
    warn = [create_lead({"first_name": f"Warn{n}"}, None, stage_id=stages["New"].id, owner_id=ann.id,
                        now=now - timedelta(minutes=8, seconds=30)).id for n in range(20)]
    late = [create_lead({"first_name": f"Late{n}"}, None, stage_id=stages["New"].id, owner_id=ann.id,
                        now=now - timedelta(minutes=30)).id for n in range(20)]
    workers = [start_worker(), start_worker()]
    for worker in workers:
        output, _ = worker.communicate(timeout=120)
        assert worker.returncode == 0, output
    db.session.expire_all()
    per_lead = dict(db.session.execute(select(TimelineEntry.lead_id, func.count()).where(
        TimelineEntry.kind.in_(["sla_warning", "sla_breached"])).group_by(TimelineEntry.lead_id)).all())
    assert per_lead == {lead_id: 1 for lead_id in warn + late}
    kinds = db.session.execute(select(Notification.user_id, Notification.kind, func.count())
                               .group_by(Notification.user_id, Notification.kind)).all()
    assert sorted(kinds) == sorted([(ann.id, "sla_warning", 20), (ann.id, "sla_breach", 20),
                                    (boss.id, "sla_breach", 20)])
    owners = dict(db.session.execute(select(Lead.id, Lead.owner_id).where(Lead.id.in_(warn + late))).all())
    assert {owners[i] for i in late} == {None} and {owners[i] for i in warn} == {ann.id}
