"""Marketing consent: a capture form may ask for it (a checkbox showing the words an admin wrote);
a lead keeps what it agreed to, when, and on which form (not the IP address: that is personal data
we do not need). The team may require consent before a sequence enrols anyone (team setting
`sequences_need_consent`): sequences.enrol refuses with REFUSAL, bulk and rule enrolment pass over
those who did not agree."""
from __future__ import annotations

from datetime import datetime

from app.models import CaptureForm, Lead
from app.services import ServiceError, settings_cache, utcnow
from app.services.timeline import record

TEXT_MAX = 1000
CHECKBOX = "marketing_consent"  # the public form's input name
REFUSAL = ("This lead has not agreed to marketing emails, and the team enrols only leads that did "
           "(Settings → Team settings). Ask them to tick the consent box on a capture form first.")


def clean_text(raw: str | None) -> str | None:
    """The checkbox's words as an admin typed them (None: the form does not ask); raises ServiceError."""
    text = " ".join((raw or "").split())
    if len(text) > TEXT_MAX:
        raise ServiceError(f"Keep the consent text under {TEXT_MAX:,} characters.", field="consent_text")
    return text or None


def required() -> bool:
    """Whether sequences enrol only leads that consented (the team's choice; no query while the
    settings are unchanged: services.settings_cache)."""
    from app.services.team_settings import current
    return settings_cache("team_settings.sequences_need_consent", lambda: bool(current().sequences_need_consent))


def enrol_refusal(lead: Lead) -> str | None:
    """Why a sequence may not enrol this lead for want of consent, or None."""
    return REFUSAL if lead.consent_at is None and required() else None


def clause():
    """A WHERE clause on leads: those a sequence may enrol as far as consent goes (None: any)."""
    return Lead.consent_at.is_not(None) if required() else None


def given(lead: Lead, form: CaptureForm, now: datetime | None = None) -> None:
    """The person ticked the form's consent box: keep the words, the moment and the form, in the
    capture's transaction, with a timeline entry."""
    if not form.consent_text:
        return
    now = now or utcnow()
    lead.consent_at, lead.consent_text, lead.consent_form_id = now, form.consent_text, form.id
    record(lead.id, "consent_given", None, {"form": form.name, "text": form.consent_text}, now)
