"""Marketing consent: a capture form asks with the admin's words, the lead keeps what was agreed,
when and on which form (no IP address), and when the team requires it sequences enrol only leads
that agreed, refusing the others with the reason (issue 16, section 4)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import CaptureForm, Lead, SequenceEnrolment, TeamSettings, TimelineEntry
from app.services import ServiceError, consent, sequences
from app.services import capture_forms as form_service
from app.services.sequences import StepSettings
from app.services.team_settings import save as save_team
from tests.conftest import Web
from tests.integration.test_capture_forms import editor_data, human

WORDS = "Send me news and offers by email. I can unsubscribe at any time."


@pytest.fixture
def newsletter(app, stages):
    return form_service.create_form(form_service.FormSettings(
        name="Newsletter", fields={"first_name": "optional", "email": "required"}, consent_text=WORDS))


@pytest.fixture
def prospect(app):
    return Web(app.test_client())


def _lead(email: str) -> Lead:
    db.session.expire_all()
    return db.session.scalar(select(Lead).where(Lead.email == email))


def require_consent(on: bool = True) -> None:
    save_team("UTC", None, sequences_need_consent=on)


def test_the_form_shows_the_admins_words_beside_an_unticked_box_and_keeps_what_was_agreed(prospect, newsletter):
    page = prospect.get(f"/f/{newsletter.slug}").get_data(as_text=True)
    assert WORDS in page and 'type="checkbox"' in page and 'name="marketing_consent"' in page
    assert "checked" not in page.split('name="marketing_consent"')[1].split(">")[0]

    reply = prospect.post(f"/f/{newsletter.slug}", human(newsletter, email="yes@example.com",
                                                          marketing_consent="y"), csrf=False)
    assert reply.status_code == 303
    prospect.post(f"/f/{newsletter.slug}", human(newsletter, email="no@example.com"), csrf=False)

    agreed, declined = _lead("yes@example.com"), _lead("no@example.com")
    assert agreed.consent_at is not None and agreed.consent_text == WORDS and agreed.consent_form_id == newsletter.id
    assert declined.consent_at is None and declined.consent_text is None
    entry = db.session.scalar(select(TimelineEntry).where(TimelineEntry.lead_id == agreed.id,
                                                          TimelineEntry.kind == "consent_given"))
    assert entry.data == {"form": "Newsletter", "text": WORDS}
    # What was agreed stays as it was when the form said it.
    form_service.update_form(newsletter.id, form_service.FormSettings(
        name="Newsletter", fields={"email": "required"}, consent_text="Other words"))
    assert _lead("yes@example.com").consent_text == WORDS


@pytest.mark.parametrize("value", ["n", "no", "0", "off", "false", "Y", "yes please"])
def test_a_value_other_than_the_box_s_own_is_no_consent(prospect, newsletter, value):
    reply = prospect.post(f"/f/{newsletter.slug}", human(newsletter, email="maybe@example.com",
                                                          marketing_consent=value), csrf=False)
    assert reply.status_code == 303
    lead = _lead("maybe@example.com")
    assert lead is not None and lead.consent_at is None and lead.consent_text is None


def test_a_known_person_ticking_the_box_later_gives_consent_to_their_lead(prospect, newsletter, make_lead):
    lead = make_lead(first_name="Kit", email="kit@example.com")
    prospect.post(f"/f/{newsletter.slug}", human(newsletter, email="kit@example.com", marketing_consent="y"),
                  csrf=False)
    again = _lead("kit@example.com")
    assert again.id == lead.id and again.consent_text == WORDS


def test_a_form_without_words_asks_nothing_and_a_ticked_box_posted_anyway_gives_no_consent(prospect, stages):
    plain = form_service.create_form(form_service.FormSettings(name="Contact", fields={"email": "required"}))
    assert "marketing_consent" not in prospect.get(f"/f/{plain.slug}").get_data(as_text=True)
    prospect.post(f"/f/{plain.slug}", human(plain, email="sly@example.com", marketing_consent="y"), csrf=False)
    assert _lead("sly@example.com").consent_at is None


def test_admins_set_the_words_on_the_form_editor_and_too_many_are_refused_beside_the_field(as_admin, stages):
    reply = as_admin.post("/settings/forms", editor_data(name="Spring", consent_text=f"  {WORDS}  "))
    assert reply.status_code == 302
    saved = db.session.scalar(select(CaptureForm).where(CaptureForm.name == "Spring"))
    assert saved.consent_text == WORDS
    assert WORDS in as_admin.get(f"/settings/forms/{saved.id}").get_data(as_text=True)
    refused = as_admin.post("/settings/forms", editor_data(name="Too long", consent_text="x" * 1001))
    assert refused.status_code == 422 and "1,000 characters" in refused.get_data(as_text=True)
    with pytest.raises(ServiceError) as exc:
        consent.clean_text("y" * 1001)
    assert exc.value.field == "consent_text"


def test_when_the_team_requires_consent_sequences_enrol_only_leads_that_agreed(
        app, template, make_sequence, make_lead, member, prospect, newsletter):
    sequence = make_sequence(template)
    prospect.post(f"/f/{newsletter.slug}", human(newsletter, email="ok@example.com", marketing_consent="y"),
                  csrf=False)
    agreed = _lead("ok@example.com")
    silent = make_lead(first_name="Sil", email="sil@example.com")

    require_consent()
    with pytest.raises(ServiceError) as refused:
        sequences.enrol(silent.id, sequence.id, member.id)
    assert refused.value.message == consent.REFUSAL and refused.value.field == "sequence_id"
    assert sequences.enrol(agreed.id, sequence.id, member.id).lead_id == agreed.id
    other = make_sequence(template, name="Second", stop_on_other=False)
    assert sequences.enrol_many([silent.id, agreed.id], other.id, member.id) == 1
    enrolled = set(db.session.scalars(select(SequenceEnrolment.lead_id)))
    assert enrolled == {agreed.id}

    require_consent(False)
    assert sequences.enrol(silent.id, sequence.id, member.id).lead_id == silent.id


def test_a_form_rule_enrols_a_consenting_newcomer_when_consent_is_required(app, template, make_sequence, prospect,
                                                                           newsletter):
    sequence = make_sequence(template)
    sequences.add_rule(sequence.id, "form", str(newsletter.id))
    require_consent()
    prospect.post(f"/f/{newsletter.slug}", human(newsletter, email="in@example.com", marketing_consent="y"),
                  csrf=False)
    prospect.post(f"/f/{newsletter.slug}", human(newsletter, email="out@example.com"), csrf=False)
    enrolled = set(db.session.scalars(select(SequenceEnrolment.lead_id)))
    assert enrolled == {_lead("in@example.com").id}


def test_the_team_setting_is_saved_from_the_team_page(as_admin):
    page = as_admin.get("/settings/team").get_data(as_text=True)
    assert "Sequences enrol only leads that gave marketing consent" in page
    reply = as_admin.post("/settings/team", {"timezone": "UTC", "appointment_stage": "", "pool_claim_cap": "",
                                             "currency": "USD", "sequences_need_consent": "y"})
    assert reply.status_code == 302, reply.get_data(as_text=True)[:2000]
    assert db.session.get(TeamSettings, 1).sequences_need_consent is True
