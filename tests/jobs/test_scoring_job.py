"""Re-scoring every lead after a rule change, through a real RQ worker process on Redis."""
import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Lead, ScoringRun
from app.services.capture import capture_lead
from tests.conftest import Web

pytestmark = [pytest.mark.redis, pytest.mark.jobs]


@pytest.fixture
def admin_web(make_app, redis, redis_url, admin, stages):
    web = Web(make_app(REDIS_URL=redis_url).test_client())
    web.login(admin)
    return web


def test_a_rule_added_in_the_browser_rescores_every_lead_on_the_worker(admin_web, redis, run_worker):
    for n in range(25):
        capture_lead({"first_name": f"L{n}", "email": f"l{n}@{'gmail.com' if n % 5 == 0 else 'acme.example'}"},
                     via="api")
    response = admin_web.post("/settings/scoring/rules", data={
        "label": "business email", "condition_field": "email", "condition_op": "is_not_free_mail",
        "condition_value": "", "points": "20", "enabled": "y"})
    assert response.status_code == 302, response.get_data(as_text=True)
    run = db.session.scalar(select(ScoringRun).order_by(ScoringRun.id.desc()))
    assert run.status == "queued" and run.total == 25
    assert redis.exists(f"rq:job:scoring-run-{run.id}")
    progress = admin_web.get("/settings/scoring/progress", htmx=True).get_data(as_text=True)
    assert "<html" not in progress and "Scores are being updated" in progress and 'hx-trigger="every 2s"' in progress
    assert "Scores are being updated" in admin_web.get("/leads").get_data(as_text=True)

    run_worker()

    db.session.expire_all()
    run = db.session.get(ScoringRun, run.id)
    assert (run.status, run.done) == ("done", 25)
    scores = sorted(db.session.scalars(select(Lead.score)))
    assert scores == [0] * 5 + [20] * 20
    progress = admin_web.get("/settings/scoring/progress", htmx=True).get_data(as_text=True)
    assert "Scores are being updated" not in progress and "hx-trigger" not in progress


def test_a_run_delivered_twice_scores_once_and_a_lost_one_is_queued_again_by_the_sweep(admin_web, redis, run_worker):
    from app.services import scoring
    capture_lead({"first_name": "Ann", "email": "ann@acme.example"}, via="api")
    admin_web.post("/settings/scoring/rules", data={
        "label": "has email", "condition_field": "email", "condition_op": "is_not_empty", "points": "5", "enabled": "y"})
    run = db.session.scalar(select(ScoringRun).order_by(ScoringRun.id.desc()))
    redis.flushdb()  # Redis lost the job
    from datetime import timedelta
    with admin_web.app.app_context():  # the app whose queue is the test Redis
        assert scoring.requeue_lost_runs(run.created_at + timedelta(minutes=2)) == 1
    assert redis.exists(f"rq:job:scoring-run-{run.id}")
    run_worker()
    db.session.expire_all()
    assert db.session.get(ScoringRun, run.id).status == "done"
    assert scoring.run_rescore(run.id) is None  # delivered again: nothing to do
    assert db.session.scalar(select(Lead.score)) == 5
