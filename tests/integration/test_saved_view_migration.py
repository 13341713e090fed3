"""The migration that makes saved view names unique per owner in any case renames the views a
person already had twice ("Hot" and "HOT"), keeping both views and every other name."""
from __future__ import annotations

from flask_migrate import upgrade
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from app.extensions import db

BEFORE = "fb1c2d3e4f5a"  # main's head when the index changed


def test_names_one_owner_had_twice_in_two_cases_are_numbered_and_then_refused(migration_app):
    with migration_app.app_context():
        upgrade(revision=BEFORE)
        run = lambda sql, **params: db.session.execute(text(sql), params)  # noqa: E731
        for uid in (1, 2):
            run("INSERT INTO users (id, email, name, password_hash, role, active, created_at)"
                " VALUES (:id, :email, 'P', 'x', 'member', true, CURRENT_TIMESTAMP)", id=uid, email=f"p{uid}@example.com")
        for view_id, owner, name in ((1, 1, "Hot"), (2, 1, "HOT"), (3, 1, "hot"), (4, 1, "Hot (2)"),
                                     (5, 2, "Hot"), (6, 1, "Cold")):
            run("INSERT INTO saved_views (id, owner_id, name, shared, target, query, created_at)"
                " VALUES (:id, :owner, :name, false, 'pool', '', CURRENT_TIMESTAMP)", id=view_id, owner=owner, name=name)
        db.session.commit()

        upgrade()

        names = dict(db.session.execute(text("SELECT id, name FROM saved_views ORDER BY id")).all())
        # The oldest keeps its name; the others get the next number free (Hot (2) was taken).
        assert names == {1: "Hot", 2: "HOT (3)", 3: "hot (4)", 4: "Hot (2)", 5: "Hot", 6: "Cold"}
        try:
            run("INSERT INTO saved_views (owner_id, name, shared, target, query, created_at)"
                " VALUES (1, 'COLD', false, 'pool', '', CURRENT_TIMESTAMP)")
            db.session.commit()
            refused = False
        except IntegrityError:
            db.session.rollback()
            refused = True
        assert refused
