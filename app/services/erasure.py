"""Erasing a person on request: everything Leadboard holds about them goes now, in one transaction,
and what stays is an anonymous record that it happened (who erased, when, which lead id it was, how
many rows of each kind went: an `Erasure` row and an audit entry, never a name or an address).

What goes: the lead row and, through its foreign keys, its notes, timeline, tasks, appointments,
tags, field values, sequence enrolments and sends, notifications, merges into it and search
document; its emails in the outbox (by lead, or sent to its address) with their attachments;
webhook deliveries about it; stored API replies (idempotency records) and held form submissions
naming its address; the rows of import reports that were about it (their values and changes are
blanked) and the stored files of those imports; its rows in uploads never started (the rest of such a
file stays, so the others in it can still be imported); its address's suppression history. Stored
files are searched a chunk at a time, case-folded, each chunk with the end of the one before (a value
split across two chunks is found), never read whole (imports.file_holds). Audit entries
that named it are reworded.

What stays: the address, as a digest keyed with the installation's own secret (HMAC-SHA256,
suppression.erased_key; entries written before as a plain SHA-256 are still checked), on the
suppression list (reason "erased"), so no
email goes to it and a later capture or import of it is refused with a message that says why
(capture.prepare asks `refusal`); an admin who lifts that entry lets the person back in.

Refused, with nothing done: a lead already erased (410, saying when), a lead with an import that
mentions it still running (409: erase once it has finished), an upload not started that holds its
address where no row of theirs can be taken out alone (409: discard it first)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, cast, delete, event, func, or_, select, update
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import (AuditEntry, Erasure, HeldSubmission, IdempotencyRecord, ImportChunk, ImportRow, Lead,
                        LeadImport, LeadMerge, OutboxEmail, SuppressedAddress, SuppressionReason, User,
                        WebhookDelivery)
from app.services import Conflict, NotFound, ServiceError, atomic, audit, utcnow
from app.services.suppression import erased_key, erased_keys_of, erasure_secret, key

ERASED = "an erased person"
FINISHED_IMPORTS = ("done", "failed")
UNSTARTED = "uploaded"
CACHE = "leadboard_erased_keys"


class AlreadyErased(ServiceError):
    status = 410

    def __init__(self, erasure: Erasure, what: str = "erase"):
        super().__init__(f"This person's data was already erased at their request, on "
                         f"{erasure.erased_at:%-d %B %Y at %H:%M} UTC by {erasure.erased_by_name}. "
                         f"There is nothing left to {what}.")


def erased(lead_id: int) -> Erasure | None:
    """The (latest) record that this lead's person was erased, or None."""
    return db.session.scalars(select(Erasure).where(Erasure.lead_id == lead_id)
                              .order_by(Erasure.id.desc()).limit(1)).first()


class ErasureNotFound(NotFound):
    def __init__(self):
        super().__init__("That lead does not exist (it may have been merged into another lead: erase that one).")


class ImportStillRunning(Conflict):
    def __init__(self, filename: str):
        super().__init__(f"The import “{filename}” holds this person and has not finished. Erase them once it "
                         "has finished (or been discarded), so that it does not bring them back.")


class UploadNotSeparable(Conflict):
    def __init__(self, filename: str):
        super().__init__(f"The upload “{filename}”, not imported yet, holds this person where their row cannot be "
                         "taken out on its own (in its header, a line above it, or a line that cannot be read as "
                         "CSV). Discard that upload on the Import page (upload it again without them if it is "
                         "still wanted), then erase them.")


class AddressErased(ServiceError):
    """A capture or import of an address whose person asked to be erased."""

    status = 409

    def __init__(self):
        super().__init__("This email address belongs to a person whose data was erased at their request, so it is "
                         "not captured again. If they ask to come back, an admin can lift the address from the "
                         "suppression list.", field="email")


def _text(column):
    return func.lower(cast(column, String))


def _mentions(columns, needles: list[str]):
    """Any of these columns (text or JSON) holding any of these strings, in any case."""
    return or_(*(_text(column).contains(needle.lower(), autoescape=True) for column in columns for needle in needles))


