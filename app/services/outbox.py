"""The email pipeline: every email is an outbox row first, and jobs deliver rows.

A row is written in the same transaction as the event that causes it (queue_email), and enqueued
only once that transaction has committed (the after_commit hook below). A job claims its row with a
conditional UPDATE before sending, so two workers, or one job delivered twice, never send one row
twice. A failed send is retried with backoff from the row itself; a sweeper re-enqueues rows a Redis
outage or a killed worker left behind. With no SMTP_URL, "sending" keeps the email in the local
outbox, which admins read at /outbox."""
from __future__ import annotations

import base64
import logging
import smtplib
import ssl
from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.header import Header
from email.policy import SMTP
from email.utils import formataddr, formatdate, make_msgid, parseaddr, quote
from urllib.parse import unquote, urlsplit

from flask import current_app
from redis import RedisError
from rq.job import Job, JobStatus
from sqlalchemy import event, func, or_, select, update
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import EmailState, OutboxEmail
from app.queue import QueueUnavailable, connection, enqueue, queue
from app.services import NotFound, ServiceError, atomic, utcnow
from app.services.timeline import record

log = logging.getLogger(__name__)
PENDING = "leadboard_outbox_pending"
JOB = "app.jobs.email.deliver"
# A row is due by its writer's clock (a web server's) and claimed by a worker's a moment later: a
# worker whose clock runs slightly behind must still take it, not skip it and leave it to the sweeper.
CLOCK_SKEW = timedelta(seconds=2)
NEWLINE_FOLD = "\n "  # a header continues on the next line; the generator writes the policy's CRLF
WRITTEN_BY_A_PERSON = frozenset({"lead_email"})  # emails a member wrote: not marked Auto-Submitted


class EmailNotFound(NotFound):
    def __init__(self):
        super().__init__("That email is not in the outbox.")


class SmtpUrlError(ServiceError):
    """SMTP_URL is not something we can send through."""


# --- writing rows -----------------------------------------------------------------------------


def queue_email(*, kind: str, to_address: str, to_name: str = "", subject: str, text_body: str, html_body: str,
                attachments: list[dict] | None = None, lead_id: int | None = None,
                appointment_id: int | None = None, now: datetime | None = None, reply_to: str | None = None,
                sender_name: str | None = None, headers: dict[str, str] | None = None) -> OutboxEmail:
    """Add an email to the current transaction (call inside atomic()); it is enqueued after commit.

    `sender_name` replaces MAIL_FROM's display name (the address stays the team's); `reply_to` is
    an address answers go to (a member writing to a lead). `headers` are extra headers
    (suppression.unsubscribe_headers). An email to an address on the suppression list is kept in
    the state "suppressed", never sent, unless its kind is exempt (suppression.withheld): the row
    and the lead's timeline say why."""
    from app.services.suppression import suppressed_error, withheld
    now = now or utcnow()
    sender = current_app.config["MAIL_FROM"]
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    if sender_name:
        # Quoted, not encoded: build_message encodes the name as the From header needs. A name too
        # long for the column keeps the team's own From.
        named = f'"{quote(one_line(sender_name, 200))}" <{parseaddr(sender)[1]}>'
        sender = named if len(named) <= OutboxEmail.sender.type.length else sender
    row = OutboxEmail(kind=kind, state=EmailState.queued.value, sender=sender, reply_to=reply_to or None,
                      to_address=to_address,
                      to_name=one_line(to_name, 200), subject=one_line(subject, 300), text_body=text_body, html_body=html_body,
                      attachments=attachments or [], message_id=make_msgid(domain=domain),
                      date_header=formatdate(localtime=False, usegmt=True), attempts=0, created_at=now,
                      updated_at=now, next_attempt_at=now, lead_id=lead_id, appointment_id=appointment_id,
                      extra_headers={name: one_line(value, 2000) for name, value in (headers or {}).items()} or None)
    why = withheld(kind, to_address)
    if why:
        row.state, row.last_error = EmailState.suppressed.value, suppressed_error(why)
    db.session.add(row)
    db.session.flush()
    if why:
        _record_on_lead(row, "email_suppressed", now, reason=why)
    else:
        db.session.info.setdefault(PENDING, []).append(row.id)
    return row


