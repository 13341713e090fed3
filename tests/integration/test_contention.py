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
