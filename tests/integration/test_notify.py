"""notify(): one notification per person in the caller's transaction, and an outbox email for each
who chose email for that kind (issue 12, section 4)."""
import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Notification, OutboxEmail
from app.services import atomic
from app.services.notifications import UnknownKind, email_choices, notify, set_email_choices


def notices(kind=None):
    query = select(Notification).order_by(Notification.user_id)
    if kind:
        query = query.where(Notification.kind == kind)
    return list(db.session.scalars(query))


def emails():
    return list(db.session.scalars(select(OutboxEmail).order_by(OutboxEmail.to_address)))


def test_notify_writes_one_notice_per_person_and_emails_only_those_who_chose_it(make_user, make_lead):
    anna, ben, cleo = make_user(email="anna@example.com"), make_user(email="ben@example.com"), make_user()
    set_email_choices(anna.id, {"assigned"})
    lead = make_lead(first_name="Nora")
    with atomic():
        written = notify([anna.id, ben.id, anna.id], "assigned", "New lead for you: Nora Lead", lead_id=lead.id)
    assert written == 2
    rows = notices()
    assert [(n.user_id, n.kind, n.message, n.lead_id, n.url) for n in rows] == [
        (anna.id, "assigned", "New lead for you: Nora Lead", lead.id, f"/leads/{lead.id}"),
        (ben.id, "assigned", "New lead for you: Nora Lead", lead.id, f"/leads/{lead.id}")]
    assert all(n.read_at is None for n in rows) and cleo.id not in {n.user_id for n in rows}
    [email] = emails()
    assert (email.to_address, email.subject, email.kind, email.lead_id) == (
        "anna@example.com", "New lead for you: Nora Lead", "owner_notice", lead.id)
    assert f"/leads/{lead.id}" in email.text_body and "/account" in email.text_body


def test_a_kind_nobody_chose_emails_by_its_default(make_user):
    anna = make_user(email="anna@example.com")
    assert "appointment" in email_choices(anna.id) and "mention" not in email_choices(anna.id)
    with atomic():
        notify([anna.id], "mention", "Ben mentioned you")
        notify([anna.id], "appointment", "Nora confirmed", url="/today")
    assert [e.subject for e in emails()] == ["Nora confirmed"]
    assert {n.kind: n.url for n in notices()} == {"mention": None, "appointment": "/today"}


def test_notify_skips_deactivated_people_and_writes_nothing_for_nobody(make_user, admin):
    from app.services.users import set_active
    gone = make_user()
    set_email_choices(gone.id, {"task_due"})
    set_active(gone.id, False)
    with atomic():
        assert notify([], "task_due", "Call Nora") == 0
        assert notify([gone.id], "task_due", "Call Nora") == 0
    assert notices() == [] and emails() == []


def test_notify_is_part_of_the_callers_transaction(make_user):
    anna = make_user()
    set_email_choices(anna.id, {"mention"})
    with pytest.raises(RuntimeError):
        with atomic():
            notify([anna.id], "mention", "Ben mentioned you")
            raise RuntimeError("the change failed")
    assert notices() == [] and emails() == []


def test_an_unknown_kind_is_refused(make_user):
    anna = make_user()
    with pytest.raises(UnknownKind):
        notify([anna.id], "gossip", "psst")
    with pytest.raises(UnknownKind):
        set_email_choices(anna.id, {"gossip"})