def one_line(text: str | None, limit: int) -> str:
    """Header text: whitespace (line breaks a person typed included) folded to single spaces, cut to fit."""
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


@event.listens_for(Session, "after_commit")
def _enqueue_committed(session: Session) -> None:
    """Enqueue the rows this transaction wrote, now that they exist for any worker to read."""
    for outbox_id in session.info.pop(PENDING, None) or []:
        if not enqueue_delivery(outbox_id):
            break  # Redis is away: the sweeper enqueues the rest, rather than each waiting out a timeout


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    if not session.in_transaction():  # the outer transaction, not a savepoint
        session.info.pop(PENDING, None)


def job_id(outbox_id: int, attempts: int = 0) -> str:
    """One job id per row and attempt, so a retry never reuses the id of the job now running."""
    return f"outbox-{outbox_id}" if not attempts else f"outbox-{outbox_id}-retry{attempts}"


def _job_timeout() -> int:
    """RQ stops a send that runs this long, well inside the row's lease, so a slow relay can never
    still be sending when the lease runs out and the sweeper hands the row to another worker."""
    return max(5, int(current_app.config["EMAIL_LEASE_SECONDS"] * 0.75))


def enqueue_delivery(outbox_id: int, attempts: int = 0, at: datetime | None = None) -> bool:
    """Put a row's delivery job on the queue (at a time, for retries); False when Redis is away.

    The row is the record, so a failure here loses nothing: the sweeper enqueues it later."""
    job = job_id(outbox_id, attempts)
    try:
        if at is None:
            enqueue(JOB, outbox_id, job_id=job, job_timeout=_job_timeout())
        else:
            # RQ's scheduler keeps whole seconds, dropping the fraction, so it would start the job
            # up to a second before the row is due, and the job would find nothing to claim.
            at = at.replace(tzinfo=timezone.utc)
            if at.microsecond:
                at = at.replace(microsecond=0) + timedelta(seconds=1)
            try:
                queue().enqueue_at(at, JOB, outbox_id, job_id=job, job_timeout=_job_timeout())
            except RedisError as exc:
                raise QueueUnavailable(str(exc)) from exc
    except QueueUnavailable as exc:
        # No REDIS_URL at all (a seed script, a shell) is expected; Redis not answering is not.
        level = logging.WARNING if current_app.config["REDIS_URL"] else logging.INFO
        log.log(level, "Email %s stays queued in the outbox until a worker's sweeper enqueues it: %s", outbox_id, exc)
        return False
    return True


# --- delivering -------------------------------------------------------------------------------


@dataclass
class Delivery:
    outcome: str  # "sent", "retry", "failed", "skipped"
    retry_at: datetime | None = None
    attempts: int = 0


def build_message(row: OutboxEmail) -> EmailMessage:
    """The row as a MIME message: text and HTML alternatives, then any attachments."""
    message = EmailMessage(policy=SMTP)
    sender_name, sender_address = parseaddr(row.sender)
    message.set_raw("From", address_header("From", sender_name, sender_address) if sender_address else row.sender)
    message.set_raw("To", address_header("To", row.to_name, row.to_address))
    if row.reply_to:
        message.set_raw("Reply-To", address_header("Reply-To", "", row.reply_to))
    message["Subject"] = row.subject
    message["Date"] = row.date_header
    message["Message-ID"] = row.message_id
    if row.kind not in WRITTEN_BY_A_PERSON:  # an auto-reply to a person's email is fine
        message["Auto-Submitted"] = "auto-generated"
    for name, value in (row.extra_headers or {}).items():
        message.set_raw(name, OneLineHeader(name, value))
    message.set_content(row.text_body)
    message.add_alternative(row.html_body, subtype="html")
    for attachment in row.attachments or []:
        maintype, _, rest = attachment["content_type"].partition("/")
        subtype, *params = [part.strip() for part in rest.split(";")]
        extra = dict(param.split("=", 1) for param in params if "=" in param)
        if attachment.get("encoding") == "base64":  # a file a person attached, kept as base64 text
            message.add_attachment(base64.b64decode(attachment["content"]), maintype=maintype, subtype=subtype,
                                   filename=attachment["filename"])
        else:
            message.add_attachment(attachment["content"], subtype=subtype, filename=attachment["filename"],
                                   params=extra)
    return message


