"""Form pieces more than one area uses: a service's normaliser as a field validator (the lead form,
the capture form), and a capture form's entry form (the public page takes it, settings shows its
snippet). Each area's own forms stay in its `forms.py`."""
from __future__ import annotations

from wtforms import BooleanField, EmailField, Form, SelectField, SelectMultipleField, StringField, TelField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from app.models import CaptureForm, CustomField, FieldKind
from app.models.lead import max_length
from app.services import ServiceError
from app.services import custom_fields as field_service
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
}


def service_check(normalizer):
    """Run one of the service's normalisers as a field validator, so form and API agree."""
    def check(form, field):
        try:
            normalizer(field.data)
        except ServiceError as exc:
            raise ValidationError(exc.message) from None
    return check


# How each kind of custom field is typed in: (input type, inputmode) for the text-like ones.
CUSTOM_INPUTS = {
    FieldKind.text.value: ("text", None), FieldKind.url.value: ("url", "url"),
    FieldKind.number.value: ("text", "decimal"), FieldKind.money.value: ("text", "decimal"),
    FieldKind.date.value: ("date", None),
}


def _custom_check(custom: CustomField, required: bool):
    """The service's rule for this field's values (clean_value) as a field validator."""
    def check(form, field):
        try:
            value = field_service.clean_value(custom, field.data)
        except ServiceError as exc:
            raise ValidationError(exc.message) from None
        if required and value in (None, False):
            raise ValidationError(f"{'Tick' if custom.kind == FieldKind.checkbox.value else 'Fill in'} "
                                  f"{custom.label}: it is required.")
    return check


def custom_input(custom: CustomField, *, required: bool, label_suffix: str = ""):
    """An unbound WTForms field for a custom field, named in forms by field_service.form_name(key)."""
    label, check = custom.label + label_suffix, [_custom_check(custom, required)]
    kind, described = custom.kind, custom.help_text or None
    if kind == FieldKind.checkbox.value:
        return BooleanField(label, validators=check, description=described)
    if kind == FieldKind.long_text.value:
        return TextAreaField(label, validators=check, description=described)
    if kind == FieldKind.choice.value:
        return SelectField(label, choices=[("", "Choose…")] + [(c, c) for c in custom.choices or []],
                           validate_choice=False, validators=check, description=described)
    if kind == FieldKind.multi_choice.value:
        return SelectMultipleField(label, choices=[(c, c) for c in custom.choices or []], validate_choice=False,
                                   validators=check, description=described)
    input_type, mode = CUSTOM_INPUTS.get(kind, ("text", None))
    render_kw = {"type": input_type, **({"inputmode": mode} if mode else {})}
    return StringField(label, validators=check, description=described, render_kw=render_kw)


def custom_form_value(value):
    """A stored custom value as a form field holds it (the edit form's starting values)."""
    if isinstance(value, (list, bool)):
        return value
    return field_service.json_value(value)


def entry_form(capture_form: CaptureForm, formdata=None) -> Form:
    """A WTForms form with the fields this capture form asks for, in its order. A plain Form, no CSRF:
    prospects post it from other websites (see app/public/__init__.py)."""
    class EntryForm(Form):
        custom_defs: list = []

        def custom_inputs(self) -> dict:
            """{input name: definition} of the custom fields asked, for the template."""
            return {field_service.form_name(custom.key): custom for custom in self.custom_defs}

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
        setattr(EntryForm, name, kind(label, validators=validators, render_kw={"autocomplete": autocomplete}))
    asked = []
    for custom, required in field_service.form_custom_fields(capture_form):
        setattr(EntryForm, field_service.form_name(custom.key),
                custom_input(custom, required=required, label_suffix="" if required else " (optional)"))
        asked.append(custom)
    form = EntryForm(formdata)
    form.custom_defs = asked
    return form


def custom_data(form, fields: list[CustomField]) -> dict:
    """{key: what was typed} for these custom fields of a submitted form."""
    return {custom.key: form[field_service.form_name(custom.key)].data for custom in fields}
