"""What an appointment sends: the prospect's emails with their calendar files (.ics) and signed
one-click links, and the notice to the lead's owner. appointments.py decides when; this module
decides what they say. Nothing here commits: the emails are outbox rows in the caller's transaction.

The links in a prospect's email are signed tokens naming one appointment, one action and the
invitation's sequence; they expire when the appointment ends."""
from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask import current_app
from icalendar import Calendar, Event, vCalAddress, vText
from itsdangerous import URLSafeSerializer
from sqlalchemy import select

from app.extensions import db
from app.models import Appointment, Lead, User
from app.services import utcnow
from app.services.outbox import queue_email
from app.services.team_settings import identity, zone_name

# The one-click answers a prospect's email offers (appointments.answer takes each).
ACTIONS = ("confirm", "cancel", "reschedule")
PRODID = "-//Leadboard//Appointments//EN"


# --- times ------------------------------------------------------------------------------------


def in_zone(moment: datetime, zone: str) -> datetime:
    """A stored (naive UTC) time as an aware time in `zone`."""
    return moment.replace(tzinfo=timezone.utc).astimezone(ZoneInfo(zone))


def describe_time(appointment: Appointment, zone: str | None = None) -> str:
    """'Tuesday 8 December 2026, 14:00–14:30 (Central European Time (Berlin))': the zone as people
    read it (team_settings.zone_name), not its identifier."""
    return describe_span(appointment.starts_at, appointment.ends_at, zone or appointment.timezone)


def describe_span(starts_at: datetime, ends_at: datetime, zone: str) -> str:
    """Two stored (naive UTC) times as describe_time words them, in `zone`."""
    start, end = in_zone(starts_at, zone), in_zone(ends_at, zone)
    day = f"{start:%A} {start.day} {start:%B %Y}"
    until = f"{end:%H:%M}" if end.date() == start.date() else f"{end:%A} {end.day} {end:%B}, {end:%H:%M}"
    return f"{day}, {start:%H:%M}–{until}, {zone_name(zone)}"


def location_link(location: str | None) -> str | None:
    """The location when it is a web address people can open (http or https only, so a
    "javascript:" location is never a link); None for an office address or a phone number."""
    text = (location or "").strip()
    if not text or any(ch.isspace() for ch in text):
        return None
    parts = urlsplit(text)
    return text if parts.scheme.lower() in ("http", "https") and parts.netloc else None


# --- links ------------------------------------------------------------------------------------


def link_serializer(salt: str = "appointment-link") -> URLSafeSerializer:
    """What signs and reads the links in a prospect's email (appointments.read_link reads them).
    Each kind of link has its own salt, so a token made for one can never be read as another."""
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=salt)


def link_token(appointment: Appointment, action: str) -> str:
    """A signed token for one action on this version of the appointment, good until it ends."""
    expires = int(appointment.ends_at.replace(tzinfo=timezone.utc).timestamp())
    return link_serializer().dumps([appointment.id, action, appointment.sequence, expires])


def absolute_url(endpoint: str, **values) -> str:
    """A link for an email: BASE_URL and the route's path (no request needed, so jobs can build it)."""
    path = current_app.url_map.bind("localhost", url_scheme="http").build(endpoint, values)
    return current_app.config["BASE_URL"].rstrip("/") + path


def logo_url() -> str | None:
    """The team's logo for an email (BASE_URL and its versioned address), or None without one."""
    version = identity().logo_version
    return absolute_url("public.team_logo", digest=version) if version else None


def links(appointment: Appointment) -> dict[str, str]:
    """The prospect's one-click links for this version of the appointment, by action."""
    return {action: absolute_url(f"public.appointment_{action}", token=link_token(appointment, action))
            for action in ACTIONS}


# --- the invitation and the emails -------------------------------------------------------------


