"""A web-form submission sent faster than the minimum fill time is held for review, not dropped
(issue 9, section 6): the admins hear of it once, and release it into a lead or discard it."""
import time

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import CaptureForm, HeldSubmission, Lead, Notification, TimelineEntry
from app.services import capture_forms as form_service, held_submissions as held_service
from tests.conftest import Web

GRACE = {"first_name": "Grace", "last_name": "Hopper", "email": "grace@navy.example", "company": "Navy"}


@pytest.fixture
def capture_form(app, stages):
    return form_service.create_form(form_service.FormSettings(
        name="Contact us", fields={"first_name": "required", "last_name": "optional", "email": "required",
                                   "company": "optional"}, default_source="Website"))


@pytest.fixture
def prospect(app):
    return Web(app.test_client())


def too_fast(form: CaptureForm, **fields) -> dict:
    """A post a second after the page was drawn: under the minimum fill time (3 seconds)."""
    return {"rendered": form_service.rendered_token(form.id, now=time.time() - 1), "website": "",
            "utm_source": "newsletter", **fields}


def held() -> list[HeldSubmission]:
    db.session.expire_all()
    return list(db.session.scalars(select(HeldSubmission).order_by(HeldSubmission.id)))


def leads() -> list[Lead]:
    return list(db.session.scalars(select(Lead).order_by(Lead.id)))


def notices(user) -> list[Notification]:
    db.session.expire_all()
    return list(db.session.scalars(select(Notification).where(Notification.user_id == user.id)
                                   .order_by(Notification.id)))


def test_a_too_fast_submission_is_held_and_the_sender_is_thanked(prospect, capture_form, admin):
    response = prospect.post("/f/contact-us", too_fast(capture_form, **GRACE))

    assert response.status_code == 303 and response.headers["Location"] == "/f/contact-us/thanks"
    assert leads() == []
    [row] = held()
    assert row.form_id == capture_form.id and row.reason == "too fast"
    assert row.values == GRACE and row.origin["utm_source"] == "newsletter"
    form = db.session.get(CaptureForm, capture_form.id)
    assert (form.submissions, form.spam_count) == (0, 0)


def test_a_too_fast_submission_missing_a_required_answer_goes_back_to_the_sender(prospect, capture_form):
    response = prospect.post("/f/contact-us", too_fast(capture_form, first_name="Grace"))
    assert response.status_code == 422 and "email" in response.get_data(as_text=True).lower()
    assert held() == []


def test_the_admins_are_told_once_per_form_until_they_read_it(prospect, capture_form, admin, member, make_user):
    other_admin = make_user("admin", name="Otto Admin", email="otto@example.com")
    for n in range(3):
        prospect.post("/f/contact-us", too_fast(capture_form, **{**GRACE, "email": f"g{n}@navy.example"}))

    assert len(held()) == 3
    [notice] = notices(admin)
    assert "Contact us" in notice.message and notice.capture_form_id == capture_form.id and notice.read_at is None
    assert len(notices(other_admin)) == 1
    assert notices(member) == []

    from app.services.notifications import mark_read
    mark_read(admin.id)
    prospect.post("/f/contact-us", too_fast(capture_form, **{**GRACE, "email": "again@navy.example"}))
    assert [n.read_at is None for n in notices(admin)] == [False, True]
    assert len(notices(other_admin)) == 1  # still unread: no second notice


def test_the_notification_links_to_the_held_list(as_admin, prospect, capture_form):
    prospect.post("/f/contact-us", too_fast(capture_form, **GRACE))
    page = as_admin.get("/notifications").get_data(as_text=True)
    # Unread, it opens through the small form that marks it read on the way there.
    assert f'name="next" value="/settings/forms/{capture_form.id}/held"' in page


