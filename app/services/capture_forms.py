"""Capture forms: admins define them at /settings/forms; prospects fill them in at /f/<slug> or in an embed.

A submission goes through capture.capture_lead like every other way in. Spam is recognised without
asking anything of the prospect (a honeypot field, a minimum fill time carried in a signed token,
and a per-address rate limit in the route) and is dropped quietly but counted on the form."""
from __future__ import annotations

import re
import time
import unicodedata
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import CaptureForm, Lead, Stage
from app.services import audit, consent
from app.services import NOT_SETTINGS, NotFound, ServiceError, atomic, custom_fields, utcnow
from app.services.capture import Captured, capture_lead
from app.services.leads import FIELD_LABELS
from app.services.stages import get_stage
from app.services.tags import clean_tags

# The lead fields a prospect may be asked for, in display order. Source and deal value are the
# team's business, not the prospect's: the form sets the source itself.
ASKABLE_FIELDS = ("first_name", "last_name", "email", "phone", "company", "job_title", "country", "region", "website",
                  "description")
# The hidden field that catches bots: "website", a name they fill in eagerly, unless the form asks
# people for their website; then "homepage".
HONEYPOTS = ("website", "homepage")


def honeypot(capture_form: CaptureForm) -> str:
    """The name of this form's hidden trap field (never one of the fields it asks)."""
    asked = {spec["name"] for spec in capture_form.fields or []}
    return next(name for name in HONEYPOTS if name not in asked)
CONTACT_FIELDS = ("email", "phone")
SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
SLUG_MAX = 80
LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
HOST = re.compile(rf"^(?:{LABEL}\.)*{LABEL}(?::\d{{1,5}})?$")
NAME_MAX = 120
MESSAGE_MAX = 2000
DEFAULT_THANKS = "Thanks! We'll be in touch soon."
TOKEN_SALT = "capture-form-rendered-at"


class FormNotFound(NotFound):
    def __init__(self):
        super().__init__("That form does not exist. It may have been deleted.")


@dataclass
class FormSettings:
    """What an admin decides about a form. `fields` maps an askable field to "optional" or "required"."""

    name: str
    slug: str = ""
    fields: dict = field(default_factory=dict)
    default_source: str = ""
    default_stage_id: int | None = None
    thank_you_message: str = ""
    redirect_url: str = ""
    custom_fields: dict = field(default_factory=dict)  # custom field id -> "optional" or "required"
    tags: str | list = ""  # tags every submission receives, as tags.clean_tags takes them ("webinar, EU")
    consent_text: str = ""  # the marketing consent checkbox's words; empty: the form does not ask


# --- admin side -------------------------------------------------------------------------------


def slugify(text: str) -> str:
    """'Contact us (EU)!' -> 'contact-us-eu'; accents folded, at most SLUG_MAX characters."""
    ascii_text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:SLUG_MAX].rstrip("-") or "form"


def _slug_taken(slug: str, exclude_id: int | None) -> bool:
    query = select(CaptureForm.id).where(CaptureForm.slug == slug)
    if exclude_id is not None:
        query = query.where(CaptureForm.id != exclude_id)
    return db.session.scalar(query.limit(1)) is not None


def _free_slug(base: str) -> str:
    """`base`, or `base-2`, `base-3`... whichever is not taken yet."""
    slug, n = base, 1
    while _slug_taken(slug, None):
        n += 1
        suffix = f"-{n}"
        slug = base[:SLUG_MAX - len(suffix)].rstrip("-") + suffix
    return slug


def _check_redirect(url: str) -> str | None:
    url = (url or "").strip()
    if not url:
        return None
    parts = urlsplit(url)
    # The host goes into the form pages' CSP (form-action), so it must be a plain host[:port].
    if parts.scheme not in ("http", "https") or not HOST.match(parts.netloc) or any(c.isspace() for c in url):
        raise ServiceError("Enter a full web address starting with https:// (or http://).", field="redirect_url")
    if len(url) > 500:
        raise ServiceError("Keep the redirect address under 500 characters.", field="redirect_url")
    return url