class OneLineHeader(str):
    """A header written on one line exactly as given: the email package would fold a long
    List-Unsubscribe URL into RFC 2047 encoded words, which no mail client reads as a link.
    (RFC 5322 allows 998 characters a line; queue_email keeps extra headers to 2,000, so longer
    ones are folded the usual way.)"""

    def __new__(cls, name: str, value: str):
        header = super().__new__(cls, value)
        header.name = name
        return header

    def fold(self, *, policy) -> str:
        if len(self.name) + 2 + len(self) > 998 or not self.isascii():
            return policy.header_factory(self.name, str(self)).fold(policy=policy)
        return f"{self.name}: {self}{policy.linesep}"


def address_header(header: str, name: str, address: str) -> str:
    """`Name <address>` for a From or To header, already folded, so nothing refolds it.

    The email package's folder can break a long quoted display name across lines and drop its
    quotes, so "Smith, John" becomes two addresses. A name that fits on the line is a quoted string;
    a longer one (or one outside ASCII) is RFC 2047 encoded words, which fold between words and
    cannot change the address whatever a reader makes of them."""
    if not name:
        return address
    plain = formataddr((name, address))
    if plain.isascii() and "=?" not in plain and len(header) + 2 + len(plain) <= 78:
        return plain
    encoded = Header(name, "utf-8", header_name=header).encode(linesep="\n")
    fits = len(encoded.rsplit("\n", 1)[-1]) + len(address) + 3 <= 78
    return f"{encoded}{' ' if fits else NEWLINE_FOLD}<{address}>"


def headers_of(row: OutboxEmail) -> tuple[list[tuple[str, str]], str | None]:
    """The headers the row goes out with, or none and the reason it cannot be built."""
    try:
        return build_message(row).items(), None
    except (ValueError, KeyError, TypeError) as exc:
        return [], f"{type(exc).__name__}: {exc}"


def smtp_settings(url: str) -> dict:
    """Parse SMTP_URL: smtp://[user:pass@]host[:port] (STARTTLS when offered) or smtps:// (TLS)."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise SmtpUrlError("SMTP_URL must look like smtp://user:password@host:587 or smtps://host:465.")
    return {"tls": parts.scheme == "smtps", "host": parts.hostname,
            "port": parts.port or (465 if parts.scheme == "smtps" else 587),
            "username": unquote(parts.username) if parts.username else None,
            "password": unquote(parts.password) if parts.password else None}


@lru_cache(maxsize=1)
def tls_context() -> ssl.SSLContext:
    """One verifying TLS context per process: loading the CA bundle costs ~24 ms a send (bench/)."""
    return ssl.create_default_context()


def send_smtp(message: EmailMessage, url: str, timeout: float, to_address: str) -> None:
    """Hand the message to the relay. A password is never sent over a connection without TLS."""
    settings = smtp_settings(url)
    if settings["tls"]:
        client = smtplib.SMTP_SSL(settings["host"], settings["port"], timeout=timeout, context=tls_context())
    else:
        client = smtplib.SMTP(settings["host"], settings["port"], timeout=timeout)
    try:
        client.ehlo()
        if not settings["tls"] and client.has_extn("starttls"):
            client.starttls(context=tls_context())
            client.ehlo()
        elif not settings["tls"] and settings["username"]:
            raise smtplib.SMTPNotSupportedError(
                "The relay does not offer STARTTLS, so the password was not sent. Use smtps:// or a relay with TLS.")
        if settings["username"]:
            client.login(settings["username"], settings["password"] or "")
        client.send_message(message, to_addrs=[to_address])
    finally:
        try:  # once the relay has accepted the message, trouble saying goodbye is not a failed send
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()


def _claim(outbox_id: int, now: datetime) -> int | None:
    """Take the row for this worker; the attempt number, or None if it isn't ours to send."""
    lease = timedelta(seconds=current_app.config["EMAIL_LEASE_SECONDS"])
    with atomic():
        claimed = db.session.execute(
            update(OutboxEmail)
            .where(OutboxEmail.id == outbox_id,
                   or_((OutboxEmail.state == EmailState.queued.value)
                       & (OutboxEmail.next_attempt_at <= now + CLOCK_SKEW),
                       (OutboxEmail.state == EmailState.sending.value) & (OutboxEmail.lease_until < now)))
            .values(state=EmailState.sending.value, attempts=OutboxEmail.attempts + 1, lease_until=now + lease,
                    updated_at=now)
            .execution_options(synchronize_session=False)).rowcount
        if not claimed:
            return None
        return db.session.scalar(select(OutboxEmail.attempts).where(OutboxEmail.id == outbox_id))


