"""Appointments: booking, rescheduling and cancelling on a lead, the prospect's one-click answers,
and the reminders before one; appointment_emails writes what each step sends.

Every change writes the lead's timeline and its outbox emails in the same transaction."""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from itsdangerous import BadSignature
from sqlalchemy import exists, select, update
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import Appointment, AppointmentStatus, Lead, Stage, StageKind, User
from app.services import Conflict, NotFound, ServiceError, atomic, utcnow
from app.services import events
from app.services.appointment_emails import describe_time, email_prospect, in_zone, link_serializer, tell_owner
from app.services.keyset import anchor, newest_first
from app.services.leads import change_stage, get_lead, top_position, touch
from app.services import sequences
from app.services.outbox import withdraw
from app.services.team_settings import check_timezone, current as team_settings, team_timezone
from app.services.scoring import rescore
from app.services.timeline import record
from app.services import touches

DURATIONS = (15, 30, 45, 60, 90, 120)
MAX_DURATION = 12 * 60
MAX_AHEAD = timedelta(days=2 * 365)
LOCATION_LIMIT, NOTE_LIMIT, MESSAGE_LIMIT = 500, 2000, 1000
REMINDER_BEFORE = timedelta(hours=24)
# The lead page shows the upcoming appointments (the soonest this many) and pages through past ones.
UPCOMING_LIMIT, PAST_PAGE = 50, 10
# Emails to the prospect that a change makes out of date, withdrawn if they have not gone out yet.
SUPERSEDED = ("appointment_invite", "appointment_update", "appointment_reminder")


class AppointmentNotFound(NotFound):
    def __init__(self):
        super().__init__("That appointment does not exist.")


class AppointmentEnded(Conflict):
    def __init__(self):
        super().__init__("This appointment has already ended, so there is nothing to cancel. "
                         "Move it to another time if it needs one.")


class AppointmentCancelled(Conflict):
    def __init__(self):
        super().__init__("This appointment was cancelled, so it can no longer be changed or confirmed.")


class LinkInvalid(ServiceError):
    """A link that is not ours, was altered, or names another action."""

    status = 404

    def __init__(self):
        super().__init__("This link is not valid. It may have been copied incompletely; "
                         "open it again from the email.")


class LinkExpired(ServiceError):
    status = 410

    def __init__(self):
        super().__init__("This appointment has already ended, so its links no longer work.")


class LinkReplaced(Conflict):
    def __init__(self, appointment: Appointment):
        super().__init__("This appointment has changed since this email was sent. "
                         "Use the links in the newest email about it.")
        self.appointment = appointment


# --- times ------------------------------------------------------------------------------------


def to_utc(moment: datetime) -> datetime:
    """An aware datetime as naive UTC (the storage form)."""
    if moment.tzinfo is None:
        raise ServiceError("Give the time with its UTC offset, e.g. 2026-12-08T14:00:00+01:00.", field="starts_at")
    try:
        return moment.astimezone(timezone.utc).replace(tzinfo=None)
    except OverflowError:  # within a day of year 1 or 9999
        raise ServiceError("Pick a time within the next two years.", field="starts_at") from None


def local_to_utc(naive: datetime, zone: str) -> datetime:
    """A wall-clock time in a zone (as a person types it) as naive UTC; raises ServiceError for a time
    the clocks skip that day. A time they pass twice (clocks going back) is its first occurrence."""
    moment = to_utc(naive.replace(tzinfo=ZoneInfo(zone), fold=0))
    if in_zone(moment, zone).replace(tzinfo=None) != naive:
        raise ServiceError(f"{naive:%H:%M} does not exist on {naive:%d %B %Y} in {zone}: the clocks skip it. "
                           "Pick another time.", field="starts_at")
    return moment


# --- validation -------------------------------------------------------------------------------


@dataclass
class Details:
    starts_at: datetime  # naive UTC
    duration_minutes: int
    location: str
    note: str


