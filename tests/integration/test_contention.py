"""Two changes to the same rows at once: the one that has to give way is told to try again (503),
never shown a 500, and nothing of it is saved."""
from __future__ import annotations

import pytest
from sqlalchemy import create_engine, func, select, text

from app.extensions import db
from app.models import Lead
from tests.conftest import Web


@pytest.fixture
def impatient_app(make_app, database_url):
    """An app whose PostgreSQL connections give up a lock wait after 300 ms instead of waiting on."""
    if not database_url.startswith("postgresql"):
        pytest.skip("lock waits that give up are PostgreSQL's; SQLite has one writer at a time")
    app = make_app(SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"options": "-c lock_timeout=300"}})
    with app.app_context():
        yield app


def test_a_lead_added_while_its_stage_totals_are_locked_is_refused_as_busy_and_not_saved(impatient_app, database_url):
    from app.services.stages import ensure_default_pipeline
    from app.services.users import create_user
    from tests.conftest import TEST_PASSWORD
    pool = ensure_default_pipeline()[0]
    member = create_user("busy@example.com", TEST_PASSWORD, "member", "Busy Bee")
    web = Web(impatient_app.test_client())
    web.login(member)
    other = create_engine(database_url)
    with other.connect() as conn:
        conn.execute(text("SELECT id FROM stages WHERE id = :id FOR UPDATE"), {"id": pool.id})
        response = web.post("/leads/new", {"first_name": "Grace", "email": "grace@example.com"})
        conn.rollback()
    other.dispose()
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert "nothing was saved. Try again." in response.get_data(as_text=True)
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Lead)) == 0
    # The next try, with the other change finished, goes through.
    assert web.post("/leads/new", {"first_name": "Grace", "email": "grace@example.com"}).status_code == 302
    assert db.session.scalar(select(func.count()).select_from(Lead)) == 1


def test_a_change_racing_a_merge_waits_for_it_and_then_finds_the_lead_gone(app, database_url, make_lead, member):
    """A merge locks and deletes the lead it folds away; an assign or a note arriving meanwhile
    waits, then answers "not found" instead of writing rows that point at a deleted lead (a 500)."""
    import threading

    from app.services.leads import LeadNotFound, add_note, assign_lead
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time: the change simply runs before or after the merge")
    loser = make_lead(first_name="Gone", email="gone@example.com").id
    member_id, outcomes = member.id, []

    def change(action):
        with app.app_context():
            try:
                action()
                outcomes.append("saved")
            except LeadNotFound:
                outcomes.append("not found")
            except Exception as exc:  # noqa: BLE001 - any other failure is the finding
                outcomes.append(repr(exc))
            finally:
                db.session.remove()

    other = create_engine(database_url)
    with other.connect() as merging:
        merging.execute(text("SELECT id FROM leads WHERE id = :id FOR UPDATE"), {"id": loser})
        threads = [threading.Thread(target=change, args=(lambda: assign_lead(loser, member_id, member_id),)),
                   threading.Thread(target=change, args=(lambda: add_note(loser, "Called them", member_id),))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=0.5)
        assert outcomes == []  # both wait for the merge
        merging.execute(text("DELETE FROM timeline_entries WHERE lead_id = :id"), {"id": loser})
        merging.execute(text("DELETE FROM leads WHERE id = :id"), {"id": loser})
        merging.commit()
    for thread in threads:
        thread.join(timeout=10)
    other.dispose()
    assert outcomes == ["not found", "not found"]


@pytest.mark.parametrize("fields", [{"email": "race@example.com"}, {"company": "RaceX Ltd"},
                                    {"first_name": "Ra", "last_name": "Ce", "company": "Acme"},
                                    {"phone": "+14155550123", "first_name": "Ra"}],
                         ids=["email", "company", "name-and-company", "phone"])
def test_the_same_person_captured_nine_times_at_once_is_one_lead(app, database_url, stages, fields):
    """Each capture looked for the person, found no one, and made a lead: eight twins. Each now waits
    for the one capturing the same person to commit (identity.hold), then finds its lead."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time: captures cannot interleave")
    import threading

    from sqlalchemy import func, select

    from app.models import Lead
    from app.services.capture import capture_lead
    start, errors = threading.Barrier(9), []

    def one():
        with app.app_context():
            try:
                start.wait(timeout=10)
                capture_lead(dict(fields), via="API")
            except Exception as exc:  # noqa: BLE001 - any failure is the finding
                errors.append(repr(exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=one) for _ in range(9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert db.session.scalar(select(func.count()).select_from(Lead)) == 1