def _check(settings: FormSettings, form_id: int | None) -> dict:
    """The settings as column values; raises ServiceError naming the first bad field."""
    name = (settings.name or "").strip()
    if not name:
        raise ServiceError("Give the form a name.", field="name")
    if len(name) > NAME_MAX:
        raise ServiceError(f"Keep the name under {NAME_MAX} characters.", field="name")
    slug = (settings.slug or "").strip().lower()
    if slug:
        if len(slug) > SLUG_MAX or not SLUG.match(slug):
            raise ServiceError(f"Use lower-case letters, digits and dashes (a-z, 0-9, -), at most {SLUG_MAX}, "
                               "not starting or ending with a dash.", field="slug")
        if _slug_taken(slug, form_id):
            raise ServiceError(f"Another form already uses /f/{slug}. Pick a different address.", field="slug")
    else:
        slug = _free_slug(slugify(name))
    unknown = set(settings.fields) - set(ASKABLE_FIELDS)
    if unknown or any(v not in ("optional", "required") for v in settings.fields.values()):
        raise ServiceError("Choose for each field whether to ask for it.", field="fields")
    if not any(name in settings.fields for name in CONTACT_FIELDS):
        raise ServiceError("Ask for an email address or a phone number (or both), so the team can reach people.",
                           field="fields")
    fields = [{"name": n, "required": settings.fields[n] == "required"} for n in ASKABLE_FIELDS if n in settings.fields]
    custom = _check_custom(settings.custom_fields)
    source = (settings.default_source or "").strip()
    if len(source) > 100:
        raise ServiceError("Keep the source under 100 characters.", field="default_source")
    stage_id = settings.default_stage_id
    if stage_id is not None:
        try:
            stage_id = get_stage(stage_id).id
        except NotFound:
            raise ServiceError("That stage no longer exists. Pick another.", field="default_stage_id") from None
    message = (settings.thank_you_message or "").strip()
    if len(message) > MESSAGE_MAX:
        raise ServiceError(f"Keep the thank-you message under {MESSAGE_MAX:,} characters.", field="thank_you_message")
    return {"name": name, "slug": slug, "fields": fields, "default_source": source or None,
            "default_stage_id": stage_id, "thank_you_message": message or DEFAULT_THANKS,
            "redirect_url": _check_redirect(settings.redirect_url), "custom_fields": custom,
            "tags": clean_tags(settings.tags),  # ServiceError(field="tags"): the same limits as any lead's tags
            "consent_text": consent.clean_text(settings.consent_text)}  # ServiceError(field="tags"): the same limits as any lead's tags


def _check_custom(asked: dict) -> list:
    """The custom fields to ask, in the admins' field order; raises ServiceError for an unknown one."""
    defined = custom_fields.active_fields()
    known = {f.id for f in defined}
    if set(asked) - known or any(v not in ("optional", "required") for v in asked.values()):
        raise ServiceError("A custom field on this form no longer exists. Reload the page and choose again.",
                           field="fields")
    return [{"field_id": f.id, "required": asked[f.id] == "required"} for f in defined if f.id in asked]


def create_form(settings: FormSettings, actor_id: int | None = None) -> CaptureForm:
    """Add an active form; raises ServiceError naming the bad field."""
    try:
        with atomic():
            values = _check(settings, None)
            form = CaptureForm(**values, active=True, submissions=0, spam_count=0, created_at=utcnow())
            db.session.add(form)
            audit.record(actor_id, "capture_form.added", f"Form {form.name}")
    except IntegrityError:  # a simultaneous save took the slug: the same message as a slug taken before
        raise ServiceError(f"Another form already uses /f/{values['slug']}. Pick a different address.",
                           field="slug") from None
    return form


def update_form(form_id: int, settings: FormSettings, actor_id: int | None = None) -> CaptureForm:
    """Save an admin's changes; raises FormNotFound or ServiceError naming the bad field."""
    try:
        with atomic():
            form = get_form(form_id)
            values = _check(settings, form.id)
            for name, value in values.items():
                setattr(form, name, value)
            audit.record(actor_id, "capture_form.changed", f"Form {form.name}")
    except IntegrityError:  # a simultaneous save took the slug: the same message as a slug taken before
        raise ServiceError(f"Another form already uses /f/{values['slug']}. Pick a different address.",
                           field="slug") from None
    return form


def set_active(form_id: int, active: bool, actor_id: int | None = None) -> CaptureForm:
    """Publish or withdraw a form; an inactive form's page and posts answer 404."""
    with atomic():
        form = get_form(form_id)
        if form.active != active:
            audit.record(actor_id, "capture_form.published" if active else "capture_form.withdrawn", f"Form {form.name}")
        form.active = active
    return form


def delete_form(form_id: int, actor_id: int | None = None) -> str:
    """Delete a form (its leads stay, no longer linked to it); returns its name."""
    with atomic():
        form = get_form(form_id)
        name = form.name
        audit.record(actor_id, "capture_form.deleted", f"Form {name}")
        db.session.delete(form)
    return name


def list_forms() -> list[CaptureForm]:
    return list(db.session.scalars(select(CaptureForm).order_by(func.lower(CaptureForm.name), CaptureForm.id)))


def get_form(form_id: int) -> CaptureForm:
    form = db.session.get(CaptureForm, form_id)
    if form is None:
        raise FormNotFound()
    return form


def lead_count(form_id: int) -> int:
    """Leads that still point at this form (merges and edits may have moved some)."""
    return db.session.scalar(select(func.count()).select_from(Lead).where(Lead.capture_form_id == form_id))


def asked(form: CaptureForm) -> dict:
    """{"email": "required", "first_name": "optional", ...}: the form's fields as the admin page edits them."""
    return {spec["name"]: "required" if spec.get("required") else "optional" for spec in form.fields or []}


