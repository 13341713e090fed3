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
import random
import re
import smtplib
import ssl
import sys
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from queue import SimpleQueue
from datetime import datetime, timedelta, timezone
from email.generator import NLCRE as NEWLINES, fcre as FROM_AT_LINE_START
from email.message import EmailMessage
from email.header import Header
from email.policy import SMTP
from email.utils import formataddr, formatdate, make_msgid, parseaddr, quote
from urllib.parse import unquote, urlsplit

from flask import current_app
from redis import RedisError
from rq import Queue
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer
from sqlalchemy import event, func, insert, or_, select, update
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import EmailState, OutboxEmail, TimelineEntry
from app.queue import QUEUES, QueueUnavailable, connection, queue
from app.services import NotFound, ServiceError, atomic, bounces, outer_commit, team_settings, utcnow
from app.services.timeline import record

log = logging.getLogger(__name__)
PENDING = "leadboard_outbox_pending"
FIRST = "leadboard_outbox_first"  # those of PENDING that go out first
JOB = "app.jobs.email.deliver"  # one row
BATCH_JOB = "app.jobs.email.deliver_batch"  # many rows, over one SMTP connection
FIRST_QUEUE, BULK_QUEUE = "urgent", "default"  # app.queue.QUEUES: workers take urgent jobs first
# Kinds of email someone is waiting for, which go out ahead of any backlog of nurture emails
# (a prospect's appointment, a teammate's password reset or invitation).
FIRST_IN_LINE = ("appointment_", "account_")
MAX_CONNECTIONS = 3  # a batch opens at most this many connections: the first and two after drops
LINGER = 0.005  # seconds the recorder waits for more sent rows before it records what it has
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

    `sender_name` replaces the team's name as the From's display name (the address stays the team's); `reply_to` is
    an address answers go to (a member writing to a lead). `headers` are extra headers
    (suppression.unsubscribe_headers). An email to an address on the suppression list is kept in
    the state "suppressed", never sent, unless its kind is exempt (suppression.withheld): the row
    and the lead's timeline say why."""
    from app.services.suppression import suppressed_error, withheld
    now = now or utcnow()
    sender = team_settings.identity().sender  # the team's name and address (Team settings, else MAIL_FROM)
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


@event.listens_for(Session, "after_flush")
def _note_first_in_line(session: Session, context) -> None:
    """Remember which rows just written go out first: once committed, their kind can't be read here."""
    for obj in session.new:
        if isinstance(obj, OutboxEmail) and first_in_line(obj.kind or ""):
            session.info.setdefault(FIRST, set()).add(obj.id)


@event.listens_for(Session, "after_commit")
def _enqueue_committed(session: Session) -> None:
    """Enqueue the rows this transaction wrote, now that they exist for any worker to read: a row on
    its own is one job, many rows are batch jobs of EMAIL_BATCH_SIZE, and appointment emails go on
    the urgent queue, which workers take before the default one."""
    if not outer_commit(session):
        return  # a savepoint: the rows wait for the transaction around it
    ids = session.info.pop(PENDING, None) or []
    first = session.info.pop(FIRST, None) or set()
    if not ids:
        return
    size = current_app.config["EMAIL_BATCH_SIZE"]
    for queue_name in (FIRST_QUEUE, BULK_QUEUE):
        mine = [i for i in ids if (i in first) == (queue_name == FIRST_QUEUE)]
        for start in range(0, len(mine), size):
            if not enqueue_batch(mine[start:start + size], queue_name=queue_name):
                return  # Redis is away: the sweeper enqueues the rest, rather than each waiting out a timeout


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    if not session.in_transaction():  # the outer transaction, not a savepoint
        session.info.pop(PENDING, None)
        session.info.pop(FIRST, None)


def first_in_line(kind: str) -> bool:
    """Whether emails of this kind go out ahead of any backlog: those a prospect is waiting for."""
    return kind.startswith(FIRST_IN_LINE)


def queue_for(kind: str) -> str:
    return FIRST_QUEUE if first_in_line(kind) else BULK_QUEUE


def job_id(outbox_id: int, attempts: int = 0) -> str:
    """One job id per row and attempt, so a retry never reuses the id of the job now running."""
    return f"outbox-{outbox_id}" if not attempts else f"outbox-{outbox_id}-retry{attempts}"


def batch_job_id(outbox_ids: list[int], attempts: int = 0) -> str:
    """A batch's job id: its first row's (that row is in no other batch at that attempt) and how many
    rows it carries (outbox-12-batch100). A batch of one row has that row's own job id."""
    first = job_id(outbox_ids[0], attempts)
    return first if len(outbox_ids) == 1 else f"{first}-batch{len(outbox_ids)}"


def rows_of(job: Job) -> list[int]:
    """The outbox rows a delivery job carries (either kind of job); none for any other job."""
    if job.func_name == JOB:
        return [int(job.args[0])]
    if job.func_name == BATCH_JOB:
        return [int(i) for i in job.args[0]]
    return []


def _job_timeout() -> int:
    """RQ stops a send that runs this long, well inside the row's lease, so a slow relay can never
    still be sending when the lease runs out and the sweeper hands the row to another worker."""
    return max(5, int(current_app.config["EMAIL_LEASE_SECONDS"] * 0.75))


def enqueue_delivery(outbox_id: int, attempts: int = 0, at: datetime | None = None,
                     queue_name: str = BULK_QUEUE) -> bool:
    """Put a row's delivery job on the queue (at a time, for retries); False when Redis is away."""
    return enqueue_batch([outbox_id], attempts, at, queue_name=queue_name)


def enqueue_batch(outbox_ids: list[int], attempts: int = 0, at: datetime | None = None, *,
                  queue_name: str = BULK_QUEUE) -> bool:
    """Put one delivery job for these rows on the queue (at a time, for retries); False when Redis is
    away. `attempts` is the first row's, for the job id.

    The rows are the record, so a failure here loses nothing: the sweeper enqueues them later."""
    func, args = (JOB, (outbox_ids[0],)) if len(outbox_ids) == 1 else (BATCH_JOB, (list(outbox_ids),))
    job = batch_job_id(outbox_ids, attempts)
    try:
        try:
            target = queue(queue_name)
            if at is None:
                target.enqueue(func, *args, job_id=job, job_timeout=_job_timeout())
            else:
                # RQ's scheduler keeps whole seconds, dropping the fraction, so it would start the job
                # up to a second before the row is due, and the job would find nothing to claim.
                at = at.replace(tzinfo=timezone.utc)
                if at.microsecond:
                    at = at.replace(microsecond=0) + timedelta(seconds=1)
                target.enqueue_at(at, func, *args, job_id=job, job_timeout=_job_timeout())
        except RedisError as exc:
            raise QueueUnavailable(str(exc)) from exc
    except QueueUnavailable as exc:
        # No REDIS_URL at all (a seed script, a shell) is expected; Redis not answering is not.
        level = logging.WARNING if current_app.config["REDIS_URL"] else logging.INFO
        log.log(level, "%s email(s) from %s stay queued in the outbox until a worker's sweeper enqueues them: %s",
                len(outbox_ids), outbox_ids[0], exc)
        return False
    return True


def enqueue_retries(results: dict[int, Delivery]) -> None:
    """Schedule the retries a delivery asked for: one job per queue, attempt and second."""
    groups: dict[tuple, list[int]] = {}
    for outbox_id, result in results.items():
        if result.outcome == "retry":
            groups.setdefault((result.queue, result.attempts, result.retry_at), []).append(outbox_id)
    size = current_app.config["EMAIL_BATCH_SIZE"]
    for (queue_name, attempts, at), ids in groups.items():
        for start in range(0, len(ids), size):
            enqueue_batch(ids[start:start + size], attempts, at, queue_name=queue_name)


# --- delivering -------------------------------------------------------------------------------


@dataclass
class Delivery:
    outcome: str  # "sent", "retry", "failed", "skipped"
    retry_at: datetime | None = None
    attempts: int = 0
    queue: str = "default"  # where its retry goes


def build_message(row: OutboxEmail) -> EmailMessage:
    """The row as a MIME message: text and HTML alternatives, then any attachments."""
    message = EmailMessage(policy=SMTP)
    for name, value, parsed in _top_headers(row):
        if parsed:
            message[name] = value
        else:
            message.set_raw(name, value)
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


def _top_headers(row: OutboxEmail) -> list[tuple[str, str, bool]]:
    """The message's own headers in order: (name, value, whether the email package parses the value)
    or, unparsed, writes it as given (addresses already folded, extra headers on one line)."""
    sender_name, sender_address = _parsed_sender(row.sender)
    headers = [("From", address_header("From", sender_name, sender_address) if sender_address else row.sender, False),
               ("To", address_header("To", row.to_name, row.to_address), False)]
    if row.reply_to:
        headers.append(("Reply-To", address_header("Reply-To", "", row.reply_to), False))
    headers += [("Subject", row.subject, True), ("Date", row.date_header, True), ("Message-ID", row.message_id, True)]
    if row.kind not in WRITTEN_BY_A_PERSON:  # an auto-reply to a person's email is fine
        headers.append(("Auto-Submitted", "auto-generated", True))
    headers += [(name, OneLineHeader(name, value), False) for name, value in (row.extra_headers or {}).items()]
    return headers


# What message_bytes writes directly; anything else goes through the email package.
ATOM, LABEL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+", r"[A-Za-z0-9-]+"
PLAIN_ADDRESS = re.compile(rf"{ATOM}(\.{ATOM})*@{LABEL}(\.{LABEL})*")
MESSAGE_ID = re.compile(rf"<{PLAIN_ADDRESS.pattern}>")
BOUNDARY_WIDTH = len(repr(sys.maxsize - 1))  # as email.generator makes a boundary
BOUNDARY_ZERO = f"{'=' * 15}{0:0{BOUNDARY_WIDTH}d}==".encode("ascii")


def message_bytes(row: OutboxEmail) -> tuple[str, bytes] | None:
    """The envelope sender and the bytes on the wire for a usual email (text and HTML, no
    attachments, ASCII addresses), or None for any other, which is sent as build_message(row).

    Byte for byte what smtplib's send_message writes for build_message(row), boundary aside
    (tests/unit/test_message_bytes.py compares them), at a fraction of the cost: the email
    package parses every header it is given, and each part's headers several times over. Here a
    value it would write unchanged (an ASCII subject that fits the line, a plain Message-ID) is
    written as it is, one that repeats (the subject and date of a sequence step, the parts'
    headers) is folded by the email package once, and the bodies are encoded by its own function."""
    sender_address = _parsed_sender(row.sender)[1]
    if row.attachments or not PLAIN_ADDRESS.fullmatch(sender_address) or not PLAIN_ADDRESS.fullmatch(row.to_address):
        return None
    head = []
    for name, value, parsed in _top_headers(row):
        if not parsed:
            head.append(SMTP.fold_binary(name, value))
        elif name == "Message-ID" and MESSAGE_ID.fullmatch(value) and len(value) <= 66:
            head.append(f"Message-ID: {value}\r\n".encode("ascii"))
        else:
            head.append(_folded(name, value))
    parts = [_text_part(row.text_body, "plain"), _text_part(row.html_body, "html")]
    token = random.randrange(sys.maxsize)
    boundary = f"{'=' * 15}{token:0{BOUNDARY_WIDTH}d}==".encode("ascii")
    if any(b"--" + boundary in part for part in parts):  # as the generator would, pick another
        return None
    head.append(_folded_multipart().replace(BOUNDARY_ZERO, boundary))
    separator = b"\r\n--" + boundary + b"\r\n"
    body = b"--" + boundary + b"\r\n" + separator.join(parts) + b"\r\n--" + boundary + b"--\r\n"
    return sender_address, b"".join(head) + b"\r\n" + body


@lru_cache(maxsize=64)
def _parsed_sender(sender: str) -> tuple[str, str]:
    """parseaddr of a row's sender: the team's address, or a member's name at it; few in a batch."""
    return parseaddr(sender)


@lru_cache(maxsize=256)
def _folded(name: str, value: str) -> bytes:
    """A header as the email package folds it when set on a message (message[name] = value)."""
    return SMTP.fold_binary(name, SMTP.header_store_parse(name, value)[1])


@lru_cache(maxsize=1)
def _folded_multipart() -> bytes:
    """The MIME-Version and multipart Content-Type headers, for the boundary BOUNDARY_ZERO: the
    generator's boundaries are all one length, of characters that fold alike."""
    return _folded("MIME-Version", "1.0") + _folded(
        "Content-Type", f'multipart/alternative; boundary="{BOUNDARY_ZERO.decode()}"')


def _encode_text_by_set_content(text: str, charset: str, cte: str | None, policy) -> tuple[str, str]:
    """set_content's choice of transfer encoding for a text body, and the body so encoded, read off
    a part it made: the same answer as the email package's private helper, more slowly."""
    part = EmailMessage(policy=policy)
    part.set_content(text, charset=charset, cte=cte)
    chosen, payload = part["Content-Transfer-Encoding"], part.get_payload()
    if chosen == "8bit":  # get_payload hands 8bit text back decoded; the part holds its bytes as surrogates
        payload = payload.encode(charset).decode("ascii", "surrogateescape")
    return chosen, payload


try:  # the email package's own helper behind set_content (private, so it may go in a later Python)
    from email.contentmanager import _encode_text
except ImportError:  # pragma: no cover - a Python without it
    _encode_text = _encode_text_by_set_content


def _text_part(text: str, subtype: str) -> bytes:
    """A text part as add_alternative makes it: encoded as set_content chooses, lines ending in CRLF,
    and "From " starting a line written ">From " (send_message's generator does, as for an mbox)."""
    cte, payload = _encode_text(text, "utf-8", None, SMTP)
    lines = NEWLINES.sub("\r\n", FROM_AT_LINE_START.sub(">From ", payload)).encode("ascii", "surrogateescape")
    return _part_head(subtype, cte) + b"\r\n" + lines


@lru_cache(maxsize=16)
def _part_head(subtype: str, cte: str) -> bytes:
    """A text part's headers, as the email package writes them: the first alternative (moved from the
    message) has none of its own MIME-Version, the second has one."""
    part = EmailMessage(policy=SMTP)
    part.set_content("", subtype=subtype, cte=cte)
    return b"".join(SMTP.fold_binary(name, value) for name, value in part.raw_items()
                    if subtype == "html" or name != "MIME-Version")


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


class Relay:
    """One connection to the relay for a batch of messages: opened when first needed and again after
    the relay drops it. A password is never sent over a connection without TLS."""

    def __init__(self, url: str, timeout: float):
        self.settings = smtp_settings(url)
        self.timeout = timeout
        self.client: smtplib.SMTP | None = None
        self.connections = 0

    def connect(self) -> None:
        settings = self.settings
        self.connections += 1
        if settings["tls"]:
            client = smtplib.SMTP_SSL(settings["host"], settings["port"], timeout=self.timeout, context=tls_context())
        else:
            client = smtplib.SMTP(settings["host"], settings["port"], timeout=self.timeout)
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
        except BaseException:
            client.close()
            raise
        self.client = client

    def send(self, message: EmailMessage | tuple[str, bytes], to_address: str) -> None:
        """Hand one message over (or the envelope sender and bytes of one, from message_bytes),
        connecting first if need be. A refusal of this message leaves the connection open for the
        next; a dropped connection is closed, to be opened again."""
        if self.client is None:
            self.connect()
        try:
            if isinstance(message, tuple):
                self.client.sendmail(message[0], [to_address], message[1])
            else:
                self.client.send_message(message, to_addrs=[to_address])
        except (smtplib.SMTPServerDisconnected, OSError):
            self.close(polite=False)
            raise
        except smtplib.SMTPException:
            if self.client.sock is None:  # smtplib closed it: the relay said 421, closing
                self.client = None
            raise

    def close(self, polite: bool = True) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        try:  # once the relay has accepted the messages, trouble saying goodbye is not a failed send
            if polite:
                client.quit()
                return
        except (smtplib.SMTPException, OSError):
            pass
        client.close()


def send_smtp(message: EmailMessage | tuple[str, bytes], url: str, timeout: float, to_address: str) -> None:
    """Hand one message to the relay over a connection of its own."""
    relay = Relay(url, timeout)
    try:
        relay.send(message, to_address)
    finally:
        relay.close()


@dataclass
class _Outgoing:
    id: int
    attempt: int
    kind: str
    queue: str
    facts: dict
    message: EmailMessage | tuple[str, bytes] | None = None  # what Relay.send takes


def _claim(outbox_id: int, now: datetime) -> int | None:
    """Take the row for this worker; the attempt number, or None if it isn't ours to send."""
    return _claim_many([outbox_id], now).get(outbox_id)


def _claim_many(outbox_ids: list[int], now: datetime) -> dict[int, int]:
    """Take those of these rows that are due (or abandoned past their lease) for this worker, in one
    conditional UPDATE: {row id: attempt number} of the rows now ours to send."""
    lease = timedelta(seconds=current_app.config["EMAIL_LEASE_SECONDS"])
    with atomic():
        claimed = db.session.execute(
            update(OutboxEmail)
            .where(OutboxEmail.id.in_(outbox_ids),
                   or_((OutboxEmail.state == EmailState.queued.value)
                       & (OutboxEmail.next_attempt_at <= now + CLOCK_SKEW),
                       (OutboxEmail.state == EmailState.sending.value) & (OutboxEmail.lease_until < now)))
            .values(state=EmailState.sending.value, attempts=OutboxEmail.attempts + 1, lease_until=now + lease,
                    updated_at=now)
            .returning(OutboxEmail.id, OutboxEmail.attempts)
            .execution_options(synchronize_session=False)).all()
    return {outbox_id: attempts for outbox_id, attempts in claimed}


def deliver(outbox_id: int, now: datetime | None = None) -> Delivery:
    """Send one row, at most once: claim it, send it, record the outcome (see deliver_batch)."""
    return deliver_batch([outbox_id], now)[outbox_id]


def deliver_batch(outbox_ids: list[int], now: datetime | None = None) -> dict[int, Delivery]:
    """Send these rows, each at most once, over one connection to the relay: claim those that are
    due in one statement, send them one after another, and record each as soon as the relay has
    taken it, so a worker killed mid-batch leaves only unsent rows to be sent again.

    A refused message fails only its own row: it stays queued for a later attempt (retry_at says
    when) until the attempts run out; then it is failed and the lead's timeline says so. A relay that
    refuses an address for good marks it undeliverable on the lead. Rows not sent within half the
    lease (a slow relay) go back to the queue untouched, for another job."""
    now = now or utcnow()
    results = {outbox_id: Delivery("skipped") for outbox_id in outbox_ids}
    claimed = _claim_many(outbox_ids, now)
    if not claimed:
        return results
    rows = db.session.scalars(select(OutboxEmail).where(OutboxEmail.id.in_(claimed)).order_by(OutboxEmail.id)
                              .execution_options(populate_existing=True)).all()
    outgoing, failures = [], []
    for row in rows:
        item = _Outgoing(row.id, claimed[row.id], row.kind, queue_for(row.kind),
                         {"subject": row.subject, "to": row.to_address})
        try:
            # The local outbox keeps the row as it is; building the message still proves it is sendable.
            item.message = message_bytes(row) or build_message(row)
            outgoing.append(item)
        except Exception as exc:
            failures.append((item, exc))
    db.session.rollback()  # hold no transaction open while talking to the relay
    url = current_app.config["SMTP_URL"]
    if not url:
        results.update(_mark_sent(outgoing, "local"))
    else:
        failures += _send_all(outgoing, url, results, started=utcnow())
    results.update(_failed_attempts(failures))
    return results


def _send_all(outgoing: list[_Outgoing], url: str, results: dict[int, Delivery],
              started: datetime) -> list[tuple[_Outgoing, Exception]]:
    """Send each message over one connection, each sent row recorded at once; the failures."""
    failures: list[tuple[_Outgoing, Exception]] = []
    budget = timedelta(seconds=current_app.config["EMAIL_LEASE_SECONDS"] / 2)
    try:
        relay = Relay(url, current_app.config["SMTP_TIMEOUT"])
    except SmtpUrlError as exc:
        return [(item, exc) for item in outgoing]
    recorder = _Recorder(current_app._get_current_object())
    try:
        for position, item in enumerate(outgoing):
            if utcnow() - started > budget:
                _release(outgoing[position:])
                break
            if relay.client is None and relay.connections >= MAX_CONNECTIONS:
                # The relay keeps dropping us: the rest wait for their next attempt.
                gone = smtplib.SMTPServerDisconnected("The relay closed the connection again and again.")
                failures += [(rest, gone) for rest in outgoing[position:]]
                break
            try:
                if relay.client is None:
                    relay.connect()
            except Exception as exc:  # no relay to talk to: no message of this batch can go now
                failures += [(rest, exc) for rest in outgoing[position:]]
                break
            try:
                relay.send(item.message, item.facts["to"])
            except Exception as exc:
                # Any error is this attempt failing. One escaping the job would leave the rows sending,
                # to be reclaimed and crash again after every lease, never reaching failed for an admin.
                failures.append((item, exc))
                continue
            recorder.sent(item)
    finally:
        relay.close()
        results.update(recorder.close())
    return failures


class _Recorder:
    """Records rows sent from a thread of its own, as soon as the relay has taken each, in as few
    transactions as keep up with the sender: the sender never waits on the database, and a row the
    relay took is recorded within about one commit, as when every email had a job of its own, so
    a worker killed mid-batch leaves only unsent rows to be sent again."""

    def __init__(self, app):
        self.app = app
        self.waiting: SimpleQueue = SimpleQueue()
        self.results: dict[int, Delivery] = {}
        self.thread = threading.Thread(target=self._run, name="outbox-recorder", daemon=True)
        self.thread.start()

    def sent(self, item: _Outgoing) -> None:
        self.waiting.put(item)

    def close(self) -> dict[int, Delivery]:
        """Wait until every row handed over is recorded; what was."""
        self.waiting.put(None)
        self.thread.join()
        return self.results

    def _run(self) -> None:
        with self.app.app_context():  # a session of its own
            closing = False
            while not closing:
                items = [self.waiting.get()]
                time.sleep(LINGER)  # let a few more arrive: one transaction for them all costs as much as one
                while not self.waiting.empty():
                    items.append(self.waiting.get())
                closing = None in items
                items = [item for item in items if item is not None]
                for _ in range(3):  # the database blinking costs a moment, not a second send
                    try:
                        self.results.update(_mark_sent(items, "smtp"))
                        break
                    except Exception:
                        log.exception("Could not record %s sent email(s) from %s; trying again",
                                      len(items), items[0].id if items else None)
                        db.session.rollback()
                        time.sleep(0.5)
            db.session.remove()


def _mark_sent(items: list[_Outgoing], transport: str) -> dict[int, Delivery]:
    """Record these rows sent (each still ours at its attempt), with their leads' timeline entries."""
    if not items:
        return {}
    finished = utcnow()
    by_id = {item.id: item for item in items}
    done = []
    with atomic():
        for attempt in sorted({item.attempt for item in items}):
            done += db.session.execute(
                update(OutboxEmail)
                .where(OutboxEmail.id.in_([item.id for item in items if item.attempt == attempt]),
                       OutboxEmail.state == EmailState.sending.value, OutboxEmail.attempts == attempt)
                .values(state=EmailState.sent.value, sent_at=finished, updated_at=finished, lease_until=None,
                        last_error=None, transport=transport)
                .returning(OutboxEmail.id, OutboxEmail.lead_id)  # the lead afresh: a merge may have moved the row
                .execution_options(synchronize_session=False)).all()
        entries = [{"lead_id": lead_id, "kind": "email_sent", "actor_id": None, "data": by_id[outbox_id].facts,
                    "created_at": finished}
                   for outbox_id, lead_id in done if lead_id is not None and by_id[outbox_id].kind != "owner_notice"]
        if entries:  # timeline.record's entries, set-based: one statement, not an ORM flush per email
            db.session.execute(insert(TimelineEntry), entries)
    return {outbox_id: Delivery("sent") for outbox_id, _ in done}


def _release(items: list[_Outgoing]) -> None:
    """Hand rows this worker claimed but did not try back to the queue, their attempt not counted,
    and enqueue them again."""
    now = utcnow()
    with atomic():
        for attempt in sorted({item.attempt for item in items}):
            db.session.execute(
                update(OutboxEmail)
                .where(OutboxEmail.id.in_([item.id for item in items if item.attempt == attempt]),
                       OutboxEmail.state == EmailState.sending.value, OutboxEmail.attempts == attempt)
                .values(state=EmailState.queued.value, attempts=attempt - 1, lease_until=None, next_attempt_at=now,
                        updated_at=now)
                .execution_options(synchronize_session=False))
    log.info("%s email(s) from %s went back to the queue: the batch ran out of time", len(items), items[0].id)
    size = current_app.config["EMAIL_BATCH_SIZE"]
    for start in range(0, len(items), size):
        chunk = items[start:start + size]
        enqueue_batch([item.id for item in chunk], chunk[0].attempt - 1, queue_name=chunk[0].queue)


def permanent(exc: Exception) -> bool:
    """Failures that another attempt cannot fix: the relay's 5xx refusals, a message that cannot be
    built, a relay without the TLS our password needs. An admin's retry still can, once fixed."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException) and not isinstance(exc, smtplib.SMTPServerDisconnected):
        return exc.smtp_code >= 500
    return isinstance(exc, (smtplib.SMTPNotSupportedError, SmtpUrlError, ValueError, KeyError, TypeError))


ENHANCED_STATUS = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})\b")


# A bare 5xx (no enhanced status) that names the relay's own refusal, not the recipient's mailbox.
NOT_THE_ADDRESS = re.compile(r"relay|denied|policy|block|spam|auth|reputation|rate", re.IGNORECASE)


def hard_bounce(exc: Exception) -> str | None:
    """The relay's words when it refused the recipient's address for good, else None.

    Only a refusal that names the address is a bounce: an enhanced status 5.1.x (bad mailbox, bad
    domain), at RCPT TO or for the message; or, from a server without enhanced status codes, a
    550/551/553 at RCPT TO whose words do not name a refusal of ours ("550 Relaying denied" is our
    relay's settings, not the address, and would otherwise mark a whole batch undeliverable). A
    refusal of our sender, of the content, of the size or by policy (5.7.x) is not the address."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        replies = list(exc.recipients.values())
        stage = "rcpt"
    elif isinstance(exc, smtplib.SMTPDataError):
        replies = [(exc.smtp_code, exc.smtp_error)]
        stage = "data"
    else:
        return None
    if not replies or any(code < 500 for code, _ in replies):
        return None
    code, text = replies[0]
    text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    status = ENHANCED_STATUS.match(text)
    if status:
        if status.group(2) != "1":
            return None
    elif stage == "data" or code not in (550, 551, 553) or NOT_THE_ADDRESS.search(text):
        return None
    return one_line(f"{code} {text}", 300)


def _failed_attempts(failures: list[tuple[_Outgoing, Exception]]) -> dict[int, Delivery]:
    """Record the failed attempts in one transaction: each row queued again with its backoff from the
    row, or failed for good (permanent, or out of attempts), and a hard bounce on the lead."""
    if not failures:
        return {}
    delays = current_app.config["EMAIL_RETRY_DELAYS"]
    now = utcnow()
    results: dict[int, Delivery] = {}
    by_id = {item.id: (item, exc) for item, exc in failures}
    with atomic():
        rows = db.session.scalars(select(OutboxEmail).where(OutboxEmail.id.in_(by_id))
                                  .execution_options(populate_existing=True)).all()
        for row in rows:
            item, exc = by_id[row.id]
            if row.state != EmailState.sending.value or row.attempts != item.attempt:
                continue  # someone else has the row now
            error = f"{type(exc).__name__}: {exc}"[:2000]
            row.last_error, row.updated_at, row.lease_until = error, now, None
            if permanent(exc) or item.attempt > len(delays):
                row.state, row.failed_at = EmailState.failed.value, now
                _record_on_lead(row, "email_failed", now, error=error, attempts=item.attempt)
                bounce = hard_bounce(exc)
                if bounce and row.lead_id is not None and row.kind != "owner_notice":
                    bounces.record_hard_bounce(row.lead_id, row.to_address, bounce, now)
                log.warning("Email %s failed for good after %s attempts: %s", row.id, item.attempt, error)
                results[row.id] = Delivery("failed")
                continue
            row.state = EmailState.queued.value
            row.next_attempt_at = now + timedelta(seconds=delays[item.attempt - 1])
            log.info("Email %s attempt %s failed (%s); next try at %s", row.id, item.attempt, error,
                     row.next_attempt_at)
            results[row.id] = Delivery("retry", row.next_attempt_at, item.attempt, item.queue)
    return results


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
    due = db.session.execute(select(OutboxEmail.id, OutboxEmail.attempts, OutboxEmail.next_attempt_at,
                                    OutboxEmail.kind).where(
        OutboxEmail.state == EmailState.queued.value,
        or_(OutboxEmail.next_attempt_at <= now - grace, OutboxEmail.id.in_(reclaimed)))
        .order_by(OutboxEmail.next_attempt_at).limit(1000)).all()
    db.session.rollback()
    pending = _pending_jobs([outbox_id for outbox_id, *_ in due])
    lost: dict[str, list[tuple[int, int]]] = {FIRST_QUEUE: [], BULK_QUEUE: []}
    for outbox_id, attempts, due_at, kind in due:
        # Redis says a job for it is waiting; believe it for a while, not forever (a job hash can
        # outlive its place in the queue). A second job for one row is harmless: delivery claims it
        # first. A retry still scheduled after its time (the rows here are due past the grace period)
        # has lost its scheduler, which a Redis outage takes down with it: enqueue it now.
        overdue = due_at <= now - max(grace * 10, timedelta(minutes=10))
        stranded = pending.get(outbox_id) == "scheduled"
        if outbox_id not in pending or overdue or stranded:
            lost[queue_for(kind)].append((outbox_id, attempts))
    size = current_app.config["EMAIL_BATCH_SIZE"]
    taken = set(reclaimed)
    for queue_name, rows in lost.items():
        # A row whose worker died sending it goes alone, so a message that kills its worker each
        # time (failed once its attempts run out) never takes a batch of others down with it.
        others = [row for row in rows if row[0] not in taken]
        batches = [[row] for row in rows if row[0] in taken] + [
            others[start:start + size] for start in range(0, len(others), size)]
        for batch in batches:
            if not enqueue_batch([outbox_id for outbox_id, _ in batch], batch[0][1], queue_name=queue_name):
                break
            result.enqueued += len(batch)
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


def _pending_jobs(outbox_ids: list[int]) -> dict[int, str]:
    """Those of these rows that a delivery job waiting in Redis carries, and how it waits ("queued",
    "scheduled"): read from the delivery jobs on the queues, a few hundred for a backlog of tens of
    thousands of rows in batches."""
    if not outbox_ids:
        return {}
    wanted = set(outbox_ids)
    found: dict[int, str] = {}
    try:
        redis = connection()
        for name in QUEUES:
            waiting = Queue(name, connection=redis, serializer=JSONSerializer)
            ids = [i for i in waiting.get_job_ids() + waiting.scheduled_job_registry.get_job_ids()
                   if i.startswith("outbox-")]
            for job in Job.fetch_many(ids, connection=redis, serializer=JSONSerializer):
                status = job.get_status(refresh=False) if job is not None else None
                if status not in (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED):
                    continue
                for outbox_id in wanted.intersection(rows_of(job)):
                    if found.get(outbox_id) != JobStatus.QUEUED.value:  # queued outranks scheduled
                        found[outbox_id] = status.value
        return found
    except (QueueUnavailable, RedisError):
        return {}
