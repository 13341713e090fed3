"""The trash: a deleted lead keeps its row, with `deleted_at` set, for KEEP_DAYS; an admin can restore it
meanwhile; then the worker's sweep purges it with everything hanging off it.

While in the trash a lead is in no list, board column, count, search, export or API answer, and no
new capture is matched with it (lead_queries.filtered, board, search documents, identity, the totals
triggers all leave it out; leads.get_lead does not find it, so nothing can change it). Deleting it
stops its sequences (a restore resumes them where they were), cancels its appointments still to come
without emailing the prospect but with an `appointment.cancelled` webhook event for each, so that
integrations drop them too (a restore leaves them cancelled), and takes back its emails still
waiting in the outbox."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from app.extensions import db
from app.models import EmailState, Lead, LeadSearchDocument, OutboxEmail, User
from app.services import Conflict, NotFound, atomic, audit, permissions, search, utcnow
from app.services.keyset import anchor, newest_first
from app.services.timeline import record

KEEP_DAYS = 30
PAGE = 50
PURGE_BATCH = 200


class AlreadyInTrash(Conflict):
    """A delete of a lead someone has already moved to the trash."""

    def __init__(self, lead: Lead):
        self.lead_id = lead.id
        super().__init__(f"{lead.full_name} is already in the trash. An admin can restore it from Settings → "
                         f"Trash for {KEEP_DAYS} days after it was deleted.")


class NotInTrash(NotFound):
    def __init__(self):
        super().__init__("That lead is not in the trash (it may have been restored or purged already).")


def may_delete(user) -> bool:
    """Whether this person may delete leads: admins, or members where the team allows it (the
    rule's home is services/permissions.py)."""
    return user is not None and permissions.allows(user, "delete")


def not_trashed(lead_ids: list[int]) -> list[int]:
    """These ids, in order, less those of leads in the trash (one query)."""
    ids = [i for i in lead_ids if isinstance(i, int)]
    if not ids:
        return []
    gone = set(db.session.scalars(select(Lead.id).where(Lead.id.in_(ids), Lead.deleted_at.is_not(None))))
    return [i for i in ids if i not in gone]


def purge_due_at(lead: Lead) -> datetime | None:
    """When the sweep purges this trashed lead."""
    return lead.deleted_at + timedelta(days=KEEP_DAYS) if lead.deleted_at else None


def trash(lead_id: int, actor_id: int | None, now: datetime | None = None) -> Lead:
    """Move a lead to the trash (one transaction): its sequences stop (keeping their place for a
    restore), its appointments still to come are cancelled without a word to the prospect (each
    with its `appointment.cancelled` event for webhooks), and its emails still waiting are withdrawn. Raises AlreadyInTrash, or LeadNotFound for a missing lead."""
    from app.services.appointments import cancel_for_trash
    from app.services.leads import LeadNotFound, get_lead
    from app.services.sequences import set_aside_for_trash
    now = now or utcnow()
    with atomic():
        # One delete at a time (FOR NO KEY UPDATE; get_lead's own lock is shared): a second one waits,
        # then finds the lead in the trash.
        db.session.execute(select(Lead.id).where(Lead.id == lead_id).with_for_update(key_share=True))
        try:
            lead = get_lead(lead_id)  # refuses one already in the trash
        except LeadNotFound:
            gone = trashed(lead_id) if isinstance(lead_id, int) else None
            if gone is not None:
                raise AlreadyInTrash(gone) from None
            raise
        set_aside_for_trash(lead.id, now, actor_id)
        cancel_for_trash(lead, actor_id, now)
        # Emails no worker has taken yet go nowhere now (the row stays, saying why).
        db.session.execute(update(OutboxEmail).where(
            OutboxEmail.lead_id == lead.id, OutboxEmail.state == EmailState.queued.value)
            .values(state=EmailState.cancelled.value, last_error="withdrawn: the lead was deleted")
            .execution_options(synchronize_session=False))
        lead.deleted_at, lead.deleted_by_id = now, actor_id
        lead.version += 1
        db.session.flush()
        db.session.execute(delete(LeadSearchDocument).where(LeadSearchDocument.lead_id == lead.id))
        record(lead.id, "deleted", actor_id, {}, now)
        audit.record(actor_id, "lead.deleted", lead.full_name, {"lead_id": lead.id})
    return lead


def trashed(lead_id: int) -> Lead | None:
    """The lead with this id if it is in the trash, else None."""
    lead = db.session.get(Lead, lead_id)
    return lead if lead is not None and lead.deleted_at is not None else None


def _trashed(lead_id: int) -> Lead:
    lead = db.session.get(Lead, lead_id, with_for_update={"of": Lead}, populate_existing=True)
    if lead is None or lead.deleted_at is None:
        raise NotInTrash()
    return lead


def restore(lead_id: int, actor_id: int | None, now: datetime | None = None) -> Lead:
    """Take a lead out of the trash, back where it was (one transaction): the sequences its deletion
    stopped carry on where they were (sequences.resume_after_restore); appointments stay cancelled.
    Raises NotInTrash."""
    from app.services.sequences import resume_after_restore
    now = now or utcnow()
    with atomic():
        lead = _trashed(lead_id)
        trashed_at = lead.deleted_at
        lead.deleted_at, lead.deleted_by_id = None, None
        lead.version += 1
        db.session.flush()
        search.refresh([lead.id])
        record(lead.id, "restored", actor_id, {}, now)
        resume_after_restore(lead, trashed_at, now, actor_id)
        audit.record(actor_id, "lead.restored", lead.full_name, {"lead_id": lead.id})
    return lead


@dataclass
class TrashRow:
    lead: Lead
    deleted_by: str | None
    purge_at: datetime


def listing(before_id: int | None = None, per_page: int = PAGE) -> tuple[list[TrashRow], bool]:
    """The trash, most recently deleted first, `per_page` at a time after lead `before_id`; and
    whether more remain. Reads only the partial index of deleted leads."""
    query = select(Lead).where(Lead.deleted_at.is_not(None))
    start = anchor(Lead, before_id, "deleted_at")
    if start is not None and start[0] is None:
        start = None
    leads, more = newest_first(query, Lead.deleted_at, Lead.id, start, per_page)
    names = dict(db.session.execute(select(User.id, User.name).where(
        User.id.in_({lead.deleted_by_id for lead in leads if lead.deleted_by_id}))).all()) if leads else {}
    return [TrashRow(lead, names.get(lead.deleted_by_id), purge_due_at(lead)) for lead in leads], more


def purge(lead_ids: list[int]) -> int:
    """Delete these leads for good, inside the caller's transaction: the lead row and, through its
    foreign keys, its notes, timeline, tasks, appointments, tags, field values and search document;
    and its emails (the outbox rows, which would otherwise only lose their lead) and webhook
    deliveries. Returns how many leads went."""
    from app.models import WebhookDelivery
    if not lead_ids:
        return 0
    db.session.execute(delete(OutboxEmail).where(OutboxEmail.lead_id.in_(lead_ids))
                       .execution_options(synchronize_session=False))
    db.session.execute(delete(WebhookDelivery).where(WebhookDelivery.lead_id.in_(lead_ids))
                       .execution_options(synchronize_session=False))
    gone = db.session.execute(delete(Lead).where(Lead.id.in_(lead_ids)).execution_options(synchronize_session=False))
    return gone.rowcount


def purge_due(now: datetime | None = None, batch: int = PURGE_BATCH) -> int:
    """The worker's sweep: purge the leads in the trash for more than KEEP_DAYS, a batch per
    transaction (a crash leaves the rest for the next sweep). Returns how many went."""
    cutoff = (now or utcnow()) - timedelta(days=KEEP_DAYS)
    total = 0
    while True:
        with atomic():
            ids = list(db.session.scalars(select(Lead.id).where(Lead.deleted_at.is_not(None), Lead.deleted_at <= cutoff)
                                          .order_by(Lead.deleted_at, Lead.id).limit(batch).with_for_update(skip_locked=True)))
            gone = purge(ids)
        total += gone
        if len(ids) < batch:
            return total
