"""Email templates (/settings/templates) and the sandbox that renders them: what a saved template
makes for a lead, and every kind of bad template refused when saved, naming the line."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import EmailTemplate
from app.services import email_templates as service

URL = "/settings/templates"


def _save(web, **fields):
    data = {"name": "Welcome", "subject": "Hello {{ lead.first_name }}", "body_html": "<p>Hi</p>", **fields}
    return web.post(URL, data, htmx=True)


def _count() -> int:
    return db.session.scalar(select(func.count()).select_from(EmailTemplate))


def test_a_template_renders_lead_custom_owner_and_team_variables_escaped_with_a_text_part(app, member, make_lead):
    from app.services import custom_fields
    custom_fields.create_field(custom_fields.FieldSettings(label="Plan", kind="text"))
    lead = make_lead(first_name="<b>Lena</b>", last_name="Lindqvist", company="Acme & Co", owner=member,
                     email="lena@example.com")
    from app.services.leads import update_lead
    update_lead(lead.id, {}, None, custom={"plan": "Gold"}, custom_partial=True)
    template = service.create_template(service.TemplateSettings(
        name="Welcome", subject="Welcome {{ lead.first_name }} from {{ team.name }}",
        body_html="<p>Hi {{ lead.first_name }} at {{ lead.company }},</p>\n<p>Your plan: {{ lead.custom.plan }}."
                  "{% if lead.custom.plan == 'Gold' %} Thanks!{% endif %}</p>\n"
                  "<ul><li>one</li></ul><p><a href=\"https://example.com/book\">Book</a></p>"
                  "<p>{{ owner.signature }}</p>"))
    db.session.commit()

    subject, html, text = service.render(template, lead)

    assert subject == "Welcome <b>Lena</b> from Leadboard"  # the subject is a header: plain text
    assert "Hi &lt;b&gt;Lena&lt;/b&gt; at Acme &amp; Co," in html  # values can never add markup
    assert "Your plan: Gold. Thanks!" in html
    assert "Max Member\nLeadboard" in html
    assert "Hi <b>Lena</b> at Acme & Co," in text and "- one" in text
    assert "Book (https://example.com/book)" in text and "<p>" not in text


def test_admins_save_list_and_edit_a_template(app, as_admin):
    response = _save(as_admin, name="Follow-up", subject="About our call, {{ lead.first_name }}")
    assert response.status_code == 204 and response.headers["HX-Redirect"] == URL
    template = db.session.scalars(select(EmailTemplate)).one()
    assert (template.name, template.subject) == ("Follow-up", "About our call, {{ lead.first_name }}")
    assert "Follow-up" in as_admin.get(URL).get_data(as_text=True)

    response = as_admin.post(f"{URL}/{template.id}", {"name": "Follow up", "subject": "Hi",
                                                      "body_html": "<p>{{ owner.name }}</p>"}, htmx=True)
    assert response.status_code == 204
    db.session.refresh(template)
    assert (template.name, template.body_html) == ("Follow up", "<p>{{ owner.name }}</p>")


def test_two_templates_never_share_a_name_in_any_case(app, as_admin):
    assert _save(as_admin, name="Welcome").status_code == 204
    response = _save(as_admin, name="WELCOME")
    assert response.status_code == 422
    assert "Another template has that name." in response.get_data(as_text=True)
    assert _count() == 1


def test_a_syntax_error_is_refused_naming_the_line(app, as_admin):
    response = _save(as_admin, body_html="<p>Hi</p>\n<p>there</p>\n<p>{{ lead.first_name }</p>\n<p>Bye</p>")
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "<html" not in page
    assert "Line 3: unexpected &#39;}&#39;" in page
    assert 'id="body_html-error"' in page and _count() == 0


def test_an_unknown_variable_is_refused_when_saved_even_in_a_branch_never_taken(app, as_admin):
    response = _save(as_admin, body_html="<p>Hi</p>\n{% if false %}{{ lead.favourite_colour }}{% endif %}")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Line 2: “lead.favourite_colour” is not a variable templates know." in page
    response = _save(as_admin, subject="Hello {{ firstname }}")
    assert "Line 1: “firstname” is not a variable" in response.get_data(as_text=True)
    assert 'id="subject-error"' in response.get_data(as_text=True) and _count() == 0


@pytest.mark.parametrize("body", [
    "{{ ''.__class__.__mro__ }}",
    "{{ lead.first_name.__class__.__base__.__subclasses__() }}",
    "{{ (lead|attr('__class__')) }}",
])
def test_reaching_for_python_internals_is_refused(app, as_admin, body):
    response = _save(as_admin, body_html=f"<p>ok</p>\n{body}")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Line 2:" in page and "Templates cannot reach that" in page
    assert _count() == 0


@pytest.mark.parametrize("body, words", [
    ("{% for i in range(10**9) %}x{% endfor %}", "range() may count at most"),
    ("{% for i in range(9999) %}{% for j in range(9999) %}{% endfor %}{% endfor %}", "loops ran more than"),
    ("{{ 'x' * 10**9 }}", "longer than"),
    ("{{ 'x'|center(10**9) }}", "longer than"),
    ("{{ '{:999999999}'.format('x') }}", "format width"),
    ("{% for i in range(9000) %}{{ lead.name }}{{ 'y' * 90 }}{% endfor %}", "more than 200,000 characters"),
])
def test_a_template_that_does_too_much_is_stopped_fast(app, as_admin, body, words):
    started = time.monotonic()
    response = _save(as_admin, body_html=body)
    assert time.monotonic() - started < 2
    assert response.status_code == 422
    assert words in response.get_data(as_text=True)
    assert _count() == 0


def test_an_empty_or_overlong_subject_is_refused_beside_the_field(app, as_admin):
    response = _save(as_admin, subject="   ")
    assert response.status_code == 422 and "Give the email a subject." in response.get_data(as_text=True)
    response = _save(as_admin, subject="x" * 10_000)
    assert response.status_code == 422
    assert "Keep the subject to 300 characters." in response.get_data(as_text=True)
    assert _count() == 0


def test_members_cannot_reach_templates(app, as_member):
    for response in (as_member.get(URL), as_member.get(f"{URL}/new"), _save(as_member)):
        assert response.status_code == 403
    assert _count() == 0


def test_saving_without_a_csrf_token_is_refused(app, as_admin):
    response = as_admin.post(URL, {"name": "Sneaky", "subject": "Hi", "body_html": "<p>x</p>"}, csrf=False)
    assert response.status_code == 400 and _count() == 0


def test_the_preview_renders_for_the_newest_lead_or_the_one_searched_for(app, as_admin, make_lead):
    make_lead(first_name="Olga", last_name="Older", email="olga@example.com")
    make_lead(first_name="Nina", last_name="Newest", email="nina@example.com", company="Nimbus")
    db.session.commit()
    form = {"subject": "Hi {{ lead.first_name }}", "body_html": "<p>At {{ lead.company }}</p><script>x()</script>"}

    page = as_admin.post(f"{URL}/preview", form, htmx=True).get_data(as_text=True)
    assert "<html" not in page and "As Nina Newest would get it" in page and "Hi Nina" in page
    assert 'sandbox=""' in page and "&lt;p&gt;At Nimbus&lt;/p&gt;" in page  # inside srcdoc, escaped
    page = as_admin.post(f"{URL}/preview", {**form, "preview_lead": "olga"}, htmx=True).get_data(as_text=True)
    assert "As Olga Older would get it" in page and "Hi Olga" in page
    page = as_admin.post(f"{URL}/preview", {**form, "body_html": "{{ nope }}"}, htmx=True).get_data(as_text=True)
    assert "Line 1: “nope” is not a variable" in page