def clean_details(starts_at: datetime, duration_minutes, location: str | None, note: str | None,
                  now: datetime | None = None) -> Details:
    """Checked appointment details; raises ServiceError naming the first bad field."""
    now = now or utcnow()
    starts = to_utc(starts_at) if starts_at.tzinfo is not None else starts_at
    if starts <= now:
        raise ServiceError("Pick a time in the future.", field="starts_at")
    if starts - now > MAX_AHEAD:
        raise ServiceError("Pick a time within the next two years.", field="starts_at")
    if not isinstance(duration_minutes, int) or isinstance(duration_minutes, bool) \
            or not 5 <= duration_minutes <= MAX_DURATION:
        raise ServiceError(f"The duration must be between 5 and {MAX_DURATION} minutes.", field="duration_minutes")
    # A location is one line (it goes in the invitation's subject line and calendar entry); a note
    # keeps its lines. Other control characters (a pasted bell, a form feed) are dropped.
    location = " ".join(_CONTROL.sub("", location or "").split())
    note = _CONTROL.sub("", (note or "").replace("\r\n", "\n").replace("\r", "\n")).strip()
    if len(location) > LOCATION_LIMIT:
        raise ServiceError(f"Keep the location under {LOCATION_LIMIT} characters.", field="location")
    if len(note) > NOTE_LIMIT:
        raise ServiceError(f"Keep the note under {NOTE_LIMIT:,} characters.", field="note")
    for name, text in (("location", location), ("note", note)):
        if not _storable(text):
            raise ServiceError("The text contains a character that cannot be saved.", field=name)
    return Details(starts, duration_minutes, location, note)


_CONTROL = re.compile(r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]")  # not NUL (refused below), tab or line breaks


def _storable(text: str) -> bool:
    """No NUL and no lone surrogate: PostgreSQL text holds neither."""
    return "\x00" not in text and not any("\ud800" <= ch <= "\udfff" for ch in text)


# --- reading ----------------------------------------------------------------------------------


def get_appointment(appointment_id: int) -> Appointment:
    appointment = db.session.get(Appointment, appointment_id) if isinstance(appointment_id, int) else None
    if appointment is None:
        raise AppointmentNotFound()
    return appointment


def _locked(appointment_id: int) -> Appointment:
    """The appointment, re-read and locked for this transaction (two changes at once wait in turn)."""
    appointment = db.session.scalar(select(Appointment).where(Appointment.id == appointment_id)
                                    .with_for_update().execution_options(populate_existing=True))
    if appointment is None:
        raise AppointmentNotFound()
    return appointment


def for_lead(lead_id: int) -> list[Appointment]:
    """A lead's appointments, the latest start first (all of them: the API's listing)."""
    return list(db.session.scalars(select(Appointment).options(joinedload(Appointment.booked_by))
                                   .where(Appointment.lead_id == lead_id)
                                   .order_by(Appointment.starts_at.desc(), Appointment.id.desc())))


def upcoming(lead_id: int, now: datetime | None = None, limit: int = UPCOMING_LIMIT) -> tuple[list[Appointment], bool]:
    """A lead's appointments starting from `now` on, the soonest first: `limit` of them, and whether
    later ones were left out."""
    now = now or utcnow()
    rows = list(db.session.scalars(select(Appointment).options(joinedload(Appointment.booked_by))
                                   .where(Appointment.lead_id == lead_id, Appointment.starts_at >= now)
                                   .order_by(Appointment.starts_at, Appointment.id).limit(limit + 1)))
    return rows[:limit], len(rows) > limit


def past(lead_id: int, now: datetime | None = None, *, before_id: int | None = None,
         limit: int = PAST_PAGE) -> tuple[list[Appointment], bool]:
    """A lead's appointments that started before `now`, the latest first, `limit` at a time after the
    appointment `before_id` (another lead's, or none: the latest); the flag says whether older remain."""
    now = now or utcnow()
    query = (select(Appointment).options(joinedload(Appointment.booked_by))
             .where(Appointment.lead_id == lead_id, Appointment.starts_at < now))
    start = anchor(Appointment, before_id, "starts_at", lead_id=lead_id)
    return newest_first(query, Appointment.starts_at, Appointment.id, start, limit)


# --- reading a link (appointment_emails signs them) ---------------------------------------------


def read_link(token: str, action: str, now: datetime | None = None) -> Appointment:
    """The appointment a link names; raises LinkInvalid, LinkExpired or LinkReplaced."""
    now = now or utcnow()
    try:
        appointment_id, signed_action, sequence, expires = link_serializer().loads(token)
    except (BadSignature, ValueError, TypeError):
        raise LinkInvalid() from None
    if signed_action != action or not isinstance(appointment_id, int) or not isinstance(expires, int):
        raise LinkInvalid()
    appointment = db.session.get(Appointment, appointment_id)
    if appointment is None:
        raise LinkInvalid()
    if appointment.status == AppointmentStatus.cancelled.value:
        return appointment  # any link of a cancelled appointment says so, whichever email it came from
    if sequence != appointment.sequence:  # before expiry: a moved appointment's old link says it moved
        raise LinkReplaced(appointment)
    if now.replace(tzinfo=timezone.utc).timestamp() >= expires or now >= appointment.ends_at:
        raise LinkExpired()
    return appointment


