"""Task reminders through real `worker.py` processes: a due task notifies its owner once (in-app, and
by email over real SMTP when they chose it), even with two workers sweeping at the same moment; a task
done or moved before its time sends nothing. (The sweep's own clock is injected in
tests/integration/test_tasks.py; here the tasks are due against the worker's real clock.)"""
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Notification, OutboxEmail, Task
from app.services import tasks, utcnow
from app.services.team_settings import save_account
from tests.jobs.conftest import MAIL_FROM

pytestmark = [pytest.mark.redis, pytest.mark.jobs]


@pytest.fixture
def app(make_app, redis, redis_url):
    app = make_app(REDIS_URL=redis_url, MAIL_FROM=MAIL_FROM)
    with app.app_context():
        yield app


def notifications(user_id: int) -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(select(Notification.message).where(Notification.user_id == user_id)
                                   .order_by(Notification.id)))


def test_the_worker_reminds_a_due_task_once_by_notification_and_email(app, make_user, make_lead, run_worker,
                                                                        smtp_server):
    ann = make_user(name="Ann", email="ann@example.com")
    save_account(ann.id, None, {"task_due"})
    lead = make_lead(owner=ann, first_name="Ada", last_name="Lovelace")
    now = utcnow()
    due = tasks.create_task(lead.id, ann.id, title="Call Ada", kind="call", due_at=now - timedelta(minutes=1))
    done = tasks.create_task(lead.id, ann.id, title="Done early", due_at=now - timedelta(minutes=1))
    moved = tasks.create_task(lead.id, ann.id, title="Moved", due_at=now - timedelta(minutes=1))
    later = tasks.create_task(lead.id, ann.id, title="Next week", due_at=now + timedelta(days=7))
    tasks.complete_task(done.id, ann.id)
    tasks.snooze_task(moved.id, ann.id, "tomorrow")

    run_worker()

    assert notifications(ann.id) == ["Call due: Call Ada (Ada Lovelace)"]
    message = smtp_server.wait_for(1)[0]
    assert message["To"] == "Ann <ann@example.com>" and message["Subject"] == "Call due: Call Ada (Ada Lovelace)"
    assert db.session.get(Task, due.id).reminded_at is not None
    assert db.session.get(Task, later.id).reminded_at is None

    run_worker()  # a second sweep finds nothing new
    assert notifications(ann.id) == ["Call due: Call Ada (Ada Lovelace)"]
    assert db.session.scalar(select(func.count()).select_from(OutboxEmail)) == 1


def test_two_workers_sweeping_at_once_remind_each_task_once(app, make_user, make_lead, start_worker):
    ann = make_user(name="Ann")
    lead = make_lead(owner=ann)
    now = utcnow()
    ids = [tasks.create_task(lead.id, ann.id, title=f"Task {n}", due_at=now - timedelta(minutes=n)).id
           for n in range(1, 41)]
    workers = [start_worker(), start_worker()]
    for worker in workers:
        output, _ = worker.communicate(timeout=120)
        assert worker.returncode == 0, output
    messages = notifications(ann.id)
    assert sorted(messages) == sorted(f"To-do due: Task {n} (Lena Lead)" for n in range(1, 41))
    assert db.session.scalar(select(func.count()).select_from(Task).where(Task.id.in_(ids),
                                                                         Task.reminded_at.is_(None))) == 0
