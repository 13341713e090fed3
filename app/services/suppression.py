"""The suppression list and unsubscribing: which addresses get no more email, and the signed link
that puts a prospect's address there.

Every email outbox.queue_email writes to an address on the list is kept as a row in the state
"suppressed" and never sent, except the emails a person asked for (an appointment's) and the team's
own notices to its users (`withheld`). Putting an address on the list also withholds the emails to
it still waiting in the outbox. An address is taken off the list only by an admin, with a reason;
the row stays, with who lifted it, when and why.

The unsubscribe link is a signed token naming the address and the lead it was sent about, good for
a year. `unsubscribe()` is what pressing it does (the one-click POST of RFC 8058 included): the
place where more "stop" work belongs (sequences)."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from email_validator import EmailNotValidError, validate_email
from itsdangerous import BadSignature
from sqlalchemy import and_, event, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, selectinload

from app.extensions import db
from app.models import EmailState, InstallationSecret, Lead, OutboxEmail, SuppressedAddress, SuppressionReason
from app.services import audit
from app.services import Conflict, NotFound, ServiceError, atomic, utcnow
from app.services.keyset import anchor, newest_first
from app.services.sequences import on_address_refused
from app.services.timeline import record

ADDRESS_LIMIT = 254
REASON_LIMIT = 500
LINK_SALT = "unsubscribe-link"
LINK_LIFETIME = timedelta(days=365)
ONE_CLICK = "List-Unsubscribe=One-Click"  # the body a mail client's one-click button POSTs (RFC 8058)
# Emails that go whatever the list says: the ones a person asked for, and the team's notices to itself.
EXEMPT_KINDS = frozenset({"owner_notice"})
EXEMPT_PREFIXES = ("appointment_", "account_")
BATCH = 500  # addresses per IN (...) list
PAGE = 50
REASON_WORDS = {SuppressionReason.unsubscribed.value: "unsubscribed",
                SuppressionReason.bounced.value: "bounced",
                SuppressionReason.admin.value: "added by an admin",
                SuppressionReason.erased.value: "erased on the person's request"}
ERASED_PREFIX = "erased:sha256:"  # the unkeyed digests erasures wrote before KEYED_PREFIX (still checked)
KEYED_PREFIX = "erased:hmac-sha256:"
SECRET_NAME = "erasure_digest"  # its InstallationSecret
SECRET_CACHE = "leadboard_erasure_secret"  # the key's hex in session.info for this transaction ("": none)


class AlreadySuppressed(Conflict):
    def __init__(self, address: str):
        super().__init__(f"{address} is already on the suppression list.", field="address")


class NotSuppressed(Conflict):
    def __init__(self, address: str):
        super().__init__(f"{address} is not on the suppression list (someone may have removed it just now).")


class SuppressionNotFound(NotFound):
    def __init__(self):
        super().__init__("That entry is not on the suppression list.")


class UnsubscribeLinkInvalid(ServiceError):
    """A link that is not ours, or was altered or cut short."""

    status = 404

    def __init__(self):
        super().__init__("This unsubscribe link is not valid. It may have been copied incompletely; "
                         "use the link in the email, or reply to it and ask us to stop.")


class UnsubscribeLinkExpired(ServiceError):
    status = 410

    def __init__(self):
        super().__init__("This unsubscribe link is too old to use. Use the link in a newer email from us, "
                         "or reply to it and ask us to stop.")


# --- addresses --------------------------------------------------------------------------------


def key(address: str | None) -> str:
    """The form an address is looked up by: trimmed and lower-cased (as leads store their email)."""
    return (address or "").strip().lower()


def erasure_secret(create: bool = False) -> bytes | None:
    """The installation's own key for erased addresses' digests (made by the migration; `create`:
    made now if missing, and read afresh), read once per transaction (one small read whatever the
    batch); None when there is none and `create` is false."""
    session = db.session()
    value = None if create else session.info.get(SECRET_CACHE)  # "": this transaction found none
    if value is None:
        value = db.session.scalar(select(InstallationSecret.value).where(InstallationSecret.name == SECRET_NAME))
        if value is None and create:
            insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
            db.session.execute(insert(InstallationSecret).values(
                name=SECRET_NAME, value=secrets.token_hex(32), created_at=utcnow()).on_conflict_do_nothing())
            value = db.session.scalar(select(InstallationSecret.value).where(InstallationSecret.name == SECRET_NAME))
        session.info[SECRET_CACHE] = value = value or ""
    return bytes.fromhex(value) if value else None


def erased_key(address: str | None) -> str | None:
    """How an erased person's address is kept on the list (services/erasure.py): an HMAC-SHA256 of
    its lookup form under the installation's key, so the list still refuses it while no table holds
    the address, and nobody can test guessed addresses against it without the key. None while the
    installation has no key (then no address was kept this way)."""
    secret = erasure_secret()
    return KEYED_PREFIX + hmac.new(secret, key(address).encode(), hashlib.sha256).hexdigest() if secret else None


def legacy_erased_key(address: str | None) -> str:
    """The plain SHA-256 digest erasures wrote before the key existed: such entries stay on the list
    (re-keying one needs the address it hides) and are still checked."""
    return ERASED_PREFIX + hashlib.sha256(key(address).encode()).hexdigest()


def erased_keys_of(address: str | None) -> list[str]:
    """Every form an erased address may be kept in on the list: keyed, and the older plain digest."""
    return [d for d in (erased_key(address), legacy_erased_key(address)) if d]


def _keys(address: str | None) -> list[str]:
    return [key(address), *erased_keys_of(address)]


def clean_address(raw: str | None) -> str:
    """An address a person typed, normalised as lead emails are; raises ServiceError("address")."""
    text = (raw or "").strip()
    if not text:
        raise ServiceError("Enter an email address.", field="address")
    if len(text) > ADDRESS_LIMIT:
        raise ServiceError(f"An email address has at most {ADDRESS_LIMIT} characters.", field="address")
    try:
        return validate_email(text, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ServiceError(f"Enter a valid email address. {exc}", field="address") from None


def _in_force():
    return SuppressedAddress.removed_at.is_(None)


def is_suppressed(address: str) -> bool:
    """Whether this address is on the list now (one read of the partial unique index)."""
    return db.session.scalar(select(SuppressedAddress.id).where(
        SuppressedAddress.address.in_(_keys(address)), _in_force()).limit(1)) is not None


def suppressed_among(addresses) -> set[str]:
    """Which of these addresses (as given) are on the list: a few set-based reads, for batches."""
    wanted: dict[str, set[str]] = {}
    for address in addresses:
        if address:
            wanted.setdefault(key(address), set()).add(address)
    found: set[str] = set()
    keys = list(wanted)
    for start in range(0, len(keys), BATCH):
        chunk = keys[start:start + BATCH]
        digests = {d: k for k in chunk for d in erased_keys_of(k)}  # an erased person's is on it as a digest
        for hit in db.session.scalars(select(SuppressedAddress.address).where(
                SuppressedAddress.address.in_([*chunk, *digests]), _in_force())):
            found |= wanted[digests.get(hit, hit)]
    return found


def masked(address: str) -> str:
    """The address as a public page shows it: enough for its owner to know it, not for a stranger
    holding a forwarded email to read it whole."""
    local, _, domain = key(address).rpartition("@")
    return f"{local[:1]}…@{domain}" if local else domain


def active_entry(address: str) -> SuppressedAddress | None:
    return db.session.scalars(select(SuppressedAddress).where(
        SuppressedAddress.address.in_(_keys(address)), _in_force()).order_by(SuppressedAddress.id)).first()


def listed_because(address: str | None) -> str | None:
    """Why this address is on the list ("unsubscribed", "bounced", "added by an admin"), or None:
    the warning a one-off email to it shows."""
    listed = active_entry(address) if address else None
    return REASON_WORDS.get(listed.reason, listed.reason) if listed else None


def exempt(kind: str) -> bool:
    """Whether an email of this kind goes even to an address on the list."""
    return kind in EXEMPT_KINDS or kind.startswith(EXEMPT_PREFIXES)


def withheld(kind: str, address: str) -> str | None:
    """Why an email of this kind to this address must not be sent (the list entry's reason), or None
    to send it. outbox.queue_email asks this of every row it writes."""
    if exempt(kind):
        return None
    entry = active_entry(address)
    return entry.reason if entry is not None else None


def suppressed_error(reason: str) -> str:
    """What a withheld email's outbox row says instead of an SMTP error."""
    return f"suppressed: address {REASON_WORDS.get(reason, reason)}"


# --- putting on and taking off ------------------------------------------------------------------


def suppress(address: str, reason: str, lead_id: int | None = None, now: datetime | None = None, *,
             actor_id: int | None = None) -> tuple[SuppressedAddress, bool]:
    """Put the address on the list (joining the caller's transaction, or its own), or leave it there
    if it already is: (the entry in force, whether this call added it). Emails to it still waiting in
    the outbox are withheld, each on its lead's timeline. Raises ServiceError("address") for an
    address that cannot be one."""
    if reason not in REASON_WORDS:
        raise ValueError(f"unknown suppression reason {reason!r}")
    now = now or utcnow()
    address = clean_address(address)
    with atomic():
        if lead_id is not None and db.session.get(Lead, lead_id) is None:
            lead_id = None  # deleted since the email went out: the address still comes off
        insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
        added = db.session.scalar(
            insert(SuppressedAddress)
            .values(address=address, reason=reason, lead_id=lead_id, created_by_id=actor_id, created_at=now)
            .on_conflict_do_nothing(index_elements=["address"], index_where=SuppressedAddress.removed_at.is_(None))
            .returning(SuppressedAddress.id)) is not None
        entry = active_entry(address)
        if added:
            _withhold_waiting(address, entry.reason, now)
    return entry, added


def _withhold_waiting(address: str, reason: str, now: datetime) -> None:
    """Emails to the address that no worker has taken yet are not sent after all."""
    waiting = (OutboxEmail.state == EmailState.queued.value, OutboxEmail.to_address == address,
               OutboxEmail.kind.not_in(EXEMPT_KINDS),
               *(~OutboxEmail.kind.startswith(prefix, autoescape=True) for prefix in EXEMPT_PREFIXES))
    # One statement: a row a worker claims meanwhile is sent, and is not said to be withheld.
    rows = db.session.execute(update(OutboxEmail).where(*waiting)
                              .values(state=EmailState.suppressed.value, last_error=suppressed_error(reason),
                                      updated_at=now)
                              .returning(OutboxEmail.id, OutboxEmail.lead_id, OutboxEmail.subject)
                              .execution_options(synchronize_session=False)).all()
    for row in rows:
        if row.lead_id is not None:
            record(row.lead_id, "email_suppressed", None,
                   {"subject": row.subject, "to": address, "reason": reason}, now)


def add_by_hand(raw_address: str, actor_id: int, now: datetime | None = None) -> SuppressedAddress:
    """An admin puts an address on the list; raises ServiceError("address") for a bad address and
    AlreadySuppressed if it is on the list."""
    address = clean_address(raw_address)
    with atomic():
        entry, added = suppress(address, SuppressionReason.admin.value, now=now, actor_id=actor_id)
        if not added:
            raise AlreadySuppressed(address)
        audit.record(actor_id, "suppression.added", address)
    return entry


def clean_reason(raw: str | None) -> str:
    text = " ".join((raw or "").split())
    if not text:
        raise ServiceError("Say why the address may be emailed again; the reason is kept on record.",
                           field="reason")
    if len(text) > REASON_LIMIT:
        raise ServiceError(f"Keep the reason under {REASON_LIMIT} characters.", field="reason")
    return text


def lift(address: str, actor_id: int, reason: str, now: datetime | None = None) -> SuppressedAddress:
    """Take the address off the list, keeping who did it, when and why (on the entry, and on its
    lead's timeline). Raises ServiceError("reason") without a reason, NotSuppressed if it is not on."""
    reason = clean_reason(reason)
    now = now or utcnow()
    with atomic():
        entry = db.session.scalars(select(SuppressedAddress).where(
            SuppressedAddress.address == key(address), _in_force()).with_for_update()).first()
        if entry is None:
            raise NotSuppressed(key(address))
        entry.removed_at, entry.removed_by_id, entry.removed_reason = now, actor_id, reason
        audit.record(actor_id, "suppression.lifted", entry.address, {"reason": reason})
        if entry.lead_id is not None:
            record(entry.lead_id, "suppression_lifted", actor_id, {"to": entry.address, "reason": reason}, now)
    return entry


def get_entry(entry_id: int) -> SuppressedAddress:
    entry = db.session.get(SuppressedAddress, entry_id)
    if entry is None:
        raise SuppressionNotFound()
    return entry


# --- the admin page ---------------------------------------------------------------------------


@dataclass
class SuppressionPage:
    items: list[SuppressedAddress]
    more: bool  # there are more entries after the last shown


def listing(typed: str = "", after_id: int | None = None, per_page: int = PAGE) -> SuppressionPage:
    """The list, lifted entries included. Without a search, newest first; with one, the addresses
    starting with what was typed in address order (one index range either way). A cursor (the last
    entry shown) naming nothing, or another order's entry, gives the first page."""
    prefix = key(typed)[:ADDRESS_LIMIT]
    # A whole address typed also finds an erased person's entries (kept as a digest), on the first page.
    erased = list(db.session.scalars(select(SuppressedAddress).where(
        SuppressedAddress.address.in_(erased_keys_of(prefix))).order_by(SuppressedAddress.id))) \
        if "@" in prefix and not after_id else []
    query = select(SuppressedAddress).options(selectinload(SuppressedAddress.lead), selectinload(SuppressedAddress.created_by),
                                              selectinload(SuppressedAddress.removed_by))
    if not prefix:
        items, more = newest_first(query, SuppressedAddress.created_at, SuppressedAddress.id,
                                   anchor(SuppressedAddress, after_id, "created_at"), per_page)
        return SuppressionPage(items, more)
    query = query.where(SuppressedAddress.address >= prefix)
    following = _successor(prefix)
    if following is not None:
        query = query.where(SuppressedAddress.address < following)
    cursor = db.session.get(SuppressedAddress, after_id) if after_id else None
    if cursor is not None and cursor.address.startswith(prefix):
        query = query.where(or_(SuppressedAddress.address > cursor.address,
                                and_(SuppressedAddress.address == cursor.address, SuppressedAddress.id > cursor.id)))
    rows = list(db.session.scalars(query.order_by(SuppressedAddress.address, SuppressedAddress.id)
                                   .limit(per_page + 1)))
    return SuppressionPage(erased + rows[:per_page], len(rows) > per_page)


def _successor(prefix: str) -> str | None:
    """The first string after every string starting with `prefix` (code point order is UTF-8 byte
    order, which both databases compare by here); None if there is none. Never a lone surrogate,
    which no database could be sent."""
    code = ord(prefix[-1]) + 1
    if 0xD800 <= code <= 0xDFFF:
        code = 0xE000
    return prefix[:-1] + chr(code) if code <= 0x10FFFF else None


# --- unsubscribe links ----------------------------------------------------------------------


@dataclass(frozen=True)
class LinkPayload:
    """What an unsubscribe link names: the address, and the lead the email was about (if any)."""
    address: str
    lead_id: int | None


def link_token(address: str, lead_id: int | None, now: datetime | None = None) -> str:
    """A signed token naming this address (and lead), good for LINK_LIFETIME."""
    from app.services.appointment_emails import link_serializer
    expires = int(((now or utcnow()) + LINK_LIFETIME).replace(tzinfo=timezone.utc).timestamp())
    return link_serializer(LINK_SALT).dumps([key(address), lead_id, expires])


def read_token(token: str, now: datetime | None = None) -> LinkPayload:
    """What a token names; raises UnsubscribeLinkInvalid or UnsubscribeLinkExpired."""
    from app.services.appointment_emails import link_serializer
    try:
        address, lead_id, expires = link_serializer(LINK_SALT).loads(token)
    except (BadSignature, ValueError, TypeError):
        raise UnsubscribeLinkInvalid() from None
    if (not isinstance(address, str) or not address or not isinstance(expires, int)
            or not (lead_id is None or isinstance(lead_id, int))):
        raise UnsubscribeLinkInvalid()
    if (now or utcnow()).replace(tzinfo=timezone.utc).timestamp() >= expires:
        raise UnsubscribeLinkExpired()
    return LinkPayload(address, lead_id)


def unsubscribe_url(address: str, lead_id: int | None, now: datetime | None = None) -> str:
    """The absolute unsubscribe link for an email to this address (BASE_URL; no request needed)."""
    from app.services.appointment_emails import absolute_url
    return absolute_url("public.unsubscribe", token=link_token(address, lead_id, now))


def unsubscribe_headers(address: str, lead_id: int | None, now: datetime | None = None) -> dict[str, str]:
    """The RFC 8058 headers for an email to this address: pass them to outbox.queue_email(headers=...)."""
    return {"List-Unsubscribe": f"<{unsubscribe_url(address, lead_id, now)}>",
            "List-Unsubscribe-Post": ONE_CLICK}


def unsubscribe(payload: LinkPayload, now: datetime | None = None) -> bool:
    """What pressing an unsubscribe link does, in one transaction: the address goes on the list (its
    waiting emails withheld) and the lead's timeline says so. True if this press added it; pressing
    again changes nothing. The lead's (and the address's)
    sequences stop (sequences.on_address_refused)."""
    now = now or utcnow()
    with atomic():
        entry, added = suppress(payload.address, SuppressionReason.unsubscribed.value, payload.lead_id, now)
        if added and entry.lead_id is not None:
            record(entry.lead_id, "unsubscribed", None, {"to": entry.address}, now)
            from app.services import events  # noqa: PLC0415 (events -> automations -> ... -> suppression)
            events.emit("lead.unsubscribed", lead_id=entry.lead_id, now=now)
        on_address_refused(payload.address, payload.lead_id, "unsubscribed", now)
    return added


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget_secret(session) -> None:
    session.info.pop(SECRET_CACHE, None)