# --- what every change does to the lead -------------------------------------------------------


def _mirror(lead: Lead, appointment: Appointment) -> None:
    """Keep the card's badge in step with the appointment it last heard about."""
    lead.appointment_status = appointment.status
    lead.appointment_starts_at = appointment.starts_at
    touch(lead)
    rescore(lead)


def _timeline(lead: Lead, kind: str, actor_id: int | None, appointment: Appointment, now: datetime, **extra):
    record(lead.id, kind, actor_id, {"appointment_id": appointment.id, **timeline_times(appointment), **extra}, now)


def timeline_times(appointment: Appointment, before: bool = False) -> dict:
    """The appointment's time for a timeline entry (`before_`: its time before a move): worded in
    the prospect's zone, and the instants, so the lead page words it in its reader's zone like
    every other time on it (filters.appointment_when)."""
    prefix = "before_" if before else ""
    return {"before" if before else "when": describe_time(appointment),
            f"{prefix}starts_at": appointment.starts_at.isoformat(), f"{prefix}ends_at": appointment.ends_at.isoformat()}


# --- members: book, reschedule, cancel ----------------------------------------------------------


REPEAT_WINDOW = timedelta(minutes=10)  # the same booking again within this is the same booking


def book_appointment(lead_id: int, actor_id: int | None, *, starts_at: datetime, duration_minutes: int,
                     location: str = "", note: str = "", prospect_timezone: str | None = None,
                     now: datetime | None = None) -> Appointment:
    """Book an appointment and invite the prospect; moves the lead to the booked stage if earlier.

    Raises ServiceError naming a bad field, LeadNotFound."""
    now = now or utcnow()
    details = clean_details(starts_at, duration_minutes, location, note, now)
    zone = check_timezone(prospect_timezone, "timezone") if prospect_timezone else team_timezone()
    with atomic():
        lead = get_lead(lead_id)
        # One booking of a lead at a time (FOR NO KEY UPDATE: edits and notes are not held up): a
        # second click waits here, then finds the first's booking.
        db.session.execute(select(Lead.id).where(Lead.id == lead.id).with_for_update(key_share=True))
        twin = db.session.scalar(select(Appointment).where(
            Appointment.lead_id == lead.id, Appointment.starts_at == details.starts_at,
            Appointment.duration_minutes == details.duration_minutes, Appointment.location == details.location,
            Appointment.status != AppointmentStatus.cancelled.value, Appointment.created_at >= now - REPEAT_WINDOW))
        if twin is not None:  # the same booking sent twice (a double click, a retried request): one invitation
            return twin
        booked_by = db.session.get(User, actor_id) if actor_id is not None else None
        appointment = Appointment(lead_id=lead.id, booked_by_id=booked_by.id if booked_by else None,
                                  booked_by=booked_by, uid=f"{secrets.token_hex(12)}@leadboard", sequence=0,
                                  starts_at=details.starts_at, duration_minutes=details.duration_minutes,
                                  location=details.location, note=details.note, timezone=zone,
                                  status=AppointmentStatus.awaiting.value, created_at=now, updated_at=now)
        db.session.add(appointment)
        db.session.flush()
        invited = email_prospect(appointment, lead, "appointment_invite", now)
        _timeline(lead, "appointment_booked", actor_id, appointment, now,
                  invited=invited, location=details.location)
        _move_to_booked_stage(lead, actor_id, now)
        _mirror(lead, appointment)
        touches.touch(lead, actor_id, "appointment", now)
        sequences.on_booked(lead, now)  # the prospect engaged: nurturing stops
        events.emit("appointment.booked", lead_id=lead.id, subject_id=appointment.id, now=now)  # automations only
    return appointment


def _move_to_booked_stage(lead: Lead, actor_id: int | None, now: datetime) -> None:
    stage_id = team_settings().appointment_stage_id
    target = db.session.get(Stage, stage_id) if stage_id else None
    if target is None or lead.stage_id == target.id:
        return
    if lead.stage.kind == StageKind.open.value and lead.stage.position < target.position:
        change_stage(lead, target, actor_id, top_position(target.id), now)