def deliver(outbox_id: int, now: datetime | None = None) -> Delivery:
    """Send one row, at most once: claim it, send it, record the outcome.

    A failure leaves the row queued for a later attempt (retry_at says when) until the attempts run
    out; then it is failed and the lead's timeline says so."""
    now = now or utcnow()
    attempt = _claim(outbox_id, now)
    if attempt is None:
        return Delivery("skipped")
    row = db.session.get(OutboxEmail, outbox_id)
    db.session.refresh(row)
    kind, facts = row.kind, {"subject": row.subject, "to": row.to_address}
    url = current_app.config["SMTP_URL"]
    try:
        # The local outbox keeps the row as it is; building the message still proves it is sendable.
        message = build_message(row)
        db.session.rollback()  # hold no transaction open while talking to the relay
        if url:
            send_smtp(message, url, current_app.config["SMTP_TIMEOUT"], facts["to"])
    except Exception as exc:
        # Any error is this attempt failing. One escaping the job would leave the row sending, to be
        # reclaimed and crash again after every lease, never reaching failed for an admin to see.
        db.session.rollback()
        return _failed_attempt(outbox_id, attempt, f"{type(exc).__name__}: {exc}"[:2000], permanent(exc))
    with atomic():
        finished = utcnow()
        done = db.session.execute(
            update(OutboxEmail)
            .where(OutboxEmail.id == outbox_id, OutboxEmail.state == EmailState.sending.value,
                   OutboxEmail.attempts == attempt)
            .values(state=EmailState.sent.value, sent_at=finished, updated_at=finished, lease_until=None,
                    last_error=None, transport="smtp" if url else "local")
            .execution_options(synchronize_session=False)).rowcount
        # Read the lead afresh: a merge may have moved the row, or the lead gone, while we sent.
        lead_id = db.session.scalar(select(OutboxEmail.lead_id).where(OutboxEmail.id == outbox_id)) if done else None
        if lead_id is not None and kind != "owner_notice":
            record(lead_id, "email_sent", None, facts, finished)
    return Delivery("sent")


def permanent(exc: Exception) -> bool:
    """Failures that another attempt cannot fix: the relay's 5xx refusals, a message that cannot be
    built, a relay without the TLS our password needs. An admin's retry still can, once fixed."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException) and not isinstance(exc, smtplib.SMTPServerDisconnected):
        return exc.smtp_code >= 500
    return isinstance(exc, (smtplib.SMTPNotSupportedError, SmtpUrlError, ValueError, KeyError, TypeError))


def _failed_attempt(outbox_id: int, attempt: int, error: str, permanent: bool = False) -> Delivery:
    delays = current_app.config["EMAIL_RETRY_DELAYS"]
    now = utcnow()
    with atomic():
        row = db.session.get(OutboxEmail, outbox_id)
        if row is None or row.state != EmailState.sending.value or row.attempts != attempt:
            return Delivery("skipped")  # someone else has the row now
        row.last_error, row.updated_at, row.lease_until = error, now, None
        if permanent or attempt > len(delays):
            row.state, row.failed_at = EmailState.failed.value, now
            _record_on_lead(row, "email_failed", now, error=error, attempts=attempt)
            log.warning("Email %s failed for good after %s attempts: %s", outbox_id, attempt, error)
            return Delivery("failed")
        row.state = EmailState.queued.value
        row.next_attempt_at = now + timedelta(seconds=delays[attempt - 1])
        log.info("Email %s attempt %s failed (%s); next try at %s", outbox_id, attempt, error, row.next_attempt_at)
        return Delivery("retry", row.next_attempt_at, attempt)


def _record_on_lead(row: OutboxEmail, kind: str, now: datetime, actor_id: int | None = None, **data) -> None:
    """What happened to an email to a prospect goes on their lead's timeline (the team's own notices don't)."""
    if row.lead_id is not None and row.kind != "owner_notice":
        record(row.lead_id, kind, actor_id, {"subject": row.subject, "to": row.to_address, **data}, now)


