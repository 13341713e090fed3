"""The migration to per-kind email choices keeps each person's old "email me when a task is due"
choice, gives existing notices their kind, and downgrades back (issue 12, section 4)."""
from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from app.extensions import db

BEFORE, AFTER = "f7a8b9c0d1e2", "a2e3f4a5b6c7"


def test_the_old_task_reminder_choice_becomes_the_task_due_email_choice_and_back(migration_app):
    with migration_app.app_context():
        upgrade(revision=BEFORE)
        run = lambda sql, **params: db.session.execute(text(sql), params)  # noqa: E731
        for uid, reminders in ((1, True), (2, False)):
            run("INSERT INTO users (id, email, name, password_hash, role, active, email_task_reminders, created_at)"
                " VALUES (:id, :email, 'P', 'x', 'member', :yes, :reminders, CURRENT_TIMESTAMP)",
                id=uid, email=f"p{uid}@example.com", yes=True, reminders=reminders)
        run("INSERT INTO notifications (user_id, message, created_at) VALUES (1, 'To-do due: Call (Nora Quinn)',"
            " CURRENT_TIMESTAMP), (1, 'The assignment rule “X” is skipped', CURRENT_TIMESTAMP)")
        db.session.commit()

        upgrade(revision=AFTER)
        assert run("SELECT user_id, kind, email FROM notification_preferences").all() == [(1, "task_due", True)]
        assert sorted(run("SELECT kind FROM notifications").scalars()) == ["rule_broken", "task_due"]
        db.session.commit()

        downgrade(revision=BEFORE)
        assert run("SELECT id, email_task_reminders FROM users ORDER BY id").all() == [(1, True), (2, False)]
        db.session.commit()
        db.engine.dispose()
