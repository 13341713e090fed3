"""Writing an email to a lead from its page: sent as the member through the outbox, on the timeline,
a touch (and the first response), and every bad input refused beside its field."""
from __future__ import annotations

import io

from sqlalchemy import func, select

from app.extensions import db
from app.models import Lead, OutboxEmail, TimelineEntry
from app.services import email_templates, lead_emails
from app.services.outbox import build_message


def _url(lead) -> str:
    return f"/leads/{lead.id}/email"


def _rows() -> list[OutboxEmail]:
    return list(db.session.scalars(select(OutboxEmail).where(OutboxEmail.kind == "lead_email")))


def test_a_member_emails_a_pool_lead_as_themselves_and_it_is_the_first_response(app, as_member, member, make_lead):
    lead = make_lead(first_name="Lena", last_name="Lindqvist", email="lena@example.com")
    db.session.commit()
    response = as_member.post(_url(lead), {
        "subject": "Hello {{ lead.first_name }}", "body": "Hi {{ lead.first_name }},\n\nAttached.\n\n{{ owner.signature }}",
        "attachment": (io.BytesIO(b"%PDF-1.4 \x00\xff binary"), "price list.pdf", "application/pdf")},
        htmx=True, content_type="multipart/form-data")
    assert response.status_code == 204 and response.headers["HX-Redirect"] == f"/leads/{lead.id}"

    [row] = _rows()
    assert (row.to_address, row.subject, row.reply_to) == ("lena@example.com", "Hello Lena", "max@example.com")
    assert row.sender == '"Max Member at Leadboard" <leadboard@localhost>'
    assert row.text_body == "Hi Lena,\n\nAttached.\n\nMax Member\nLeadboard\n"
    assert "<p>Hi Lena,</p>" in row.html_body and "Max Member<br>" in row.html_body
    message = build_message(row)
    assert message["Reply-To"] == "max@example.com" and "Auto-Submitted" not in message
    assert message["From"].addresses[0].display_name == "Max Member at Leadboard"
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "price list.pdf"
    assert attachment.get_content() == b"%PDF-1.4 \x00\xff binary"

    lead = db.session.get(Lead, lead.id)
    assert lead.first_response_by_id == member.id and lead.last_touch_at == row.created_at
    [entry] = db.session.scalars(select(TimelineEntry).where(TimelineEntry.lead_id == lead.id,
                                                             TimelineEntry.kind == "email_written")).all()
    assert entry.actor_id == member.id and entry.data["attachment"] == "price list.pdf"
    page = as_member.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert "Wrote an email to lena@example.com: “Hello Lena”, attaching price list.pdf." in page


def test_choosing_a_template_fills_the_subject_and_body_for_this_lead(app, as_member, make_lead, admin):
    lead = make_lead(first_name="Lena", email="lena@example.com", company="Acme & Co")
    template = email_templates.create_template(email_templates.TemplateSettings(
        name="Intro", subject="Hi {{ lead.first_name }}",
        body_html="<p>Hello {{ lead.first_name }} at {{ lead.company }}.</p><p>{{ owner.name }}</p>"))
    db.session.commit()
    page = as_member.get(f"{_url(lead)}?template={template.id}", htmx=True).get_data(as_text=True)
    assert "<html" not in page and 'value="Hi Lena"' in page
    assert "Hello Lena at Acme &amp; Co.\n\nMax Member</textarea>" in page  # plain text, escaped for HTML
    assert '<option selected value="' + str(template.id) + '">Intro</option>' in page


def test_a_lead_without_an_email_address_says_so_instead_of_a_form(app, as_member, make_lead):
    lead = make_lead(first_name="Nemo", email=None)
    db.session.commit()
    page = as_member.get(_url(lead)).get_data(as_text=True)
    assert "Nemo Lead has no email address yet." in page and 'id="email-form"' not in page
    response = as_member.post(_url(lead), {"subject": "Hi", "body": "Hello"}, htmx=True)
    assert response.status_code == 422 and "has no email address yet" in response.get_data(as_text=True)
    assert _rows() == []


def test_an_address_on_the_suppression_list_is_warned_about_and_the_email_is_kept_not_sent(app, as_member,
                                                                                            make_lead):
    from app.services.suppression import suppress
    lead = make_lead(first_name="Una", email="una@example.com")
    assert 'id="suppressed-warning"' not in as_member.get(_url(lead)).get_data(as_text=True)
    suppress("UNA@example.com", "unsubscribed", lead_id=lead.id)
    page = as_member.get(_url(lead)).get_data(as_text=True)
    assert 'id="suppressed-warning"' in page and "(unsubscribed), so an email written here will not be sent" in page
    assert as_member.post(_url(lead), {"subject": "Still there?", "body": "Hello"}).status_code == 302
    [row] = _rows()
    assert row.state == "suppressed" and row.last_error == "suppressed: address unsubscribed"


def test_bad_input_is_refused_beside_its_field_and_nothing_is_queued(app, as_member, make_lead):
    lead = make_lead(email="lena@example.com")
    db.session.commit()
    cases = [
        ({"subject": " ", "body": "Hello"}, "subject-error", "Give the email a subject."),
        ({"subject": "x" * 10_000, "body": "Hello"}, "subject-error", "Keep the subject to 300 characters."),
        ({"subject": "Hi", "body": ""}, "body-error", "Write the email before sending it."),
        ({"subject": "Hi", "body": "One\nTwo {{ lead.shoe_size }}"}, "body-error",
         "Line 2: “lead.shoe_size” is not a variable templates know."),
        ({"subject": "Hi", "body": "{{ ''.__class__.__mro__ }}"}, "body-error", "Templates cannot reach that"),
        ({"subject": "Hi", "body": "Hello", "attachment": (io.BytesIO(b"x" * (lead_emails.ATTACHMENT_LIMIT + 1)),
                                                          "big.bin")},
         "attachment-error", "Attach a file of at most 5 MB"),
        ({"subject": "Hi", "body": "Hello", "attachment": (io.BytesIO(b"some bytes"), "")},
         "attachment-error", "The attached file has no name."),
    ]
    for data, error_id, message in cases:
        response = as_member.post(_url(lead), data, htmx=True, content_type="multipart/form-data")
        page = response.get_data(as_text=True)
        assert response.status_code == 422, (message, response.status_code)
        assert f'id="{error_id}"' in page and message in page, message
    assert _rows() == []
    assert db.session.scalar(select(func.count()).select_from(TimelineEntry)
                             .where(TimelineEntry.kind == "email_written")) == 0


def test_a_body_past_the_upload_limit_is_a_clear_413(app, as_member, make_lead):
    lead = make_lead(email="lena@example.com")
    db.session.commit()
    response = as_member.post(_url(lead), {"subject": "Hi", "body": "Hello", "attachment": (
        io.BytesIO(b"x" * (lead_emails.ATTACHMENT_LIMIT + 400_000)), "huge.bin")}, content_type="multipart/form-data")
    assert response.status_code == 413 and "too large" in response.get_data(as_text=True)
    assert _rows() == []


def test_sending_without_a_csrf_token_is_refused(app, as_member, make_lead):
    lead = make_lead(email="lena@example.com")
    db.session.commit()
    response = as_member.post(_url(lead), {"subject": "Hi", "body": "Hello"}, csrf=False)
    assert response.status_code == 400 and _rows() == []
