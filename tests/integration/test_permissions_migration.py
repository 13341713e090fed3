"""The migration that adds the members' permission switches and API key roles keeps today's behaviour:
a saved team keeps every switch on, an existing key becomes an admin key that may write; and it
downgrades back (issue 16, section 3)."""
from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from app.extensions import db

BEFORE, AFTER = "c1d2e3f4a5b6", "a7c3e9f1d2b4"
SWITCHES = ("member_see_all_leads", "member_reassign", "member_merge", "member_import", "member_export",
            "member_delete")


def test_existing_settings_allow_members_everything_and_existing_keys_become_admin_keys(migration_app):
    with migration_app.app_context():
        upgrade(revision=BEFORE)
        run = lambda sql, **params: db.session.execute(text(sql), params)  # noqa: E731
        run("INSERT INTO team_settings (id, timezone, ask_next_task, lost_reason_required, board_closed_days, currency)"
            " VALUES (1, 'UTC', false, false, 30, 'USD')")
        run("INSERT INTO api_keys (id, name, prefix, key_hash, created_at) VALUES"
            " (1, 'Website', 'lb_abc', 'hash', CURRENT_TIMESTAMP)")
        db.session.commit()

        upgrade(revision=AFTER)
        # every switch on, as members could before, but delete: only admins could delete before
        assert tuple(run(f"SELECT {', '.join(SWITCHES)} FROM team_settings").one()) == (True,) * 5 + (False,)
        assert tuple(run("SELECT role, read_only FROM api_keys").one()) == ("admin", False)
        db.session.commit()

        downgrade(revision=BEFORE)
        assert run("SELECT name FROM api_keys").scalars().all() == ["Website"]
        assert run("SELECT timezone FROM team_settings").scalars().all() == ["UTC"]
        db.session.commit()
        db.engine.dispose()
