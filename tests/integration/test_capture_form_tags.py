"""A capture form's tags: admins set them beside the form's other settings (checked as any lead's
tags are), and every submission's lead receives them, new or known."""
import re
import time
from html import unescape

from sqlalchemy import select

from app.extensions import db
from app.models import CaptureForm, Lead
from app.services import capture_forms as form_service
from app.services.tags import MAX_PER_LEAD, tags_for
from tests.conftest import Web


def editor_data(**changes) -> dict:
    data = {"name": "Webinar", "slug": "webinar", "ask_first_name": "required", "ask_last_name": "",
            "ask_email": "required", "ask_phone": "", "ask_company": "", "ask_job_title": "",
            "default_source": "Webinar", "default_stage_id": "", "thank_you_message": "See you there!",
            "redirect_url": "", "tags": "webinar, EU; webinar"}
    data.update(changes)
    return data


def send(app, **fields):
    return Web(app.test_client()).post("/f/webinar", {
        "rendered": form_service.rendered_token(db.session.scalar(select(CaptureForm.id)), now=time.time() - 20),
        "website": "", **fields})


def test_an_admin_sets_a_forms_tags_and_every_submission_gets_them(app, as_admin, stages):
    response = as_admin.post("/settings/forms", editor_data())
    assert response.status_code == 302
    form = db.session.scalar(select(CaptureForm))
    assert form.tags == ["webinar", "EU"]
    edit = as_admin.get(f"/settings/forms/{form.id}").get_data(as_text=True)
    assert 'value="webinar, EU"' in edit and '<label for="tags">' in edit
    assert send(app, first_name="Ann", email="ann@example.com").status_code == 303
    lead = db.session.scalar(select(Lead).where(Lead.email == "ann@example.com"))
    assert tags_for([lead.id])[lead.id] == ["EU", "webinar"]


def test_a_known_lead_sending_the_form_again_gets_the_tags_too(app, as_admin, stages, make_lead):
    as_admin.post("/settings/forms", editor_data(tags="returning"))
    lead = make_lead(email="bo@example.com")
    send(app, first_name="Bo", email="bo@example.com")
    assert tags_for([lead.id])[lead.id] == ["returning"]


def test_bad_tags_are_refused_beside_the_field_with_a_422(as_admin, stages):
    too_many = ", ".join(f"t{n}" for n in range(MAX_PER_LEAD + 1))
    for bad, message in (("vip, <script>", "letters"), (too_many, f"at most {MAX_PER_LEAD}"),
                         ("x" * 41, "40")):
        response = as_admin.post("/settings/forms", editor_data(tags=bad))
        body = response.get_data(as_text=True)
        assert response.status_code == 422
        error = re.search(r'<p class="error" id="tags-error">(.*?)</p>', body, re.S)
        assert error and message in unescape(error.group(1)), unescape(error.group(1)) if error else body[:0]
        assert db.session.scalar(select(CaptureForm.id)) is None
