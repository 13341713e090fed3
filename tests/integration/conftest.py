"""Fixtures several integration modules share (the project-wide ones are in tests/conftest.py)."""
from __future__ import annotations

import pytest

from app.extensions import db
from app.services import email_templates, sequences
from app.services.sequences import StepSettings


@pytest.fixture
def template(app):
    """An email template a sequence step can send."""
    made = email_templates.create_template(email_templates.TemplateSettings(
        name="Check in", subject="Still thinking, {{ lead.first_name }}?", body_html="<p>Hi {{ lead.first_name }}</p>"))
    db.session.commit()
    return made


@pytest.fixture
def make_sequence(app):
    """make_sequence(template, *steps, name=..., stop_on_other=...): a started sequence with these
    steps (default: one email of `template`, due at once)."""
    def make(template, *step_settings, name="Warm up", stop_on_other=True):
        sequence = sequences.create_sequence(name, stop_on_other)
        for settings in step_settings or (StepSettings(template_id=template.id),):
            sequences.add_step(sequence.id, settings)
        sequences.start(sequence.id)
        return sequence
    return make
