"""Capture forms: admins define them at /settings/forms; prospects send them to /f/<slug>."""
import html
import re
import threading
import time
from html import unescape

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import CaptureForm, Lead, TimelineEntry
from app.services import capture_forms as form_service
from tests.conftest import Web

CONTACT = {"first_name": "Grace", "last_name": "Hopper", "email": "Grace@Navy.mil"}


@pytest.fixture
def capture_form(app, stages):
    """A live form asking for a name, a required email, an optional phone and the company."""
    return form_service.create_form(form_service.FormSettings(
        name="Contact us", fields={"first_name": "required", "last_name": "optional", "email": "required",
                                   "phone": "optional", "company": "optional"},
        default_source="Website", default_stage_id=stages["Qualified"].id,
        thank_you_message="Thanks, Grace's team will call."))


@pytest.fixture
def prospect(app):
    """Someone on the public side: no sign-in, no CSRF token (the blueprint is exempt)."""
    return Web(app.test_client())


def page_token(body: str) -> str:
    return re.search(r'name="rendered" value="([^"]+)"', body).group(1)


def human(form: CaptureForm, **fields) -> dict:
    """What a person's browser posts: the page was drawn 20 seconds before they pressed Send."""
    return {"rendered": form_service.rendered_token(form.id, now=time.time() - 20), "website": "", **fields}


def leads() -> list[Lead]:
    return list(db.session.scalars(select(Lead).order_by(Lead.id)))


def entries(lead: Lead) -> list[TimelineEntry]:
    return list(db.session.scalars(select(TimelineEntry).where(TimelineEntry.lead_id == lead.id)
                                   .order_by(TimelineEntry.id)))


def reloaded(form: CaptureForm) -> CaptureForm:
    db.session.expire_all()
    return db.session.get(CaptureForm, form.id)


def editor_data(**changes) -> dict:
    data = {"name": "Spring campaign", "slug": "", "ask_first_name": "required", "ask_last_name": "optional",
            "ask_email": "required", "ask_phone": "", "ask_company": "optional", "ask_job_title": "",
            "default_source": "Spring ads", "default_stage_id": "", "thank_you_message": "Talk soon!",
            "redirect_url": ""}
    data.update(changes)
    return data


# --- admin ------------------------------------------------------------------------------------


@pytest.mark.parametrize("method, url", [
    ("get", "/settings/forms"), ("get", "/settings/forms/new"), ("post", "/settings/forms"),
])
def test_members_cannot_reach_capture_form_settings(as_member, stages, method, url):
    response = getattr(as_member, method)(url, **({"data": editor_data()} if method == "post" else {}))
    assert response.status_code == 403
    assert " are for admins. Ask an admin" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(CaptureForm)) == 0


def test_members_cannot_edit_switch_or_delete_a_form(as_member, capture_form):
    for url in (f"/settings/forms/{capture_form.id}", f"/settings/forms/{capture_form.id}/deactivate",
                f"/settings/forms/{capture_form.id}/delete"):
        assert as_member.post(url, editor_data(name="Hijacked")).status_code == 403
    form = reloaded(capture_form)
    assert (form.name, form.active) == ("Contact us", True)


def test_the_forms_list_says_what_to_do_when_there_are_none(as_admin, stages):
    body = as_admin.get("/settings/forms").get_data(as_text=True)
    assert "No capture forms yet" in body and 'href="/settings/forms/new"' in body


def test_an_admin_creates_a_form_and_gets_its_address_and_snippets(as_admin, stages):
    response = as_admin.post("/settings/forms", editor_data(default_stage_id=str(stages["Contacted"].id)))
    form = db.session.scalars(select(CaptureForm)).one()
    assert response.status_code == 302 and response.headers["Location"] == f"/settings/forms/{form.id}"
    assert (form.name, form.slug, form.default_source, form.default_stage_id, form.active) == (
        "Spring campaign", "spring-campaign", "Spring ads", stages["Contacted"].id, True)
    assert form.fields == [{"name": "first_name", "required": True}, {"name": "last_name", "required": False},
                           {"name": "email", "required": True}, {"name": "company", "required": False}]
    assert form.thank_you_message == "Talk soon!" and form.redirect_url is None

    body = as_admin.get(f"/settings/forms/{form.id}").get_data(as_text=True)
    hosted = "http://127.0.0.1:5000/f/spring-campaign"  # BASE_URL's default
    assert f'value="{hosted}"' in body
    iframe = unescape(re.search(r'<textarea id="iframe-snippet"[^>]*>(.*?)</textarea>', body, re.S).group(1))
    assert iframe.startswith(f'<iframe src="{hosted}" title="Spring campaign"')
    html = unescape(re.search(r'<textarea id="html-snippet"[^>]*>(.*?)</textarea>', body, re.S).group(1))
    assert f'<form method="post" action="{hosted}">' in html
    assert 'name="email"' in html and 'name="company"' in html and 'name="phone"' not in html
    assert 'name="website"' in html and 'tabindex="-1"' in html and 'autocomplete="off"' in html
    assert 'name="rendered"' not in html  # a pasted snippet cannot carry a fresh timing token
    assert "timing check" in body  # ...and the help text says so
    assert "forms.js" in body and "<script>" not in body
    listing = as_admin.get("/settings/forms").get_data(as_text=True)
    assert "Spring campaign" in listing and "/f/spring-campaign" in listing