def reschedule_appointment(appointment_id: int, actor_id: int | None, *, starts_at: datetime,
                           duration_minutes: int, location: str | None = None, note: str | None = None,
                           now: datetime | None = None) -> Appointment:
    """Move an appointment and send the prospect an updated invitation (it needs confirming again).

    Raises AppointmentCancelled, ServiceError naming a bad field."""
    now = now or utcnow()
    with atomic():
        appointment = _locked(appointment_id)
        if appointment.status == AppointmentStatus.cancelled.value:
            raise AppointmentCancelled()
        details = clean_details(starts_at, duration_minutes,
                                appointment.location if location is None else location,
                                appointment.note if note is None else note, now)
        before = timeline_times(appointment, before=True)
        appointment.starts_at, appointment.duration_minutes = details.starts_at, details.duration_minutes
        appointment.location, appointment.note = details.location, details.note
        appointment.status, appointment.sequence = AppointmentStatus.awaiting.value, appointment.sequence + 1
        appointment.prospect_message, appointment.responded_at, appointment.updated_at = None, None, now
        lead = get_lead(appointment.lead_id)
        withdraw(appointment.id, SUPERSEDED, now)
        invited = email_prospect(appointment, lead, "appointment_update", now)
        _timeline(lead, "appointment_rescheduled", actor_id, appointment, now, **before, invited=invited)
        _mirror(lead, appointment)
    return appointment


def can_cancel(appointment: Appointment, now: datetime | None = None) -> bool:
    """Whether a member may still cancel it: open, and not over yet (a cancellation for a meeting in
    the past would only confuse the prospect; a missed one is moved instead)."""
    return appointment.is_open and appointment.ends_at > (now or utcnow())


def cancel_appointment(appointment_id: int, actor_id: int | None, now: datetime | None = None,
                       message: str | None = None) -> Appointment:
    """Cancel an appointment and send the prospect a cancellation, with the team's optional message;
    cancelling twice changes nothing. Raises AppointmentEnded, or ServiceError (message too long) on field "message"."""
    now = now or utcnow()
    message = (message or "").strip()
    if len(message) > MESSAGE_LIMIT:
        raise ServiceError(f"Keep the message under {MESSAGE_LIMIT:,} characters.", field="message")
    with atomic():
        appointment = _locked(appointment_id)
        if appointment.status == AppointmentStatus.cancelled.value:
            return appointment
        if not can_cancel(appointment, now):
            raise AppointmentEnded()
        appointment.status, appointment.sequence = AppointmentStatus.cancelled.value, appointment.sequence + 1
        appointment.updated_at = now
        lead = get_lead(appointment.lead_id)
        withdraw(appointment.id, SUPERSEDED, now)
        told = email_prospect(appointment, lead, "appointment_cancel", now, message=message)
        _timeline(lead, "appointment_cancelled", actor_id, appointment, now, by="team", invited=told)
        events.emit("appointment.cancelled", lead_id=lead.id, subject_id=appointment.id, data={"by": "team"}, now=now)
        _mirror(lead, appointment)
    return appointment


def cancel_for_trash(lead: Lead, actor_id: int | None, now: datetime) -> int:
    """The lead goes to the trash: cancel its appointments still to come, inside the caller's
    transaction, each on its timeline, without writing to the prospect (a record deleted on our side
    is no news to them, and a restore would leave them told of a cancellation that was a tidy-up):
    the invitation and reminders not yet sent are withdrawn. A restore leaves them cancelled.
    Integrations do hear of each one (the `appointment.cancelled` event, data {"by": "team",
    "reason": "lead_deleted"}): a calendar synced from our webhooks must drop it. Returns how many
    were cancelled."""
    coming = [a for a in db.session.scalars(select(Appointment).where(
        Appointment.lead_id == lead.id, Appointment.status != AppointmentStatus.cancelled.value,
        Appointment.starts_at > now - timedelta(minutes=MAX_DURATION))
        .order_by(Appointment.starts_at, Appointment.id).with_for_update()) if a.ends_at > now]
    for appointment in coming:
        appointment.status, appointment.sequence = AppointmentStatus.cancelled.value, appointment.sequence + 1
        appointment.updated_at = now
        withdraw(appointment.id, SUPERSEDED, now)
        _timeline(lead, "appointment_cancelled", actor_id, appointment, now, by="deleted", invited=False)
        events.emit("appointment.cancelled", lead_id=lead.id, subject_id=appointment.id,
                    data={"by": "team", "reason": "lead_deleted"}, now=now)
    if coming:
        lead.appointment_status = AppointmentStatus.cancelled.value
        lead.appointment_starts_at = coming[-1].starts_at
    return len(coming)


# --- prospects: confirm, cancel, ask for another time -----------------------------------------------


@dataclass
class Answer:
    appointment: Appointment
    changed: bool