def calendar(appointment: Appointment, lead: Lead, method: str) -> str:
    """The .ics text: METHOD REQUEST for an invitation or update, CANCEL when cancelled."""
    team = identity()
    organizer_name, organizer_email = team.name, team.address
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", method)
    event = Event()
    event.add("uid", appointment.uid)
    event.add("sequence", appointment.sequence)
    event.add("dtstamp", utcnow().replace(tzinfo=timezone.utc))
    event.add("dtstart", appointment.starts_at.replace(tzinfo=timezone.utc))
    event.add("dtend", appointment.ends_at.replace(tzinfo=timezone.utc))
    event.add("summary", title(appointment))
    if appointment.location:
        event.add("location", appointment.location)
    if appointment.note:
        event.add("description", appointment.note)
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    organizer = vCalAddress(f"mailto:{organizer_email or 'leadboard@localhost'}")
    organizer.params["cn"] = vText(organizer_name or "Leadboard")
    event.add("organizer", organizer)
    attendee = vCalAddress(f"mailto:{lead.email}")
    attendee.params["cn"] = vText(lead.full_name)
    attendee.params["role"] = vText("REQ-PARTICIPANT")
    attendee.params["rsvp"] = vText("FALSE")  # answers come through the links, not calendar replies
    event.add("attendee", attendee)
    cal.add_component(event)
    return cal.to_ical().decode()


def title(appointment: Appointment) -> str:
    """The appointment's name in emails and calendars: who the prospect meets."""
    who = appointment.booked_by.name if appointment.booked_by else "our team"
    return f"Appointment with {who}"


def _render(name: str, **context) -> str:
    # Straight from the Jinja environment: jobs have no request, so no context processors.
    return current_app.jinja_env.get_template(name).render(**context)


PROSPECT_EMAILS = {
    # kind: (subject prefix, .ics method or None, heading)
    "appointment_invite": ("Please confirm: ", "REQUEST"),
    "appointment_update": ("Updated: ", "REQUEST"),
    "appointment_cancel": ("Cancelled: ", "CANCEL"),
    "appointment_reminder": ("Reminder: ", None),
}


def email_prospect(appointment: Appointment, lead: Lead, kind: str, now: datetime, message: str = "") -> bool:
    """Queue one email to the prospect, with the team's message if any; False (nothing queued) when
    the lead has no email address."""
    if not lead.email:
        return False
    prefix, method = PROSPECT_EMAILS[kind]
    when = describe_time(appointment)
    context = {"kind": kind, "appointment": appointment, "lead": lead, "when": when, "title": title(appointment),
               "links": links(appointment) if kind != "appointment_cancel" else {},
               "first_name": lead.first_name or "there", "message": message,
               "location_url": location_link(appointment.location), "team": identity(), "logo_url": logo_url()}
    attachments = []
    if method:
        attachments.append({"filename": "invite.ics" if method == "REQUEST" else "cancel.ics",
                            "content_type": f"text/calendar; method={method}; charset=utf-8",
                            "content": calendar(appointment, lead, method)})
    queue_email(kind=kind, to_address=lead.email, to_name=lead.full_name,
                subject=f"{prefix}{title(appointment)}, {when}",
                text_body=_render("email/appointment.txt", **context),
                html_body=_render("email/appointment.html", **context),
                attachments=attachments, lead_id=lead.id, appointment_id=appointment.id, now=now,
                **from_person(appointment, lead))
    return True


def from_person(appointment: Appointment, lead: Lead) -> dict:
    """Who a prospect's appointment email comes from: "<owner> at <team>", with Reply-To the owner's
    address so a reply reaches a person (the lead's owner, else whoever booked it); the team alone
    when neither is an active member."""
    from app.services.lead_emails import sender_name
    person = next((p for p in (lead.owner, appointment.booked_by) if p is not None and p.active), None)
    return {"sender_name": sender_name(person), "reply_to": person.email} if person else {}


def tell_owner(appointment: Appointment, lead: Lead, message: str, now: datetime) -> None:
    """Tell the lead's owner, else whoever booked it, else (a pool lead booked through the API) every
    active admin, in the app and by email if they chose: an answer is never left unheard."""
    from app.services.notifications import app_path, notify
    person = next((p for p in (lead.owner, appointment.booked_by) if p is not None and p.active), None)
    people = [person.id] if person else db.session.scalars(
        select(User.id).where(User.role == "admin", User.active.is_(True)))
    notify(people, "appointment", message, lead_id=lead.id,
           url=app_path("leads.show", lead_id=lead.id) + "#appointments", now=now)
