"""One user action is one transaction (issue 9, section 1): a capture that fails at its last step,
or an import row that does, leaves nothing of itself behind, on SQLite and PostgreSQL.

The failure is a real one: the database refuses the capture's last write (its "created" timeline
entry is given an author who does not exist, so the foreign key says no)."""
from __future__ import annotations

import io
import time
from contextlib import contextmanager

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import CaptureForm, ImportRow, Lead, Notification, OutboxEmail, TimelineEntry
from app.services import atomic
from app.services import capture_forms as form_service
from app.services.capture import capture_lead
from app.services.imports import create_import, run_import
from tests.conftest import Web
from tests.integration.test_import import csv_bytes

NOBODY = 2_000_000_000  # no user has this id


def count(model, *where) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def nothing_left() -> bool:
    return (count(Lead), count(TimelineEntry), count(OutboxEmail), count(Notification)) == (0, 0, 0, 0)


@contextmanager
def last_write_refused(first_name: str = "Boom"):
    """While inside: the database refuses the "created" entry of any lead with this first name."""
    def break_it(session, flush_context, instances):
        for obj in session.new:
            if isinstance(obj, TimelineEntry) and obj.kind == "created":
                lead = session.get(Lead, obj.lead_id)
                if lead is not None and lead.first_name == first_name:
                    obj.actor_id = NOBODY
    event.listen(Session, "before_flush", break_it)
    try:
        yield
    finally:
        event.remove(Session, "before_flush", break_it)


def test_a_capture_that_fails_at_its_last_step_leaves_nothing_behind(stages):
    with last_write_refused(), pytest.raises(IntegrityError):
        capture_lead({"first_name": "Boom", "email": "boom@example.com"}, via="test")
    assert nothing_left()
    capture_lead({"first_name": "Fine", "email": "fine@example.com"}, via="test")  # the session is usable
    assert count(Lead) == 1 and count(TimelineEntry) == 1


def test_a_failed_capture_inside_a_larger_action_undoes_the_whole_action(stages, make_lead):
    with last_write_refused(), pytest.raises(IntegrityError):
        with atomic():
            capture_lead({"first_name": "Kept?", "email": "kept@example.com"}, via="test")
            capture_lead({"first_name": "Boom", "email": "boom@example.com"}, via="test")
    assert nothing_left()


def test_a_web_form_submission_that_fails_at_its_last_step_is_not_saved_or_counted(app, stages):
    form = form_service.create_form(form_service.FormSettings(
        name="Contact", slug="contact", fields={"first_name": "optional", "email": "required"}))
    token = form_service.rendered_token(form.id, now=time.time() - 20)
    web = Web(app.test_client())
    with last_write_refused():
        response = web.post("/f/contact", {"rendered": token, "website": "", "first_name": "Boom",
                                           "email": "boom@example.com"}, csrf=False)
    # The refused write points at a user who is not there: answered as "removed meanwhile" (409).
    assert response.status_code == 409 and "nothing was saved" in response.text
    assert nothing_left()
    db.session.expire_all()
    assert db.session.get(CaptureForm, form.id).submissions == 0


def test_an_import_row_that_fails_at_its_last_step_is_rejected_and_the_rest_of_its_batch_saved(stages):
    data = csv_bytes([["First Name", "Email", "Phone"],
                      ["Ada", "ada@example.com", "(415) 555-0101"],
                      ["Boom", "boom@example.com", "(415) 555-0102"],
                      ["Grace", "grace@example.com", ""]])
    imp = create_import(io.BytesIO(data), "people.csv", None)
    imp.duplicates, imp.status = "skip", "queued"
    db.session.commit()
    with last_write_refused():
        imp = run_import(imp.id, by_row=True)  # every row through capture_lead, whose ORM writes the hook breaks
    assert (imp.status, imp.created_count, imp.rejected_count) == ("done", 2, 1)
    assert [lead.first_name for lead in db.session.scalars(select(Lead).order_by(Lead.id))] == ["Ada", "Grace"]
    assert count(Lead, Lead.email == "boom@example.com") == 0
    assert count(TimelineEntry) == 2  # the two leads' "created" entries, none for the refused row
    assert count(OutboxEmail) == 0
    rejection = db.session.scalar(select(ImportRow).where(ImportRow.outcome == "rejected"))
    assert rejection.row_number == 3 and rejection.reason.startswith("Could not be saved")
    assert rejection.values == ["Boom", "boom@example.com", "(415) 555-0102"]


@contextmanager
def leads_named_refused(first_name: str = "Boom"):
    """While inside: a trigger makes the database refuse any lead with this first name, however it is
    inserted (one by one through the ORM, or a batch's executemany)."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("CREATE FUNCTION refuse_named() RETURNS trigger AS $$ BEGIN "
                                f"IF NEW.first_name = '{first_name}' THEN RAISE EXCEPTION 'refused' "
                                "USING ERRCODE = 'check_violation'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"))
        db.session.execute(text("CREATE TRIGGER refuse_named BEFORE INSERT ON leads FOR EACH ROW "
                                "EXECUTE FUNCTION refuse_named()"))
        dropping = ["DROP TRIGGER refuse_named ON leads", "DROP FUNCTION refuse_named()"]
    else:
        db.session.execute(text(f"CREATE TRIGGER refuse_named BEFORE INSERT ON leads WHEN NEW.first_name = "
                                f"'{first_name}' BEGIN SELECT RAISE(ABORT, 'refused'); END"))
        dropping = ["DROP TRIGGER refuse_named"]
    db.session.commit()
    try:
        yield
    finally:
        db.session.rollback()
        for statement in dropping:
            db.session.execute(text(statement))
        db.session.commit()


def test_a_row_the_database_refuses_inside_a_batch_is_rejected_and_the_rest_of_the_batch_saved(stages):
    """The batch's new leads are one executemany: when the database refuses it, each of its rows
    goes through capture_lead instead, and only the refused one is rejected."""
    rows = [["First Name", "Email"]] + [[f"Lead{i}", f"lead{i}@example.com"] for i in range(6)]
    rows[4] = ["Boom", "boom@example.com"]
    imp = create_import(io.BytesIO(csv_bytes(rows)), "people.csv", None)
    imp.duplicates, imp.status = "skip", "queued"
    db.session.commit()
    with leads_named_refused():
        imp = run_import(imp.id)
    assert (imp.status, imp.created_count, imp.rejected_count, imp.rows_done) == ("done", 5, 1, 6)
    assert [lead.first_name for lead in db.session.scalars(select(Lead).order_by(Lead.id))] == \
        ["Lead0", "Lead1", "Lead2", "Lead4", "Lead5"]
    assert count(TimelineEntry, TimelineEntry.kind == "created") == 5
    outcomes = dict(db.session.execute(select(ImportRow.row_number, ImportRow.outcome)).all())
    assert outcomes == {2: "created", 3: "created", 4: "created", 5: "rejected", 6: "created", 7: "created"}
    rejection = db.session.scalar(select(ImportRow).where(ImportRow.outcome == "rejected"))
    assert rejection.reason.startswith("Could not be saved") and rejection.values == ["Boom", "boom@example.com"]
