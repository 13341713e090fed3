"""Form pieces more than one area uses: a service's normaliser as a field validator (the lead form,
the capture form), and a capture form's entry form (the public page takes it, settings shows its
snippet). Each area's own forms stay in its `forms.py`."""
from __future__ import annotations

from wtforms import EmailField, Form, StringField, TelField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from app.models import CaptureForm
from app.models.lead import max_length
from app.services import ServiceError
from app.services.countries import normalize_country
from app.services.leads import FIELD_LABELS, normalize_email, normalize_phone

HONEYPOT = "website"  # the capture form's hidden field: a name bots like to fill in

# autocomplete token, input type, message when a required one is left empty
PROMPTS = {
    "first_name": ("given-name", StringField, "Enter your first name."),
    "last_name": ("family-name", StringField, "Enter your last name."),
    "email": ("email", EmailField, "Enter your email address."),
    "phone": ("tel", TelField, "Enter your phone number."),
    "company": ("organization", StringField, "Enter your company's name."),
    "job_title": ("organization-title", StringField, "Enter your job title."),
    "country": ("country-name", StringField, "Enter your country."),
    "region": ("address-level1", StringField, "Enter your state, province or region."),
}


def service_check(normalizer):
    """Run one of the service's normalisers as a field validator, so form and API agree."""
    def check(form, field):
        try:
            normalizer(field.data)
        except ServiceError as exc:
            raise ValidationError(exc.message) from None
    return check


def entry_form(capture_form: CaptureForm, formdata=None) -> Form:
    """A WTForms form with the fields this capture form asks for, in its order. A plain Form, no CSRF:
    prospects post it from other websites (see app/public/__init__.py)."""
    class EntryForm(Form):
        pass

    for spec in capture_form.fields or []:
        name = spec["name"]
        if name not in PROMPTS:
            continue
        autocomplete, kind, missing = PROMPTS[name]
        label = FIELD_LABELS[name] + ("" if spec.get("required") else " (optional)")
        limit = max_length(name, typed=True)
        validators = [DataRequired(missing) if spec.get("required") else Optional(),
                      Length(max=limit, message=f"Keep this under {limit} characters.")]
        if name == "email":
            validators.append(service_check(normalize_email))
        elif name == "phone":
            validators.append(service_check(normalize_phone))
        elif name == "country":
            validators.append(service_check(normalize_country))
        setattr(EntryForm, name, kind(label, validators=validators, render_kw={"autocomplete": autocomplete}))
    return EntryForm(formdata)