# --- admins -----------------------------------------------------------------------------------


def get_email(outbox_id: int) -> OutboxEmail:
    row = db.session.get(OutboxEmail, outbox_id)
    if row is None:
        raise EmailNotFound()
    return row


def retryable(row: OutboxEmail) -> bool:
    """Whether an admin may send this email again: only one that failed."""
    return row.state == EmailState.failed.value


def retry(outbox_id: int, actor_id: int) -> OutboxEmail:
    """Give a failed email a fresh set of attempts, now; raises ServiceError unless it failed."""
    with atomic():
        row = get_email(outbox_id)
        if not retryable(row):
            raise ServiceError("Only an email that failed can be retried.")
        now = utcnow()
        row.state, row.attempts, row.next_attempt_at, row.failed_at, row.updated_at = (
            EmailState.queued.value, 0, now, None, now)
        db.session.info.setdefault(PENDING, []).append(row.id)
        _record_on_lead(row, "email_retried", now, actor_id=actor_id)
    return row


def withdraw(appointment_id: int, kinds: tuple[str, ...], now: datetime) -> int:
    """Cancel this appointment's emails of these kinds that have not gone out (inside atomic())."""
    return db.session.execute(
        update(OutboxEmail)
        .where(OutboxEmail.appointment_id == appointment_id, OutboxEmail.kind.in_(kinds),
               OutboxEmail.state == EmailState.queued.value)
        .values(state=EmailState.cancelled.value, updated_at=now)
        .execution_options(synchronize_session=False)).rowcount


@dataclass
class OutboxPage:
    items: list[OutboxEmail]
    newer: bool  # there are newer emails than the first shown
    older: bool  # there are older emails than the last shown


COUNT_CAP = 10_000  # the state filters say "10,000+" beyond this, rather than count every email


def listing(state: str = "", *, before_id: int | None = None, after_id: int | None = None,
            per_page: int = 50) -> OutboxPage:
    """Newest first, a page at a time by keyset: the emails just older than `before_id`, or just
    newer than `after_id`. A cursor naming no email (deleted, or made up) gives the newest page."""
    query = select(OutboxEmail)
    if state:
        query = query.where(OutboxEmail.state == state)
    if before_id and after_id:  # a made-up address asking both ways: the newest page
        before_id = after_id = None
    cursor = db.session.get(OutboxEmail, before_id or after_id) if (before_id or after_id) else None
    newest_first = query.order_by(OutboxEmail.created_at.desc(), OutboxEmail.id.desc())
    if cursor is not None and after_id:
        newer = (OutboxEmail.created_at > cursor.created_at) | (
            (OutboxEmail.created_at == cursor.created_at) & (OutboxEmail.id > cursor.id))
        rows = list(db.session.scalars(query.where(newer).order_by(OutboxEmail.created_at, OutboxEmail.id)
                                       .limit(per_page + 1)))
        if rows:
            return OutboxPage(items=list(reversed(rows[:per_page])), newer=len(rows) > per_page, older=True)
    elif cursor is not None:
        older = (OutboxEmail.created_at < cursor.created_at) | (
            (OutboxEmail.created_at == cursor.created_at) & (OutboxEmail.id < cursor.id))
        rows = list(db.session.scalars(newest_first.where(older).limit(per_page + 1)))
        if rows:
            return OutboxPage(items=rows[:per_page], newer=True, older=len(rows) > per_page)
    rows = list(db.session.scalars(newest_first.limit(per_page + 1)))
    return OutboxPage(items=rows[:per_page], newer=False, older=len(rows) > per_page)


def counts() -> dict[str, int]:
    """Emails per state, each counted up to COUNT_CAP + 1 (an index range each, never the whole table)."""
    found = {}
    for state in EmailState:
        capped = select(OutboxEmail.id).where(OutboxEmail.state == state.value).limit(COUNT_CAP + 1).subquery()
        found[state.value] = db.session.scalar(select(func.count()).select_from(capped))
    return found