ANSWERS = {
    "confirm": (AppointmentStatus.confirmed, "appointment_confirmed", "{name} confirmed the appointment on {when}."),
    "cancel": (AppointmentStatus.cancelled, "appointment_cancelled", "{name} cancelled the appointment on {when}."),
    "reschedule": (AppointmentStatus.new_time_requested, "appointment_new_time_requested",
                   "{name} asked for another time instead of {when}."),
}


def answer(token: str, action: str, message: str | None = None, now: datetime | None = None) -> Answer:
    """The prospect's press of a button in their email. Pressing again changes nothing.

    Raises LinkInvalid, LinkExpired, LinkReplaced, AppointmentCancelled, ServiceError (message too long)."""
    now = now or utcnow()
    message = (message or "").strip()
    if len(message) > MESSAGE_LIMIT:
        raise ServiceError(f"Keep the message under {MESSAGE_LIMIT:,} characters.", field="message")
    if not _storable(message):
        raise ServiceError("The message contains a character that cannot be saved.", field="message")
    status, kind, notice = ANSWERS[action]
    with atomic():
        appointment = read_link(token, action, now)
        # Lock the row: two presses at once must not both count as the first.
        appointment = _locked(appointment.id)
        if appointment.status == status.value and not (action == "reschedule" and message
                                                        and message != appointment.prospect_message):
            return Answer(appointment, False)
        if appointment.status == AppointmentStatus.cancelled.value:
            raise AppointmentCancelled()
        # A conditional UPDATE as well as the lock: SQLite ignores FOR UPDATE, and of two presses
        # at once only the one whose UPDATE still finds the row as both read it counts.
        responded = Appointment.responded_at
        won = db.session.execute(
            update(Appointment)
            .where(Appointment.id == appointment.id, Appointment.status == appointment.status,
                   Appointment.sequence == appointment.sequence,
                   responded.is_(None) if appointment.responded_at is None else responded == appointment.responded_at)
            .values(status=status.value, responded_at=now, updated_at=now)
            .execution_options(synchronize_session=False)).rowcount
        db.session.refresh(appointment)
        if not won:
            return Answer(appointment, False)
        if action == "reschedule":
            appointment.prospect_message = message or None
        lead = get_lead(appointment.lead_id)
        if action == "cancel":
            # A CANCEL with a raised sequence takes the event out of their calendar too. Their links
            # still open (read_link shows any link of a cancelled appointment as cancelled).
            appointment.sequence += 1
            withdraw(appointment.id, SUPERSEDED, now)
            email_prospect(appointment, lead, "appointment_cancel", now)
        _timeline(lead, kind, None, appointment, now, by="prospect", message=message or None)
        if action in ("confirm", "cancel"):
            events.emit(f"appointment.{status.value}", lead_id=lead.id, subject_id=appointment.id,
                        data={"by": "prospect"}, now=now)
        else:  # automations only: no webhook event publishes it yet
            events.emit("appointment.new_time_requested", lead_id=lead.id, subject_id=appointment.id,
                        data={"by": "prospect"}, now=now)
        _mirror(lead, appointment)
        text = notice.format(name=lead.full_name, when=describe_time(appointment, team_timezone()))
        tell_owner(appointment, lead, text + (f' They wrote: "{message[:200]}"' if message else ""), now)
    return Answer(appointment, True)


# --- reminders (the sweeper calls this) -----------------------------------------------------------


def queue_due_reminders(now: datetime | None = None) -> int:
    """Queue a reminder for each confirmed appointment starting within 24 hours that has none yet
    for its current time. One confirmed after the 24-hour mark needs no reminder and gets none."""
    now = now or utcnow()
    queued = 0
    with atomic():
        due = db.session.scalars(
            select(Appointment).where(Appointment.status == AppointmentStatus.confirmed.value,
                                      Appointment.starts_at > now, Appointment.starts_at <= now + REMINDER_BEFORE,
                                      ~exists().where(Lead.id == Appointment.lead_id, Lead.deleted_at.is_not(None)))
            .with_for_update(skip_locked=True)).all()  # none for a lead in the trash
        for appointment in due:
            if appointment.reminded_sequence == appointment.sequence:
                continue
            appointment.reminded_sequence = appointment.sequence
            if appointment.responded_at and appointment.responded_at > appointment.starts_at - REMINDER_BEFORE:
                continue
            lead = db.session.get(Lead, appointment.lead_id)
            if email_prospect(appointment, lead, "appointment_reminder", now):
                record(lead.id, "appointment_reminder_queued", None,
                       {"appointment_id": appointment.id, **timeline_times(appointment)}, now)
                queued += 1
    return queued
