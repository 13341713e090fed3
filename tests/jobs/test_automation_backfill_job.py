"""Applying an automation to existing leads through a real RQ worker process: the page queues the
job, the worker acts on every lead that fits, once, and the page shows it done."""
import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AutomationBackfill, Task
from app.services import automations
from app.services.automations import AutomationInput
from tests.conftest import Web

pytestmark = [pytest.mark.redis, pytest.mark.jobs]


def test_the_worker_applies_it_to_every_existing_lead_that_fits(make_app, redis, redis_url, admin, member, stages,
                                                               make_lead, run_worker):
    for n in range(12):
        make_lead(owner=member, first_name=f"L{n}", company="Acme" if n % 3 else "Globex")
    rule = automations.save(None, AutomationInput(
        name="Call Acme", trigger="lead_captured", trigger_options={},
        conditions=[{"field": "company", "op": "equals", "value": "Acme"}],
        actions=[{"kind": "create_task", "title": "Call", "task_kind": "call", "owner": "", "amount": "0",
                  "unit": "minutes"}]), admin.id)
    web = Web(make_app(REDIS_URL=redis_url).test_client())
    web.login(admin)
    started = web.post(f"/settings/automations/{rule.id}/apply", {}, htmx=True)
    assert started.status_code == 200 and "Applying “Call Acme” to existing leads" in started.text
    backfill = db.session.scalars(select(AutomationBackfill)).one()
    assert redis.exists(f"rq:job:automation-backfill-{backfill.id}")

    run_worker()

    db.session.expire_all()
    backfill = db.session.get(AutomationBackfill, backfill.id)
    assert (backfill.state, backfill.done, backfill.acted) == ("done", 12, 8)
    assert db.session.scalar(select(func.count()).select_from(Task)) == 8
    assert "12 leads looked at, its steps ran on 8" in web.get(f"/settings/automations/{rule.id}/apply", htmx=True).text