# --- the sweeper ------------------------------------------------------------------------------


@dataclass
class Sweep:
    reclaimed: int = 0
    enqueued: int = 0


def sweep(now: datetime | None = None, *, grace_seconds: int | None = None) -> Sweep:
    """Recover what a dead worker or a Redis outage left behind.

    Rows sending past their lease go back to queued and are enqueued at once (no job of theirs is
    waiting: the dead worker had taken it); other queued rows that have been due for longer than the
    grace period, and whose job Redis no longer holds, are enqueued again. A row enqueued twice is
    still sent once: delivery claims it first."""
    now = now or utcnow()
    grace = timedelta(seconds=current_app.config["SWEEP_GRACE_SECONDS"] if grace_seconds is None else grace_seconds)
    result = Sweep()
    abandoned = (OutboxEmail.state == EmailState.sending.value) & (OutboxEmail.lease_until < now)
    _fail_exhausted(abandoned, now)
    with atomic():
        reclaimed = list(db.session.scalars(select(OutboxEmail.id).where(abandoned).limit(1000)))
        if reclaimed:
            result.reclaimed = db.session.execute(
                update(OutboxEmail)
                .where(OutboxEmail.id.in_(reclaimed), abandoned)
                .values(state=EmailState.queued.value, next_attempt_at=now, lease_until=None, updated_at=now,
                        last_error="The worker sending this stopped before it finished; trying again.")
                .execution_options(synchronize_session=False)).rowcount
    due = db.session.execute(select(OutboxEmail.id, OutboxEmail.attempts, OutboxEmail.next_attempt_at).where(
        OutboxEmail.state == EmailState.queued.value,
        or_(OutboxEmail.next_attempt_at <= now - grace, OutboxEmail.id.in_(reclaimed)))
        .order_by(OutboxEmail.next_attempt_at).limit(1000)).all()
    db.session.rollback()
    pending = _pending_jobs([(outbox_id, attempts) for outbox_id, attempts, _ in due])
    for outbox_id, attempts, due_at in due:
        # Redis says its job is waiting; believe it for a while, not forever (a job hash can outlive
        # its place in the queue). A second job for one row is harmless: delivery claims it first.
        # A retry still scheduled after its time (the rows here are due past the grace period) has
        # lost its scheduler, which a Redis outage takes down with it: enqueue it now.
        overdue = due_at <= now - max(grace * 10, timedelta(minutes=10))
        stranded = pending.get(outbox_id) == "scheduled"
        if (outbox_id not in pending or overdue or stranded) and enqueue_delivery(outbox_id, attempts):
            result.enqueued += 1
    if result.reclaimed or result.enqueued:
        log.info("Sweep: %s reclaimed, %s enqueued", result.reclaimed, result.enqueued)
    return result


def _fail_exhausted(abandoned, now: datetime) -> None:
    """Abandoned rows that have had every attempt (a job that kills its worker each time, say) fail
    for good, rather than being reclaimed and crashing a worker after every lease."""
    limit = len(current_app.config["EMAIL_RETRY_DELAYS"]) + 1
    with atomic():
        rows = db.session.scalars(select(OutboxEmail).where(abandoned, OutboxEmail.attempts >= limit)
                                  .limit(1000).with_for_update(skip_locked=True)).all()
        for row in rows:
            row.state, row.failed_at, row.updated_at, row.lease_until = EmailState.failed.value, now, now, None
            row.last_error = "Every attempt ended with the worker stopping before it finished."
            _record_on_lead(row, "email_failed", now, error=row.last_error, attempts=row.attempts)


def _pending_jobs(rows: list[tuple[int, int]]) -> dict[int, str]:
    """The rows whose delivery job Redis still holds waiting, and how ("queued", "scheduled", ...)."""
    if not rows:
        return {}
    try:
        redis = connection()
        jobs = Job.fetch_many([job_id(i, attempts) for i, attempts in rows], connection=redis)
        waiting = {JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED}
        statuses = {i: job.get_status(refresh=False) for (i, _), job in zip(rows, jobs) if job is not None}
        return {i: status.value for i, status in statuses.items() if status in waiting}
    except (QueueUnavailable, RedisError):
        return {}
