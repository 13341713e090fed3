"""Deleting a lead moves it to the trash for 30 days: it leaves every list, count, search, export,
API answer and duplicate match, an admin can restore it, and then the sweep purges it with its
notes, timeline and emails (issue 16, section 4)."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEntry, Lead, Note, OutboxEmail, TimelineEntry
from app.services import atomic, totals, trash, utcnow
from app.services.capture import capture_lead
from app.services.lead_queries import PoolFilters, pool_page, pool_total
from app.services.leads import LeadNotFound, get_lead
from app.services.outbox import queue_email
from app.services.search import search
from app.services.timeline import record
from tests.conftest import Web


def _note(lead_id: int, body: str, author_id: int) -> None:
    db.session.add(Note(lead_id=lead_id, body=body, author_id=author_id))
    record(lead_id, "note", author_id, {"body": body})
    db.session.commit()


def _pool_ids(user_id: int, **filters) -> list[int]:
    return [lead.id for lead in pool_page(PoolFilters(**filters), user_id).items]


def test_a_deleted_lead_leaves_every_list_count_search_and_match_until_it_is_restored(app, make_lead, admin):
    kept = make_lead(first_name="Kim", last_name="Kept", email="kim@example.com", value="10")
    gone = make_lead(first_name="Gail", last_name="Gone", email="gail@example.com", phone="+14155550123", value="250")
    before = totals.lead_count()

    trash.trash(gone.id, admin.id)

    db.session.expire_all()
    assert _pool_ids(admin.id) == [kept.id]
    assert pool_total(PoolFilters(), admin.id).count == 1
    assert pool_total(PoolFilters(q="Gail"), admin.id).count == 0
    assert totals.lead_count() == before - 1 and totals.stored() == totals.recount()
    assert [lead.id for lead in search("Gail").leads] == []
    with pytest.raises(LeadNotFound):
        get_lead(gone.id)
    # A new capture of the same person is a new lead, not a match with one nobody can see.
    again = capture_lead({"first_name": "Gail", "email": "gail@example.com"}, via="api")
    assert again.created and again.lead.id != gone.id
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "lead.deleted"))
    assert entry.target == "Gail Gone" and entry.details == {"lead_id": gone.id}

    trash.restore(gone.id, admin.id)
    db.session.expire_all()
    assert set(_pool_ids(admin.id)) == {kept.id, gone.id, again.lead.id}
    assert gone.id in [lead.id for lead in search("Gail").leads]
    assert totals.lead_count() == before + 1 and totals.stored() == totals.recount()
    kinds = list(db.session.scalars(select(TimelineEntry.kind).where(TimelineEntry.lead_id == gone.id)
                                    .order_by(TimelineEntry.id)))
    assert kinds[-2:] == ["deleted", "restored"]
    assert get_lead(gone.id).deleted_at is None


def test_the_sweep_purges_leads_trashed_more_than_thirty_days_ago_with_their_notes_timeline_and_emails(
        app, make_lead, admin):
    old_id = make_lead(first_name="Olga", email="olga@example.com").id
    recent_id = make_lead(first_name="Rita", email="rita@example.com").id
    _note(old_id, "Called Olga", admin.id)
    with atomic():
        queue_email(kind="lead_email", to_address="olga@example.com", subject="Hello Olga", text_body="Hi",
                    html_body="<p>Hi</p>", lead_id=old_id)
    now = utcnow()
    trash.trash(old_id, admin.id, now=now - timedelta(days=31))
    trash.trash(recent_id, admin.id, now=now - timedelta(days=29))

    assert trash.purge_due(now) == 1

    db.session.expire_all()
    assert db.session.get(Lead, old_id) is None
    assert db.session.get(Lead, recent_id).deleted_at is not None
    for model in (Note, TimelineEntry, OutboxEmail):
        assert db.session.scalar(select(func.count()).select_from(model).where(model.lead_id == old_id)) == 0
    assert totals.stored() == totals.recount()
    assert trash.purge_due(now) == 0


def test_admins_delete_and_restore_from_the_pages_and_members_are_refused(app, make_lead, admin, member, as_admin):
    lead = make_lead(first_name="Pia", last_name="Page", email="pia@example.com")
    page = as_admin.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert "Delete" in page and "Erase person" in page

    reply = as_admin.post(f"/leads/{lead.id}/delete")
    assert reply.status_code == 302
    assert db.session.get(Lead, lead.id).deleted_at is not None
    gone_page = as_admin.get(f"/leads/{lead.id}")
    assert gone_page.status_code == 404 and "Pia Page is in the trash" in gone_page.get_data(as_text=True)
    assert "Pia Page" not in as_admin.get("/leads").get_data(as_text=True)
    listed = as_admin.get("/settings/trash").get_data(as_text=True)
    assert "Pia Page" in listed and "Deleted by Ada Admin" in listed
    again = as_admin.post(f"/leads/{lead.id}/delete")  # already in the trash: it says so, and where
    text = again.get_data(as_text=True)
    assert again.status_code == 409 and "Pia Page is already in the trash" in text
    assert 'href="/settings/trash"' in text and "does not exist" not in text

    other = Web(app.test_client())
    other.login(member)
    refused = other.post(f"/leads/{lead.id}/delete")
    assert refused.status_code in (403, 404)
    kept = make_lead(first_name="Mia", email="mia@example.com")
    refused = other.post(f"/leads/{kept.id}/delete")
    assert refused.status_code == 403 and "Members may not delete leads" in refused.get_data(as_text=True)
    assert db.session.get(Lead, kept.id).deleted_at is None
    assert other.get("/settings/trash").status_code == 403
    assert other.post(f"/settings/trash/{lead.id}/restore").status_code == 403

    assert as_admin.post(f"/settings/trash/{lead.id}/restore").status_code == 302
    assert db.session.get(Lead, lead.id).deleted_at is None
    assert as_admin.post(f"/settings/trash/{lead.id}/restore").status_code == 404
    assert "The trash is empty" in as_admin.get("/settings/trash").get_data(as_text=True)
    assert as_admin.post(f"/leads/{lead.id}/delete", csrf=False).status_code == 400
    # The team may let members delete (Settings → Team settings): then they may.
    from app.services import team_settings
    team_settings.save("UTC", None, member_permissions={"delete": True})
    db.session.commit()
    assert other.post(f"/leads/{kept.id}/delete").status_code == 302
    assert db.session.get(Lead, kept.id, populate_existing=True).deleted_at is not None
    twice = other.post(f"/leads/{kept.id}/delete")  # a member is told too, without the admins' way in
    assert twice.status_code == 409 and "is already in the trash" in twice.get_data(as_text=True)
    assert 'href="/settings/trash"' not in twice.get_data(as_text=True)


def test_the_api_and_the_csv_export_leave_out_the_trash(app, make_lead, admin, as_admin):
    shown = make_lead(first_name="Shown", email="shown@example.com")
    hidden = make_lead(first_name="Hidden", email="hidden@example.com")
    trash.trash(hidden.id, admin.id)
    exported = as_admin.get("/leads/export.csv").get_data(as_text=True)
    assert "shown@example.com" in exported and "hidden@example.com" not in exported
    assert shown.id in _pool_ids(admin.id) and hidden.id not in _pool_ids(admin.id, stage_id=hidden.stage_id)


def test_a_lead_in_the_trash_gets_no_appointment_reminder_nor_after_a_restore(app, make_lead, admin):
    from datetime import timezone
    from app.models import Appointment
    from app.services import appointments
    lead = make_lead(first_name="Remi", email="remi@example.com")
    starts = (utcnow() + timedelta(hours=30)).replace(microsecond=0, tzinfo=timezone.utc)
    appointment = appointments.book_appointment(lead.id, admin.id, starts_at=starts, duration_minutes=30)
    db.session.execute(Appointment.__table__.update().where(Appointment.id == appointment.id)
                       .values(status="confirmed"))
    db.session.commit()
    later = utcnow() + timedelta(hours=8)  # the appointment is within a day
    trash.trash(lead.id, admin.id)
    assert appointments.queue_due_reminders(later) == 0
    assert db.session.scalar(select(func.count()).select_from(OutboxEmail)
                             .where(OutboxEmail.kind == "appointment_reminder")) == 0
    trash.restore(lead.id, admin.id)
    # Deleting cancelled it, and a restore does not book it again: no reminder of a cancelled meeting.
    assert appointments.queue_due_reminders(later) == 0
    assert db.session.get(Appointment, appointment.id, populate_existing=True).status == "cancelled"


def test_a_lead_in_the_trash_is_neither_merged_nor_changed_in_bulk(app, make_lead, admin, as_admin, stages):
    from app.services import merge as merge_service
    live = make_lead(first_name="Liv", email="liv@example.com")
    gone = make_lead(first_name="Liv", email="liv.old@example.com")
    gone_id, live_id = gone.id, live.id
    trash.trash(gone_id, admin.id)
    with pytest.raises(LeadNotFound):
        merge_service.merge_leads(gone_id, live_id, {}, admin.id)
    db.session.rollback()
    assert db.session.get(Lead, live_id) is not None
    before = db.session.get(Lead, gone_id, populate_existing=True)
    stage_before, version_before = before.stage_id, before.version
    response = as_admin.post("/leads/bulk", {"lead_ids": [str(gone_id)], "action": "move",
                                             "stage": str(stages["Won"].id)})
    assert response.status_code in (302, 400)
    after = db.session.get(Lead, gone_id, populate_existing=True)
    assert (after.stage_id, after.version, after.deleted_at is not None) == (stage_before, version_before, True)


def test_two_deletes_at_the_same_moment_trash_the_lead_once(app, make_lead, admin, database_url):
    import threading
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite writes one transaction at a time")
    lead_id, admin_id = make_lead(first_name="Dee", email="dee@example.com").id, admin.id
    outcomes = []

    def delete():
        with app.app_context():
            try:
                trash.trash(lead_id, admin_id)
                outcomes.append("trashed")
            except trash.AlreadyInTrash:
                outcomes.append("gone")
            finally:
                db.session.remove()
    threads = [threading.Thread(target=delete) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert sorted(outcomes) == ["gone"] * 3 + ["trashed"]
    assert db.session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "lead.deleted")) == 1


def _appointment(lead_id: int, admin_id: int, hours: int):
    from datetime import timezone
    from app.services import appointments
    starts = (utcnow() + timedelta(hours=hours)).replace(microsecond=0, tzinfo=timezone.utc)
    return appointments.book_appointment(lead_id, admin_id, starts_at=starts, duration_minutes=30).id


def test_deleting_a_lead_cancels_its_appointments_to_come_without_emailing_and_restoring_keeps_them_cancelled(
        app, make_lead, admin, as_admin):
    from app.models import Appointment
    lead = make_lead(first_name="Ann", last_name="Apt", email="ann@example.com")
    soon, later = _appointment(lead.id, admin.id, 30), _appointment(lead.id, admin.id, 80)
    invitations = db.session.scalar(select(func.count()).select_from(OutboxEmail).where(
        OutboxEmail.kind == "appointment_invite"))
    assert invitations == 2

    reply = as_admin.post(f"/leads/{lead.id}/delete")
    assert reply.status_code == 302
    notice = as_admin.get("/leads").get_data(as_text=True)
    assert "cancelled without emailing the prospect" in notice

    db.session.expire_all()
    assert {a.status for a in db.session.scalars(select(Appointment).where(Appointment.lead_id == lead.id))} \
        == {"cancelled"}
    # Nobody writes to the prospect: no cancellation, and the invitations not yet sent are withdrawn.
    assert db.session.scalar(select(func.count()).select_from(OutboxEmail).where(
        OutboxEmail.kind == "appointment_cancel")) == 0
    assert set(db.session.scalars(select(OutboxEmail.state).where(OutboxEmail.kind == "appointment_invite"))) \
        == {"cancelled"}
    entries = db.session.scalars(select(TimelineEntry).where(
        TimelineEntry.lead_id == lead.id, TimelineEntry.kind == "appointment_cancelled").order_by(TimelineEntry.id)).all()
    assert [(e.data["appointment_id"], e.data["by"], e.data["invited"]) for e in entries] == \
        [(soon, "deleted", False), (later, "deleted", False)]
    assert db.session.get(Lead, lead.id).appointment_status == "cancelled"

    restored = as_admin.post(f"/settings/trash/{lead.id}/restore")
    assert restored.status_code == 302
    page = as_admin.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert "stay cancelled" in page and "as the lead was deleted (the prospect was not emailed)" in page
    db.session.expire_all()
    assert {a.status for a in db.session.scalars(select(Appointment).where(Appointment.lead_id == lead.id))} \
        == {"cancelled"}


def test_a_restored_lead_carries_on_in_the_sequences_its_deletion_stopped_and_not_in_others(
        app, make_lead, admin, template, make_sequence):
    from app.models import SequenceEnrolment, SequenceSend
    from app.services import sequences
    from app.services.sequences import StepSettings
    monday = datetime(2026, 12, 7, 8, 0)
    steps = (StepSettings(template_id=template.id), StepSettings(template_id=template.id, delay_days=2))
    warm = make_sequence(template, *steps, name="Warm up", stop_on_other=False)
    news = make_sequence(template, *steps, name="News", stop_on_other=False)
    paused = make_sequence(template, *steps, name="Paused", stop_on_other=False)
    lead = make_lead(first_name="Seq", email="seq@example.com")
    for sequence in (warm, news, paused):
        sequences.enrol(lead.id, sequence.id, admin.id, now=monday)
    assert sequences.run_due(monday).sent == 3  # each sent its first step
    enrolment = lambda sequence: db.session.scalar(select(SequenceEnrolment).where(  # noqa: E731
        SequenceEnrolment.lead_id == lead.id, SequenceEnrolment.sequence_id == sequence.id)
        .execution_options(populate_existing=True))
    news_id = enrolment(news).id
    sequences.stop_enrolment(news_id, admin.id, now=monday + timedelta(hours=1))  # stopped before, by hand
    sequences.pause(paused.id)
    second_step, due = enrolment(warm).step_id, enrolment(warm).next_at

    trashed_at = monday + timedelta(hours=2)
    trash.trash(lead.id, admin.id, now=trashed_at)
    stopped = enrolment(warm)
    assert (stopped.status, stopped.stop_reason, stopped.ended_at) == ("stopped", "deleted", trashed_at)
    assert sequences.run_due(monday + timedelta(days=3)).sent == 0  # nothing goes to a lead in the trash

    trash.restore(lead.id, admin.id, now=monday + timedelta(days=3))
    resumed, kept_paused, still = enrolment(warm), enrolment(paused), enrolment(news)
    assert (resumed.status, resumed.stop_reason, resumed.ended_at) == ("active", None, None)
    assert (resumed.step_id, resumed.next_at) == (second_step, due)  # where it was
    assert (kept_paused.status, kept_paused.ended_at) == ("paused", None)  # its sequence is paused
    assert (still.status, still.stop_reason) == ("stopped", "manual")  # not stopped by the delete
    kinds = [e.data["sequence"] for e in db.session.scalars(select(TimelineEntry).where(
        TimelineEntry.lead_id == lead.id, TimelineEntry.kind == "sequence_resumed").order_by(TimelineEntry.id))]
    assert kinds == ["Warm up", "Paused"]
    # The step due while it was in the trash goes out now, once; the paused sequence waits.
    assert sequences.run_due(monday + timedelta(days=3, hours=1)).sent == 1
    assert db.session.scalar(select(func.count()).select_from(SequenceSend).where(
        SequenceSend.enrolment_id == resumed.id)) == 2


def test_a_restored_lead_whose_address_was_suppressed_meanwhile_stays_out_of_its_sequences(
        app, make_lead, admin, template, make_sequence):
    from app.models import SequenceEnrolment
    from app.services import sequences
    from app.services.suppression import add_by_hand
    sequence = make_sequence(template)
    lead = make_lead(first_name="Una", email="una@example.com")
    sequences.enrol(lead.id, sequence.id, admin.id)
    trash.trash(lead.id, admin.id)
    add_by_hand("una@example.com", admin.id)
    db.session.commit()
    trash.restore(lead.id, admin.id)
    enrolment = db.session.scalar(select(SequenceEnrolment).where(SequenceEnrolment.lead_id == lead.id)
                                  .execution_options(populate_existing=True))
    assert (enrolment.status, enrolment.stop_reason) == ("stopped", "deleted")


def test_deleting_a_lead_tells_webhooks_of_each_appointment_it_cancels_in_the_same_transaction(
        app, make_lead, admin):
    import json

    from app.models import Appointment, WebhookDelivery
    from app.services import webhooks
    from app.services.webhooks import EndpointInput
    lead = make_lead(first_name="Wes", last_name="Hook", email="wes@example.com")
    soon, later = _appointment(lead.id, admin.id, 30), _appointment(lead.id, admin.id, 80)
    endpoint = webhooks.create_endpoint(EndpointInput("https://93.184.215.14/hooks", ["appointment.cancelled"]),
                                        admin.id)
    db.session.commit()

    class Undone(Exception):
        pass

    # A delete that fails after the cancellations leaves no delivery behind, and nothing cancelled.
    with pytest.raises(Undone):
        with atomic():
            trash.trash(lead.id, admin.id)
            assert db.session.scalar(select(func.count()).select_from(WebhookDelivery)) == 2
            raise Undone()
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0
    assert {a.status for a in db.session.scalars(select(Appointment).where(Appointment.lead_id == lead.id))} \
        == {"awaiting"}

    trash.trash(lead.id, admin.id)
    db.session.expire_all()
    rows = db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.subject_id)).all()
    assert [(r.endpoint_id, r.event, r.lead_id, r.subject_id, r.data, r.state) for r in rows] == [
        (endpoint.id, "appointment.cancelled", lead.id, soon, {"by": "team", "reason": "lead_deleted"}, "queued"),
        (endpoint.id, "appointment.cancelled", lead.id, later, {"by": "team", "reason": "lead_deleted"}, "queued")]
    body = json.loads(webhooks.build_body(rows[0]))
    assert body["type"] == "appointment.cancelled" and body["data"]["appointment"]["id"] == soon
    assert body["data"]["appointment"]["status"] == "cancelled" and body["data"]["reason"] == "lead_deleted"
    # Still not a word to the prospect.
    assert db.session.scalar(select(func.count()).select_from(OutboxEmail).where(
        OutboxEmail.kind == "appointment_cancel")) == 0

    # A restore un-cancels nothing, so it tells integrations nothing either.
    trash.restore(lead.id, admin.id)
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(WebhookDelivery)) == 2
    assert {a.status for a in db.session.scalars(select(Appointment).where(Appointment.lead_id == lead.id))} \
        == {"cancelled"}


def test_the_trash_page_says_a_restore_leaves_appointments_cancelled(app, make_lead, admin, as_admin):
    lead = make_lead(first_name="Ann", last_name="Apt")
    trash.trash(lead.id, admin.id)
    db.session.commit()
    page = as_admin.get("/settings/trash").get_data(as_text=True)
    assert "restoring it does not bring them back" in page and "Ann Apt" in page