def test_a_taken_slug_is_made_unique_when_generated_and_refused_when_typed(as_admin, capture_form):
    as_admin.post("/settings/forms", editor_data(name="Contact us!"))
    assert db.session.scalar(select(CaptureForm.slug).where(CaptureForm.id != capture_form.id)) == "contact-us-2"
    response = as_admin.post("/settings/forms", editor_data(name="Another", slug="contact-us"), htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and "<html" not in body
    assert re.search(r'id="slug-error">Another form already uses /f/contact-us', body)


@pytest.mark.parametrize("changes, field, message", [
    ({"name": ""}, "name", "Give the form a name."),
    ({"name": "x" * 121}, "name", "120"),
    ({"slug": "Not Allowed!"}, "slug", "lower-case letters, digits and dashes"),
    ({"slug": "-edge-"}, "slug", "not starting or ending with a dash"),
    ({"redirect_url": "javascript:alert(1)"}, "redirect_url", "starting with https://"),
    ({"redirect_url": "ftp://example.com/thanks"}, "redirect_url", "starting with https://"),
    ({"redirect_url": "https://exa mple.com"}, "redirect_url", "starting with https://"),
    ({"default_source": "s" * 101}, "default_source", "100"),
    ({"default_stage_id": "999999"}, "default_stage_id", "That stage no longer exists"),
    ({"ask_phone": "maybe"}, "ask_phone", "Not a valid choice"),
])
def test_bad_settings_are_refused_with_the_message_beside_the_field(as_admin, stages, changes, field, message):
    response = as_admin.post("/settings/forms", editor_data(**changes))
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    error = re.search(rf'<p class="error" id="{field}-error">(.*?)</p>', body, re.S)
    assert error and message in unescape(error.group(1))
    assert re.search(rf'aria-describedby="(?:{field}-hint )?{field}-error"', body)
    assert db.session.scalar(select(func.count()).select_from(CaptureForm)) == 0


def test_a_form_must_ask_for_an_email_or_a_phone(as_admin, stages):
    response = as_admin.post("/settings/forms", editor_data(ask_email="", ask_phone=""))
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert re.search(r'id="ask-error">Ask for an email address or a phone number', body)
    assert 'value="Spring campaign"' in body  # what the admin typed is kept


def test_an_admin_edits_switches_off_and_on_and_deletes_a_form(as_admin, capture_form, make_lead):
    response = as_admin.post(f"/settings/forms/{capture_form.id}", editor_data(
        name="Contact sales", slug="sales", ask_phone="required", redirect_url="https://example.com/thanks?x=1"))
    assert response.status_code == 302
    form = reloaded(capture_form)
    assert (form.name, form.slug, form.redirect_url) == ("Contact sales", "sales", "https://example.com/thanks?x=1")
    assert {"name": "phone", "required": True} in form.fields

    assert as_admin.post(f"/settings/forms/{form.id}/deactivate").status_code == 302
    assert reloaded(form).active is False
    assert "Switched off" in as_admin.get("/settings/forms").get_data(as_text=True)
    assert as_admin.post(f"/settings/forms/{form.id}/activate").status_code == 302
    assert reloaded(form).active is True

    lead = make_lead(email="kept@example.com")
    lead.capture_form_id = form.id
    db.session.commit()
    form_id = form.id
    page = as_admin.get(f"/settings/forms/{form_id}/delete").get_data(as_text=True)
    assert "Delete the form “Contact sales”?" in page and "lead it brought in stays" in page
    assert as_admin.post(f"/settings/forms/{form.id}/delete").status_code == 302
    assert db.session.scalar(select(func.count()).select_from(CaptureForm)) == 0
    assert db.session.get(Lead, lead.id) is not None
    assert as_admin.get(f"/settings/forms/{form_id}").status_code == 404


def test_the_edit_page_shows_the_counts(as_admin, capture_form, prospect):
    prospect.post("/f/contact-us", human(capture_form, **CONTACT))
    prospect.post("/f/contact-us", human(capture_form, **CONTACT, website="http://spam.example"))
    prospect.post("/f/contact-us", human(capture_form, **CONTACT, website="http://spam.example"))
    body = as_admin.get(f"/settings/forms/{capture_form.id}").get_data(as_text=True)
    assert re.search(r"<dt>Submissions</dt><dd>1</dd>", body)
    assert re.search(r"<dt>Spam dropped</dt><dd>2 ", body)
    assert re.search(r"<dt>Leads from it</dt><dd>1 ", body)


# --- the public page --------------------------------------------------------------------------


def test_the_hosted_page_asks_for_the_chosen_fields_with_spam_traps_and_origin(prospect, capture_form):
    response = prospect.get("/f/contact-us?utm_source=news&utm_medium=email&utm_campaign=spring",
                            environ_base={"HTTP_REFERER": "https://partner.example/blog/post"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<h1>Contact us</h1>" in body and 'class="topbar"' not in body and "<script" not in body
    assert '<input autocomplete="email" id="email" maxlength="254" name="email" required type="email" value="">' in body
    assert 'name="phone"' in body and "Phone (optional)" in body and 'name="job_title"' not in body
    assert re.search(r'<div class="hp" aria-hidden="true">\s*<label for="website">Leave this field empty</label>', body)
    assert 'name="website" value="" tabindex="-1" autocomplete="off"' in body
    assert 'name="utm_source" value="news"' in body and 'name="utm_campaign" value="spring"' in body
    assert 'name="referrer" value="https://partner.example/blog/post"' in body
    assert page_token(body)


def test_form_pages_can_be_framed_by_any_site(prospect, capture_form):
    for response in (prospect.get("/f/contact-us"), prospect.post("/f/contact-us", human(capture_form)),
                     prospect.get("/f/contact-us/thanks"), prospect.get("/f/nope")):
        csp = response.headers["Content-Security-Policy"]
        assert "frame-ancestors *" in csp and "form-action 'self'" in csp and "script-src" not in csp
        assert "default-src 'self'" in csp and "base-uri 'none'" in csp and "object-src 'none'" in csp
        assert "X-Frame-Options" not in response.headers


def test_a_redirect_target_is_allowed_as_a_form_action(prospect, capture_form):
    form_service.update_form(capture_form.id, form_service.FormSettings(
        name="Contact us", slug="contact-us", fields={"email": "required"},
        redirect_url="https://www.example.com:8443/thanks"))
    csp = prospect.get("/f/contact-us").headers["Content-Security-Policy"]
    assert "form-action 'self' https://www.example.com:8443;" in csp


def test_unknown_and_switched_off_forms_answer_a_friendly_404(prospect, capture_form):
    for url in ("/f/no-such-form", "/f/no-such-form/thanks"):
        response = prospect.get(url)
        assert response.status_code == 404 and "This form is not available" in response.get_data(as_text=True)
    form_service.set_active(capture_form.id, False)
    assert prospect.get("/f/contact-us").status_code == 404
    response = prospect.post("/f/contact-us", human(capture_form, **CONTACT))
    assert response.status_code == 404 and leads() == []


# --- submitting -------------------------------------------------------------------------------


def test_a_submission_becomes_a_lead_with_source_stage_origin_form_and_timeline(prospect, capture_form, stages):
    response = prospect.post("/f/contact-us", human(
        capture_form, **CONTACT, phone="(415) 555-0123", company="US Navy",
        utm_source="news", utm_medium="email", utm_campaign="spring", referrer="https://partner.example/blog"))
    assert response.status_code == 303 and response.headers["Location"] == "/f/contact-us/thanks"
    thanks = prospect.get("/f/contact-us/thanks").get_data(as_text=True)
    assert "Thanks, Grace&#39;s team will call." in thanks

    [lead] = leads()
    assert (lead.first_name, lead.last_name, lead.email, lead.phone, lead.company) == (
        "Grace", "Hopper", "grace@navy.mil", "+14155550123", "US Navy")
    assert (lead.source, lead.stage_id, lead.owner_id, lead.capture_form_id) == (
        "Website", stages["Qualified"].id, None, capture_form.id)
    assert (lead.utm_source, lead.utm_medium, lead.utm_campaign, lead.referrer) == (
        "news", "email", "spring", "https://partner.example/blog")
    [created] = entries(lead)
    assert created.kind == "created" and created.data["via"] == "web form Contact us"
    assert reloaded(capture_form).submissions == 1 and reloaded(capture_form).spam_count == 0


def test_the_lead_page_names_the_form_it_came_from(as_admin, prospect, capture_form):
    prospect.post("/f/contact-us", human(capture_form, **CONTACT))
    body = as_admin.get(f"/leads/{leads()[0].id}").get_data(as_text=True)
    assert "Added via web form Contact us in Qualified." in body


def test_the_plain_html_snippet_posts_without_a_token_and_its_page_is_the_referrer(prospect, capture_form):
    response = prospect.post("/f/contact-us", {**CONTACT, "website": "", "utm_source": "", "utm_medium": "",
                                               "utm_campaign": ""},
                             environ_base={"HTTP_REFERER": "https://www.customer.example/contact"})
    assert response.status_code == 303
    [lead] = leads()
    assert lead.referrer == "https://www.customer.example/contact" and lead.utm_source is None


def test_our_own_page_is_never_recorded_as_the_referrer(prospect, capture_form):
    prospect.post("/f/contact-us", human(capture_form, **CONTACT),
                  environ_base={"HTTP_REFERER": "http://localhost/f/contact-us"})
    assert leads()[0].referrer is None


def test_sending_again_with_the_same_email_makes_no_twin(prospect, capture_form):
    prospect.post("/f/contact-us", human(capture_form, **CONTACT))
    response = prospect.post("/f/contact-us", human(capture_form, **{**CONTACT, "email": "  GRACE@navy.MIL ",
                                                                         "company": "US Navy"}))
    assert response.status_code == 303
    [lead] = leads()
    assert lead.company == "US Navy"  # an empty field filled in
    assert [e.kind for e in entries(lead)] == ["created", "resubmitted"]
    assert entries(lead)[1].data["via"] == "web form Contact us"
    assert reloaded(capture_form).submissions == 2


def test_a_double_clicked_send_makes_one_lead_not_twins(app, prospect, capture_form):
    data, barrier, answers = human(capture_form, **CONTACT), threading.Barrier(2), []

    def send():
        client = Web(app.test_client())
        barrier.wait()
        answers.append(client.post("/f/contact-us", data).status_code)

    threads = [threading.Thread(target=send) for _ in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert answers == [303, 303]
    [lead] = leads()
    assert sorted(e.kind for e in entries(lead)) == ["created", "resubmitted"]
    assert reloaded(capture_form).submissions == 2


def test_a_missing_required_field_is_shown_beside_it_with_what_was_typed_kept(prospect, capture_form):
    response = prospect.post("/f/contact-us", human(capture_form, first_name="", last_name="Hopper",
                                                    email="grace@", phone="555", utm_source="news"))
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and leads() == []
    assert '<p class="error" id="first_name-error">Enter your first name.</p>' in body
    assert 'aria-invalid="true"' in body and 'aria-describedby="first_name-error"' in body
    assert re.search(r'id="email-error">Enter a valid email address', body)
    assert re.search(r'id="phone-error">Enter a phone number with its area code', body)
    assert 'value="Hopper"' in body and 'value="grace@"' in body and 'name="utm_source" value="news"' in body
    assert page_token(body)  # the page's token travels on, so the corrected send is not "too fast"
    assert reloaded(capture_form).submissions == 0


def test_an_email_or_a_phone_is_needed_even_when_both_are_optional(prospect, capture_form):
    form_service.update_form(capture_form.id, form_service.FormSettings(
        name="Contact us", slug="contact-us", fields={"first_name": "optional", "email": "optional",
                                                     "phone": "optional"}))
    response = prospect.post("/f/contact-us", human(capture_form, first_name="Grace"))
    assert response.status_code == 422 and leads() == []
    assert "Give an email address or a phone number so we can get back to you." in response.get_data(as_text=True)
    assert prospect.post("/f/contact-us", human(capture_form, phone="+44 20 7946 0958")).status_code == 303
    assert leads()[0].phone == "+442079460958"


def test_a_script_typed_into_a_field_shows_as_text_on_the_lead(as_admin, prospect, capture_form):
    prospect.post("/f/contact-us", human(capture_form, **{**CONTACT, "company": "<script>alert(1)</script>"}))
    lead = leads()[0]
    assert lead.company == "<script>alert(1)</script>"
    body = as_admin.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body and "<script>alert(1)" not in body


def test_a_redirect_url_replaces_the_thank_you_page(prospect, capture_form):
    form_service.update_form(capture_form.id, form_service.FormSettings(
        name="Contact us", slug="contact-us", fields={"email": "required"}, redirect_url="https://example.com/thanks"))
    response = prospect.post("/f/contact-us", human(capture_form, email="a@example.com"))
    assert response.status_code == 303 and response.headers["Location"] == "https://example.com/thanks"
    assert len(leads()) == 1


def test_a_deleted_default_stage_does_not_turn_people_away(prospect, capture_form, stages):
    from app.services import stages as stage_service
    temporary = stage_service.add_stage("Webinar", "#112233")
    form_service.update_form(capture_form.id, form_service.FormSettings(
        name="Contact us", slug="contact-us", fields={"email": "required"}, default_stage_id=temporary.id))
    stage_service.delete_stage(temporary.id, None, None)  # PostgreSQL nulls the form's stage; SQLite leaves it
    assert prospect.post("/f/contact-us", human(capture_form, **CONTACT)).status_code == 303
    assert leads()[0].stage_id == stages["New"].id


def test_an_oversized_body_gets_a_friendly_413(prospect, capture_form):
    response = prospect.post("/f/contact-us", human(capture_form, **CONTACT, company="x" * 100_000))
    assert response.status_code == 413 and "too much to send" in response.get_data(as_text=True)
    assert "frame-ancestors *" in response.headers["Content-Security-Policy"]
    assert leads() == []


def test_a_wrong_content_type_is_a_clear_422_not_a_500(prospect, capture_form):
    response = prospect.post("/f/contact-us", '{"email": "grace@navy.mil"}', content_type="application/json")
    assert response.status_code == 422 and "Enter your email address." in response.get_data(as_text=True)


# --- spam -------------------------------------------------------------------------------------


def test_a_filled_honeypot_is_dropped_quietly_and_counted(prospect, capture_form):
    real = prospect.post("/f/contact-us", human(capture_form, email="real@example.com", first_name="Real"))
    bot = prospect.post("/f/contact-us", human(capture_form, **CONTACT, website="https://cheap-pills.example"))
    assert (bot.status_code, bot.headers["Location"]) == (real.status_code, real.headers["Location"])
    assert [lead.email for lead in leads()] == ["real@example.com"]
    form = reloaded(capture_form)
    assert (form.submissions, form.spam_count) == (1, 1)


def test_a_bot_with_nothing_right_still_sees_success(prospect, capture_form):
    response = prospect.post("/f/contact-us", {"website": "x"})
    assert response.status_code == 303 and response.headers["Location"] == "/f/contact-us/thanks"
    assert leads() == [] and reloaded(capture_form).spam_count == 1


def test_a_form_sent_right_after_the_page_was_drawn_is_held_for_review_not_dropped(prospect, capture_form):
    from app.services import held_submissions
    token = page_token(prospect.get("/f/contact-us").get_data(as_text=True))
    response = prospect.post("/f/contact-us", {**CONTACT, "rendered": token, "website": ""})
    assert response.status_code == 303 and response.headers["Location"] == "/f/contact-us/thanks"
    assert leads() == [] and reloaded(capture_form).spam_count == 0
    assert held_submissions.held_count(capture_form.id) == 1  # tests/integration/test_held_submissions.py


def test_the_same_page_token_is_fine_once_enough_time_has_passed(prospect, capture_form):
    token = page_token(prospect.get("/f/contact-us").get_data(as_text=True))
    assert form_service.spam_reason(capture_form.id, "", token) == "too fast"
    assert form_service.spam_reason(capture_form.id, "", token, now=time.time() + 3.5) is None


def test_the_minimum_fill_time_is_configurable(make_app, stages):
    quick = make_app(CAPTURE_MIN_FILL_SECONDS=0)
    with quick.app_context():
        form = form_service.create_form(form_service.FormSettings(name="Quick", fields={"email": "required"}))
        client = Web(quick.test_client())
        token = page_token(client.get("/f/quick").get_data(as_text=True))
        response = client.post("/f/quick", {"email": "fast@example.com", "rendered": token})
        assert response.status_code == 303, response.get_data(as_text=True)
        assert [lead.email for lead in leads()] == ["fast@example.com"]
        assert reloaded(form).spam_count == 0


@pytest.mark.parametrize("tamper", [
    lambda token, form: token[:-2] + ("AA" if not token.endswith("AA") else "BB"),  # a broken signature
    lambda token, form: "not-a-token",
    lambda token, form: form_service.rendered_token(form.id + 1, now=time.time() - 60),  # another form's
])
def test_a_tampered_token_is_spam(prospect, capture_form, tamper):
    token = form_service.rendered_token(capture_form.id, now=time.time() - 60)
    response = prospect.post("/f/contact-us", {**CONTACT, "rendered": tamper(token, capture_form), "website": ""})
    assert response.status_code == 303 and response.headers["Location"] == "/f/contact-us/thanks"
    assert leads() == [] and reloaded(capture_form).spam_count == 1


def test_posts_are_rate_limited_per_address_and_the_typing_is_kept(make_app, stages):
    limited = make_app(RATELIMIT_ENABLED=True)
    with limited.app_context():
        form = form_service.create_form(form_service.FormSettings(name="Limited", fields={"email": "required"}))
        client = Web(limited.test_client())
        answers = [client.post("/f/limited", human(form, email=f"p{n}@example.com")) for n in range(6)]
        assert [r.status_code for r in answers] == [303] * 5 + [429]
        body = answers[5].get_data(as_text=True)
        assert "Too many forms were sent from your network" in body and 'value="p5@example.com"' in body
        assert "frame-ancestors *" in answers[5].headers["Content-Security-Policy"]
        assert len(leads()) == 5
        unreadable = client.post("/f/limited", human(form, email="nul\x00@example.com"))  # over the limit, a NUL
        assert unreadable.status_code == 429 and "Too many" in unreadable.get_data(as_text=True)

        elsewhere = client.post("/f/limited", human(form, email="other@example.com"),
                                environ_base={"REMOTE_ADDR": "203.0.113.9"})
        assert elsewhere.status_code == 303 and len(leads()) == 6
        assert client.get("/f/limited").status_code == 200  # reading the page is not limited


# --- a website and a message ---------------------------------------------------------------------


@pytest.fixture
def website_form(app, stages):
    return form_service.create_form(form_service.FormSettings(
        name="Quote", slug="quote", fields={"email": "required", "website": "optional", "description": "required"},
        default_source="Website"))


def test_a_form_asks_for_a_website_and_a_message_and_the_lead_keeps_both(prospect, website_form):
    page = prospect.get("/f/quote").get_data(as_text=True)
    assert 'name="website" type="url"' in page or ('name="website"' in page and 'type="url"' in page)
    assert "<textarea" in page and "Your message" in page
    assert 'name="homepage"' in page  # the trap moved off the field people fill in
    response = prospect.post("/f/quote", {"rendered": form_service.rendered_token(website_form.id, now=time.time() - 20),
                                          "homepage": "", "email": "ada@example.com", "website": "example.org",
                                          "description": "A quote for 40 seats, please.\nBy Friday."})
    assert response.status_code == 303
    [lead] = leads()
    assert (lead.website, lead.description) == ("https://example.org", "A quote for 40 seats, please.\nBy Friday.")


def test_a_bad_website_or_a_missing_message_is_refused_beside_the_field(prospect, website_form):
    response = prospect.post("/f/quote", {"rendered": form_service.rendered_token(website_form.id, now=time.time() - 20),
                                          "homepage": "", "email": "ada@example.com", "website": "not a site"})
    text = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Enter the website as a web address" in text and "Tell us what you need." in text
    assert leads() == []


def test_with_a_website_asked_the_homepage_field_catches_bots(prospect, website_form):
    bot = prospect.post("/f/quote", {"rendered": form_service.rendered_token(website_form.id, now=time.time() - 20),
                                     "homepage": "https://cheap-pills.example", "email": "bot@example.com",
                                     "website": "cheap-pills.example", "description": "buy"})
    assert bot.status_code == 303 and leads() == []
    assert reloaded(website_form).spam_count == 1


def test_the_editor_offers_website_and_message_and_the_snippet_names_the_trap(as_admin, website_form):
    page = html.unescape(as_admin.get(f"/settings/forms/{website_form.id}").get_data(as_text=True))
    assert 'name="ask_website"' in page and 'name="ask_description"' in page
    assert 'name="homepage"' in page and 'leave the "homepage" field' in page and 'Keep the hidden "homepage"' in page