def erase(lead_id: int, actor_id: int | None, now: datetime | None = None) -> Erasure:
    """Erase the person this lead is, now (one transaction). Raises AlreadyErased (410),
    ErasureNotFound (404) or ImportStillRunning (409); in each case nothing is changed."""
    from app.services.imports import strip_records
    from app.services.trash import purge
    now = now or utcnow()
    with atomic():
        lead = db.session.get(Lead, lead_id, with_for_update={"of": Lead}, populate_existing=True)
        if lead is None:
            done = erased(lead_id)
            raise AlreadyErased(done) if done else ErasureNotFound()
        address = key(lead.email) if lead.email else None
        needles = [n for n in (address, lead.phone) if n]
        removed: dict[str, int] = {}
        # The same address is the same person (services/identity.py): a twin kept on purpose goes too.
        ids = sorted({lead.id, *(db.session.scalars(select(Lead.id).where(Lead.email == address)) if address else ())})

        # Import reports and the stored files behind them.
        row_about = or_(ImportRow.lead_id.in_(ids),
                        *([_mentions((ImportRow.values, ImportRow.changes), needles)] if needles else []))
        import_ids = set(db.session.scalars(select(ImportRow.import_id).where(row_about).distinct()))
        # Every stored file is read too (an upload not yet run has no report rows; a failed or
        # running one may hold them in rows not reached): streamed, case-folded, across chunk ends.
        import_ids |= _files_holding(address, needles, import_ids)
        running = db.session.scalars(select(LeadImport).where(
            LeadImport.id.in_(import_ids), LeadImport.status.not_in((*FINISHED_IMPORTS, UNSTARTED)))).first() \
            if import_ids else None
        if running is not None:
            raise ImportStillRunning(running.filename)
        # An upload never started is only the file: the person's rows go from it, everybody else's stay.
        unstarted = list(db.session.scalars(select(LeadImport).where(
            LeadImport.id.in_(import_ids), LeadImport.status == UNSTARTED).order_by(LeadImport.id))) \
            if import_ids else []
        removed["rows of uploads not started"] = 0
        for upload in unstarted:
            stripped = strip_records(upload.id, address)
            if stripped.still_there:
                raise UploadNotSeparable(upload.filename)
            removed["rows of uploads not started"] += stripped.records
        removed["import report rows"] = db.session.execute(
            update(ImportRow).where(row_about).values(values=None, changes=None, lead_id=None,
                                                       reason="Erased at the person's request.")
            .execution_options(synchronize_session=False)).rowcount
        ran = import_ids - {upload.id for upload in unstarted}
        removed["import files"] = db.session.execute(
            delete(ImportChunk).where(ImportChunk.import_id.in_(ran))
            .execution_options(synchronize_session=False)).rowcount if ran else 0

        # Emails, webhook deliveries, stored API replies, held submissions, merges it lost.
        if needles:
            removed["emails"] = db.session.execute(delete(OutboxEmail).where(or_(
                OutboxEmail.to_address == address if address else False,
                _mentions((OutboxEmail.subject, OutboxEmail.text_body), needles)))
                .execution_options(synchronize_session=False)).rowcount
            removed["webhook deliveries"] = db.session.execute(delete(WebhookDelivery).where(
                _mentions((WebhookDelivery.body, WebhookDelivery.data), needles))
                .execution_options(synchronize_session=False)).rowcount
            removed["stored API replies"] = db.session.execute(delete(IdempotencyRecord).where(
                _mentions((IdempotencyRecord.response,), needles)).execution_options(synchronize_session=False)).rowcount
            removed["held form submissions"] = db.session.execute(delete(HeldSubmission).where(
                _mentions((HeldSubmission.values,), needles)).execution_options(synchronize_session=False)).rowcount
            removed["merge records"] = db.session.execute(delete(LeadMerge).where(
                _mentions((LeadMerge.loser_snapshot, LeadMerge.survivor_before, LeadMerge.survivor_after), needles))
                .execution_options(synchronize_session=False)).rowcount

        # The audit log keeps what was done, not to whom.
        named = [AuditEntry.details["lead_id"].as_integer().in_(ids)]
        if address:
            named.append(_text(AuditEntry.target).contains(address, autoescape=True))
        db.session.execute(update(AuditEntry).where(or_(*named)).values(target=ERASED)
                           .execution_options(synchronize_session=False))

        # The suppression list: its plain history goes, a digest stays in force.
        if address:
            db.session.execute(delete(SuppressedAddress).where(SuppressedAddress.address == address)
                               .execution_options(synchronize_session=False))
            erasure_secret(create=True)
            if db.session.scalar(select(SuppressedAddress.id).where(
                    SuppressedAddress.address.in_(erased_keys_of(address)), SuppressedAddress.removed_at.is_(None))) is None:
                db.session.add(SuppressedAddress(address=erased_key(address), reason=SuppressionReason.erased.value,
                                                 created_by_id=actor_id, created_at=now))

        removed["leads"] = purge(ids)  # the row and all that hangs off it; its emails and deliveries
        name = db.session.scalar(select(User.name).where(User.id == actor_id)) if actor_id else None
        erasure = Erasure(lead_id=lead_id, erased_at=now, erased_by_id=actor_id,
                          erased_by_name=(name or audit.COMMAND_LINE)[:120],
                          removed={k: v for k, v in removed.items() if v})
        db.session.add(erasure)
        audit.record(actor_id, "lead.erased", f"A person (lead no. {lead_id})",
                     {"lead_id": lead_id, "removed": erasure.removed})
        db.session.flush()
        forget_cache(db.session())
    return erasure


def _files_holding(address: str | None, needles: list[str], known: set[int]) -> set[int]:
    """The imports (besides `known`) whose stored file holds the person: an upload not started by
    their address (its rows of theirs are taken out by address), any other by address or phone.
    Each file is read a chunk at a time (imports.file_holds), whatever its size or how many there are."""
    from app.services.imports import file_holds
    stored = db.session.execute(select(LeadImport.id, LeadImport.status).where(
        LeadImport.id.in_(select(ImportChunk.import_id).distinct())).order_by(LeadImport.id)).all()
    found = set()
    for import_id, status in stored:
        wanted = ([address] if address else []) if status == UNSTARTED else needles
        if import_id not in known and wanted and file_holds(import_id, wanted):
            found.add(import_id)
    return found


# --- refusing them at the door --------------------------------------------------------------------


def erased_keys() -> set[str]:
    """The digests of every erased address in force, read once per transaction (a batch of import
    rows asks for each row)."""
    session = db.session()
    cached = session.info.get(CACHE)
    if cached is None:
        cached = set(session.scalars(select(SuppressedAddress.address).where(
            SuppressedAddress.reason == SuppressionReason.erased.value, SuppressedAddress.removed_at.is_(None))))
        session.info[CACHE] = cached
    return cached


def refusal(email: str | None) -> AddressErased | None:
    """The error a capture of this (cleaned) address gets when its person was erased, else None."""
    kept = erased_keys() if email else None
    if kept and not kept.isdisjoint(erased_keys_of(email)):  # no digest to work out while nobody was erased
        return AddressErased()
    return None


def forget_cache(session) -> None:
    session.info.pop(CACHE, None)


@event.listens_for(Session, "after_commit")
def _after_commit(session) -> None:
    forget_cache(session)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session) -> None:
    forget_cache(session)