def asked_custom(form: CaptureForm) -> dict:
    """{custom field id: "required" or "optional"} for the custom fields the form asks."""
    return {custom.id: "required" if required else "optional"
            for custom, required in custom_fields.form_custom_fields(form)}


# --- public side ------------------------------------------------------------------------------


def redirect_origin(url: str | None) -> str | None:
    """'https://example.com:8443' for a redirect URL (what a CSP form-action source names)."""
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def find_active_form(slug: str) -> CaptureForm | None:
    """The published form at /f/<slug>, or None (unknown, or switched off)."""
    if not slug or len(slug) > SLUG_MAX:
        return None
    return db.session.scalar(select(CaptureForm).where(CaptureForm.slug == slug, CaptureForm.active.is_(True)))


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=TOKEN_SALT)


def rendered_token(form_id: int, now: float | None = None) -> str:
    """A signed note of when this form's page was drawn, carried in a hidden field."""
    # Whole milliseconds, rounded down: a token is never dated after the moment it was made.
    return _serializer().dumps([form_id, int((now if now is not None else time.time()) * 1000)])


def spam_reason(form_id: int, honeypot: str | None, token: str | None, now: float | None = None) -> str | None:
    """Why this submission looks like a bot's ("honeypot", "too fast", "bad token"), or None.

    A missing token means no timing information (the plain-HTML embed cannot carry a fresh one):
    that alone is not spam; the honeypot and the rate limit still apply."""
    if (honeypot or "").strip():
        return "honeypot"
    token = (token or "").strip()
    if not token:
        return None
    try:
        token_form_id, rendered_ms = _serializer().loads(token)
        elapsed = (now if now is not None else time.time()) - int(rendered_ms) / 1000
    except (BadSignature, ValueError, TypeError):
        return "bad token"
    if token_form_id != form_id:
        return "bad token"
    minimum = current_app.config["CAPTURE_MIN_FILL_SECONDS"]
    return "too fast" if elapsed < minimum else None


def record_spam(form_id: int) -> None:
    """Count one dropped submission (one UPDATE, so simultaneous ones are all counted)."""
    with atomic():
        db.session.execute(update(CaptureForm).where(CaptureForm.id == form_id)
                           .values(spam_count=CaptureForm.spam_count + 1))


def check_values(form: CaptureForm, values: dict) -> dict:
    """The asked fields that were filled in (custom ones under "custom", by key); raises ServiceError
    for a missing required or contact field, or a custom value that does not fit its field.

    Formats (email, phone, lengths) are checked by capture_lead, which names the bad field."""
    data, specs = {}, form.fields or []
    for spec in specs:
        name = spec["name"]
        value = str(values.get(name) or "").strip()
        if value:
            data[name] = value
        elif spec.get("required"):
            raise ServiceError(f"{FIELD_LABELS.get(name, name)} is required.", field=name)
    contacts = [spec["name"] for spec in specs if spec["name"] in CONTACT_FIELDS]
    if contacts and not any(name in data for name in contacts):
        wanted = " or ".join("an email address" if n == "email" else "a phone number" for n in contacts)
        raise ServiceError(f"Give {wanted} so we can get back to you.", field=contacts[0])
    custom = {}
    for definition, required in custom_fields.form_custom_fields(form):
        name = custom_fields.form_name(definition.key)
        # A held submission comes back as this function's own answer: its custom values under "custom".
        raw = values[name] if name in values else (values.get("custom") or {}).get(definition.key)
        value = custom_fields.clean_value(definition, raw)
        if value is not None:
            custom[definition.key] = value
        elif required:
            raise ServiceError(f"{definition.label} is required.", field=name)
    if custom:
        data["custom"] = custom
    return data


def submit(form: CaptureForm, values: dict, origin: dict | None = None) -> Captured:
    """Capture one real submission and count it, in one transaction; raises ServiceError naming the bad field.

    A known email or phone lands on the existing lead (capture_lead's duplicate rules)."""
    data = check_values(form, values)
    if form.tags:
        data["tags"] = list(form.tags)  # capture_lead puts them on the lead, new or known
    # A deleted default stage (SQLite does not null the column) must not turn people away: use the first.
    stage_id = form.default_stage_id if form.default_stage_id and db.session.get(Stage, form.default_stage_id) else None
    with atomic():
        # Counted in capture_lead's transaction. The row lock also makes a double-clicked submit wait
        # for the first one, which it then finds as an existing lead instead of making a twin.
        # A count no setting is read from: it leaves the settings version alone (services.NOT_SETTINGS).
        db.session.execute(update(CaptureForm).where(CaptureForm.id == form.id)
                           .values(submissions=CaptureForm.submissions + 1).execution_options(**NOT_SETTINGS))
        agreed = form.consent_text and values.get(consent.CHECKBOX) in (True, "y", "on", "true", "1")
        return capture_lead(data, via=f"web form {form.name}", source=form.default_source,
                            stage_id=stage_id, origin=origin, form_id=form.id,
                            consent_form=form if agreed else None)
