"""Enrolling every lead the pool's filters match, through a real RQ worker process on Redis."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import SequenceBulkRun, SequenceEnrolment
from app.services import email_templates, sequence_bulk, sequences
from tests.conftest import Web

pytestmark = [pytest.mark.redis, pytest.mark.jobs]


def test_a_lost_run_is_queued_again_and_the_worker_enrols_every_matching_lead(make_app, redis, redis_url, member,
                                                                               make_lead, run_worker):
    template = email_templates.create_template(email_templates.TemplateSettings(
        name="Hello", subject="Hello", body_html="<p>Hello</p>"))
    sequence = sequences.create_sequence("Warm up")
    sequences.add_step(sequence.id, sequences.StepSettings(template_id=template.id, delay_days=1))
    sequences.start(sequence.id)
    qualified = [make_lead(stage="Qualified", first_name=f"Q{i}", email=f"q{i}@example.com") for i in range(7)]
    make_lead(first_name="New", email="new@example.com")
    db.session.commit()
    web = Web(make_app(REDIS_URL=redis_url).test_client())
    web.login(member)
    stage_id = qualified[0].stage_id
    response = web.post(f"/leads/sequence-runs?stage={stage_id}", {"sequence": str(sequence.id)})
    run = db.session.scalars(select(SequenceBulkRun)).one()
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/leads/sequence-runs/{run.id}")
    assert redis.exists(f"rq:job:sequence-bulk-{run.id}")

    redis.flushdb()  # Redis lost the job
    with web.app.app_context():  # the app whose queue is the test Redis
        assert sequence_bulk.requeue_lost_runs(run.created_at + timedelta(minutes=2)) == 1
    assert redis.exists(f"rq:job:sequence-bulk-{run.id}")
    run_worker()

    db.session.expire_all()
    run = db.session.get(SequenceBulkRun, run.id)
    assert (run.state, run.total, run.done, run.enrolled) == ("done", 7, 7, 7)
    enrolled = set(db.session.scalars(select(SequenceEnrolment.lead_id)))
    assert enrolled == {lead.id for lead in qualified}
    assert db.session.scalar(select(func.count()).select_from(SequenceEnrolment)) == 7
    page = web.get(f"/leads/sequence-runs/{run.id}").get_data(as_text=True)
    assert "Finished: 7 leads gone through." in page
