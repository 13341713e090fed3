"""Settings kept between captures (services.settings_cache): a capture reads one token instead of the
rules, fields, stages and people, and a change committed anywhere, by a service or by hand, through
this app or another one on the same database (another gunicorn worker, the RQ worker), is seen by
the very next capture."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import date, datetime

import pytest
from sqlalchemy import event, select, text

from app.extensions import db
from app.models import CustomField, ScoringRule, SettingsVersion, Stage, User
from app.services import ServiceError, assignment, conditions, custom_fields as cf, scoring, settings_token, stages as stage_service
from app.services.availability import set_availability
from app.services.capture import capture_lead
from app.services.users import create_user

NOW = datetime(2026, 12, 2, 10, 0)  # a Wednesday, 10:00 UTC
# Not "stages": every capture, with rules or none, reads and locks the stage its lead goes into.
SETTINGS_TABLES = ("scoring_rules", "assignment_rules", "assignment_groups", "custom_fields", "score_bands",
                   "working_hours", "capture_forms", "team_settings")


@contextmanager
def statements():
    seen: list[str] = []

    def log(conn, cursor, statement, params, context, executemany):
        seen.append(statement)
    event.listen(db.engine, "before_cursor_execute", log)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", log)


def capture(n: int, **data):
    return capture_lead({"email": f"lead{n}@acme.example", "first_name": "Lee", **data}, via="api", now=NOW)


def score_rule(label: str, cond: dict, points: int):
    return scoring.save_rule(None, label=label, condition=conditions.check(cond), points=points)


@pytest.fixture
def team(app):
    stage_service.ensure_default_pipeline()
    ann = create_user("ann@example.com", "correct horse battery staple", "member", "Ann")
    ben = create_user("ben@example.com", "correct horse battery staple", "member", "Ben")
    cf.create_field(cf.FieldSettings(label="Budget", key="budget", kind="number"))
    score_rule("Company", {"field": "company", "op": "is_not_empty"}, 10)
    score_rule("Budget", {"field": "custom.budget", "op": "is_not_empty"}, 5)
    group = assignment.save_group(None, name="Sales", members={ann.id: 1, ben.id: 1})
    assignment.save_rule(None, name="Everyone", condition={}, target="round_robin", group_id=group.id)
    return ann, ben


def test_a_capture_reads_the_token_not_the_settings(team):
    capture(1, company="Acme")  # the first capture reads and keeps them
    token = settings_token()
    db.session.rollback()
    with statements() as seen:
        captured = capture(2, company="Acme", custom={"budget": "12"})
    assert captured.lead.score == 15 and captured.lead.owner_id in {u.id for u in team}
    reads = [s for s in seen if s.lstrip().upper().startswith("SELECT")]
    assert sum("settings_versions" in s for s in reads) == 1, "\n".join(seen)
    for table in SETTINGS_TABLES:
        assert not [s for s in reads if f"FROM {table}" in s or f"JOIN {table}" in s], table
    assert db.session.scalar(select(SettingsVersion.token)) == token  # capturing changes no setting


def test_a_setting_saved_renews_the_token_in_its_own_transaction(team):
    before = db.session.scalar(select(SettingsVersion.token))
    db.session.rollback()
    score_rule("Phone", {"field": "phone", "op": "is_not_empty"}, 3)
    after = db.session.scalar(select(SettingsVersion.token))
    assert after and after != before
    db.session.rollback()
    with pytest.raises(ServiceError):
        stage_service.add_stage("", "#000000")  # refused: nothing saved, the token stays
    db.session.rollback()
    assert db.session.scalar(select(SettingsVersion.token)) == after


def test_changes_made_through_another_app_are_seen_by_the_next_capture(team, make_app):
    ann, ben = team
    other = make_app()  # a second worker on the same database: its own engine, its own kept settings
    assert capture(1, company="Acme").lead.score == 10
    with other.app_context():
        score_rule("Director", {"field": "job_title", "op": "contains", "value": "director"}, 40)
    assert capture(2, company="Acme", job_title="Sales Director").lead.score == 50

    with pytest.raises(ServiceError, match="no custom field"):
        capture(3, custom={"territory_code": "North"})
    db.session.rollback()
    with other.app_context():
        cf.create_field(cf.FieldSettings(label="Territory code", key="territory_code", kind="text"))
        score_rule("Region", {"field": "custom.territory_code", "op": "equals", "value": "North"}, 7)
    assert capture(4, custom={"territory_code": "North"}).lead.score == 7

    with other.app_context():
        assignment.save_rule(None, name="Big budgets", condition=conditions.check(
            {"field": "custom.budget", "op": "gte", "value": "1000"}), target="person", user_id=ben.id)
        assignment.reorder_rules([r.id for r in reversed(assignment.rules())])
    assert capture(5, custom={"budget": "5000"}).lead.owner_id == ben.id

    with other.app_context():
        set_availability(ben.id, date(2026, 12, 31), {}, now=NOW)  # Ben is away: the rule has nobody
    assert capture(6, custom={"budget": "5000"}).lead.owner_id == ann.id

    with other.app_context():
        stage_id = stage_service.add_stage("Negotiation", "#123456").id
    assert "Negotiation" in {name for _, name in conditions.fields()["stage"].choices}
    db.session.rollback()
    assert stage_id in {stage_id for stage_id, _ in conditions.fields()["stage"].choices}


def test_changes_written_by_hand_in_another_session_are_seen(team, make_app):
    """Not only the services: any committed write to a settings table (here plain ORM changes in
    another app, as a script or a shell would make them) renews the token."""
    ann, ben = team
    other = make_app()
    assert capture(1, company="Acme").lead.score == 10
    with other.app_context():
        rule = db.session.scalar(select(ScoringRule).where(ScoringRule.label == "Company"))
        rule.points = 99
        db.session.commit()
    assert capture(2, company="Acme").lead.score == 99

    with other.app_context():
        field = db.session.scalar(select(CustomField).where(CustomField.key == "budget"))
        db.session.delete(field)
        db.session.commit()
    with pytest.raises(ServiceError, match="no custom field"):
        capture(3, custom={"budget": "1"})
    db.session.rollback()

    with other.app_context():
        for user in db.session.scalars(select(User)):
            user.active = user.id == ben.id
        db.session.commit()
    assert capture(4).lead.owner_id == ben.id

    with other.app_context():
        db.session.scalar(select(Stage).order_by(Stage.position).limit(1)).name = "Fresh"
        db.session.commit()
    assert "Fresh" in {name for _, name in conditions.fields()["stage"].choices}


def test_a_missing_token_row_keeps_nothing(team):
    """A table emptied by hand: settings are read every time until the next change writes the row again."""
    db.session.execute(text("DELETE FROM settings_versions"))
    db.session.commit()
    assert settings_token() is None
    db.session.rollback()
    assert capture(1, company="Acme").lead.score == 10
    score_rule("Phone", {"field": "phone", "op": "is_not_empty"}, 3)
    assert settings_token() is not None
    db.session.rollback()
    assert capture(2, company="Acme", phone="+4930123456").lead.score == 13
