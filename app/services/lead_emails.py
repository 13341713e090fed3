"""An email a member writes to a lead from its page: rendered in the templates' sandbox (so it may
use the same variables), sent as the member ("Ana at Acme", Reply-To Ana) through the outbox, on
the lead's timeline and a touch (perhaps its first response), in one transaction.

And the team's process writing to a lead from a template (a sequence step, an automation's "send a
template email"): `queue_template_email`, signed by the lead's owner, with the one-click unsubscribe
headers and link."""
from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from html import escape

from app.models import EmailState, EmailTemplate, Lead, OutboxEmail, User
from app.services import ServiceError, atomic, utcnow
from app.services import email_templates as templates
from app.services.leads import active_user, get_lead, touch as bump_lead
from app.services.outbox import one_line, queue_email
from app.services.scoring import rescore
from app.services.timeline import record
from app.services.touches import touch

KIND = "lead_email"
SUBJECT_LIMIT = templates.SUBJECT_LIMIT
BODY_LIMIT = 20_000
ATTACHMENT_LIMIT = 5 * 1024 * 1024  # bytes; the outbox row keeps the file as base64 text
FILENAME_LIMIT = 150


class NoEmailAddress(ServiceError):
    status = 422

    def __init__(self):
        super().__init__("This lead has no email address. Add one with Edit details first.", field="to")


@dataclass
class Attachment:
    filename: str
    content_type: str
    data: bytes


def sender_name(user: User) -> str:
    """How the member appears in the prospect's inbox: "Ana Lopez at Acme"."""
    return f"{user.name} at {templates.team_name()}"


def check_attachment(attachment: Attachment | None) -> dict | None:
    """The outbox's form of an attachment, or None; raises ServiceError(field="attachment") for a
    file with no name, an empty one or one over ATTACHMENT_LIMIT."""
    if attachment is None:
        return None
    name = "".join(ch for ch in (attachment.filename or "").strip() if ch.isprintable()).replace("/", "_")
    name = name.replace("\\", "_")
    if not name:
        raise ServiceError("The attached file has no name. Rename it and attach it again.", field="attachment")
    if len(name) > FILENAME_LIMIT:
        raise ServiceError(f"Keep the file's name to {FILENAME_LIMIT} characters.", field="attachment")
    if not attachment.data:
        raise ServiceError("The attached file is empty.", field="attachment")
    if len(attachment.data) > ATTACHMENT_LIMIT:
        raise ServiceError(f"Attach a file of at most {ATTACHMENT_LIMIT // (1024 * 1024)} MB; this one is "
                           f"{len(attachment.data) / (1024 * 1024):.1f} MB.", field="attachment")
    content_type = attachment.content_type if "/" in (attachment.content_type or "") else "application/octet-stream"
    content_type = content_type.split(";")[0].strip().lower()
    return {"filename": name, "content_type": content_type, "encoding": "base64",
            "content": base64.b64encode(attachment.data).decode("ascii")}


def starting_text(template_id: int, lead_id: int, user_id: int) -> tuple[str, str]:
    """(subject, plain-text body) of a saved template rendered for this lead as this member, to
    start an email from; raises TemplateNotFound, LeadNotFound, UnknownUser, or TemplateRefused
    if it cannot be rendered for this lead."""
    template, lead, user = templates.get_template(template_id), get_lead(lead_id), active_user(user_id)
    subject, _, text = templates.render(template, lead, user)
    return subject, text.strip()


def template_choices() -> list[tuple[int, str]]:
    """(id, name) of the templates a member may start from."""
    return [(t.id, t.name) for t in templates.templates()]


def send_lead_email(lead_id: int, user_id: int, subject: str, body: str, attachment: Attachment | None = None,
                    now: datetime | None = None) -> OutboxEmail:
    """Queue the member's email to the lead (its subject and body may use template variables), on
    the timeline and a touch, in one transaction. Raises LeadNotFound, UnknownUser, NoEmailAddress,
    TemplateRefused (field subject or body, naming the line) or ServiceError naming the field."""
    subject = templates.clean_subject(subject)
    body = templates.clean_body(body, BODY_LIMIT, "body", "Write the email before sending it.")
    stored = check_attachment(attachment)
    now = now or utcnow()
    with atomic():
        lead, user = get_lead(lead_id), active_user(user_id)
        if not lead.email:
            raise NoEmailAddress()
        context = templates.context_for(lead, user)
        templates.check(subject, body, context, html_mode=False)
        subject = one_line(templates.render_text(subject, context, html_mode=False, field="subject"), SUBJECT_LIMIT)
        if not subject:
            raise ServiceError("The subject came out empty for this lead. Write one.", field="subject")
        text = templates.render_text(body, context, html_mode=False, field="body").strip() + "\n"
        row = queue_email(kind=KIND, to_address=lead.email, to_name=lead.full_name, subject=subject, text_body=text,
                          html_body=templates.text_to_html(text), attachments=[stored] if stored else [],
                          lead_id=lead.id, now=now, reply_to=user.email, sender_name=sender_name(user))
        bump_lead(lead)
        touch(lead, user.id, "email", now)
        record(lead.id, "email_written", user.id, {"subject": row.subject, "to": lead.email,
                                                   "attachment": stored["filename"] if stored else None}, now)
        rescore(lead, now, actor_id=user.id)
    return row


def queue_template_email(template: EmailTemplate, lead: Lead, now: datetime, *, kind: str
                         ) -> tuple[OutboxEmail | None, str | None]:
    """Queue `template` rendered for the lead, from the team's process rather than a person, inside
    the caller's transaction: signed by the lead's owner when active (Reply-To them), with the
    one-click unsubscribe headers (RFC 8058) and a link in the email. Returns the outbox row and
    None, or why it was not sent: "no_email", "template" (it does not render for this lead), or
    "suppressed" (the row is kept, never sent: the address went on the suppression list)."""
    from app.services.suppression import ONE_CLICK, unsubscribe_url
    if not lead.email:
        return None, "no_email"
    owner = lead.owner if lead.owner is not None and lead.owner.active else None
    try:
        subject, html, text = templates.render(template, lead, owner)
    except templates.TemplateRefused:
        return None, "template"
    link = unsubscribe_url(lead.email, lead.id, now)
    html += (f'\n<p style="font-size:12px;color:#666">Don’t want these emails? '
             f'<a href="{escape(link)}">Unsubscribe</a>.</p>')
    text = text.rstrip("\n") + f"\n\n--\nDon’t want these emails? Unsubscribe: {link}\n"
    row = queue_email(kind=kind, to_address=lead.email, to_name=lead.full_name, subject=subject or template.name,
                      text_body=text, html_body=html, lead_id=lead.id, now=now,
                      reply_to=owner.email if owner else None, sender_name=sender_name(owner) if owner else None,
                      headers={"List-Unsubscribe": f"<{link}>", "List-Unsubscribe-Post": ONE_CLICK})
    if row.state == EmailState.suppressed.value:
        return row, "suppressed"
    return row, None