def test_the_form_counts_its_held_submissions_and_lists_them(as_admin, prospect, capture_form):
    prospect.post("/f/contact-us", too_fast(capture_form, **GRACE))
    prospect.post("/f/contact-us", too_fast(capture_form, **{**GRACE, "email": "ada@navy.example"}))

    editor = as_admin.get(f"/settings/forms/{capture_form.id}").get_data(as_text=True)
    assert "2 held submissions" in editor
    listing = as_admin.get("/settings/forms").get_data(as_text=True)
    assert f'href="/settings/forms/{capture_form.id}/held">2<' in listing
    page = as_admin.get(f"/settings/forms/{capture_form.id}/held").get_data(as_text=True)
    assert "grace@navy.example" in page and "ada@navy.example" in page and "newsletter" in page
    assert held_service.held_count(capture_form.id) == 2
    assert held_service.held_counts() == {capture_form.id: 2}


def test_releasing_captures_it_as_a_normal_submission_from_the_form(as_admin, prospect, capture_form):
    prospect.post("/f/contact-us", too_fast(capture_form, **GRACE))
    [row] = held()

    response = as_admin.post(f"/settings/forms/{capture_form.id}/held/{row.id}/release")

    assert response.status_code == 302
    [lead] = leads()
    assert (lead.email, lead.first_name, lead.source, lead.capture_form_id, lead.utm_source) == \
        ("grace@navy.example", "Grace", "Website", capture_form.id, "newsletter")
    entry = db.session.scalar(select(TimelineEntry).where(TimelineEntry.lead_id == lead.id))
    assert "web form Contact us" in str(entry.data)
    assert held() == []
    assert db.session.get(CaptureForm, capture_form.id).submissions == 1
    assert "Released: Grace Hopper is a new lead." in as_admin.get(
        f"/settings/forms/{capture_form.id}/held").get_data(as_text=True)


def test_discarding_deletes_it_and_makes_no_lead(as_admin, prospect, capture_form):
    prospect.post("/f/contact-us", too_fast(capture_form, **GRACE))
    [row] = held()
    url = f"/settings/forms/{capture_form.id}/held/{row.id}/discard"

    response = as_admin.post(url)

    assert response.status_code == 302
    assert held() == [] and leads() == []
    again = as_admin.post(url)
    assert again.status_code == 404 and "already released or discarded" in again.get_data(as_text=True)


def test_a_held_submission_of_another_form_is_not_found_through_this_one(as_admin, prospect, capture_form):
    other = form_service.create_form(form_service.FormSettings(name="Other", fields={"email": "required"}))
    prospect.post("/f/contact-us", too_fast(capture_form, **GRACE))
    [row] = held()
    assert as_admin.post(f"/settings/forms/{other.id}/held/{row.id}/release").status_code == 404
    assert len(held()) == 1 and leads() == []


def test_members_cannot_see_release_or_discard_held_submissions(as_member, prospect, capture_form):
    prospect.post("/f/contact-us", too_fast(capture_form, **GRACE))
    [row] = held()
    for method, url in [("get", f"/settings/forms/{capture_form.id}/held"),
                        ("post", f"/settings/forms/{capture_form.id}/held/{row.id}/release"),
                        ("post", f"/settings/forms/{capture_form.id}/held/{row.id}/discard")]:
        response = getattr(as_member, method)(url)
        assert response.status_code == 403, url
    assert len(held()) == 1 and leads() == []


def test_release_and_discard_need_a_csrf_token(as_admin, prospect, capture_form):
    prospect.post("/f/contact-us", too_fast(capture_form, **GRACE))
    [row] = held()
    response = as_admin.post(f"/settings/forms/{capture_form.id}/held/{row.id}/release", csrf=False)
    assert response.status_code == 400
    assert len(held()) == 1 and leads() == []


def test_a_flood_of_held_submissions_shows_the_oldest_fifty_and_says_how_many_wait(as_admin, capture_form):
    from datetime import timedelta

    from app.services import utcnow
    start = utcnow() - timedelta(hours=1)
    db.session.add_all([HeldSubmission(form_id=capture_form.id, values={"email": f"bot{n:02d}@example.com"},
                                       origin={}, reason="too fast", created_at=start + timedelta(seconds=n))
                        for n in range(55)])
    db.session.commit()
    page = as_admin.get(f"/settings/forms/{capture_form.id}/held").get_data(as_text=True)
    assert "55 held submissions: the oldest 50 are shown" in page
    assert "bot00@example.com" in page and "bot49@example.com" in page and "bot50@example.com" not in page
