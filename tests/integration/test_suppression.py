"""Unsubscribing and the suppression list: the signed link (a GET changes nothing, the button and the
RFC 8058 one-click POST unsubscribe, with no session and no CSRF token), the emails the list stops
and the ones it lets through, the List-Unsubscribe headers, and the admin page."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import OutboxEmail, SuppressedAddress, TimelineEntry
from app.services import atomic, outbox, suppression, utcnow
from app.services.appointments import book_appointment
from app.services.merge import merge_leads


def queue(to: str, kind: str = "lead_email", lead_id: int | None = None, **extra) -> OutboxEmail:
    with atomic():
        return outbox.queue_email(kind=kind, to_address=to, subject=f"A {kind}", text_body="Hello",
                                  html_body="<p>Hello</p>", lead_id=lead_id, **extra)


def kinds(lead_id: int) -> list[str]:
    return list(db.session.scalars(select(TimelineEntry.kind).where(TimelineEntry.lead_id == lead_id)
                                   .order_by(TimelineEntry.id)))


def entries() -> list[SuppressedAddress]:
    db.session.expire_all()
    return list(db.session.scalars(select(SuppressedAddress).order_by(SuppressedAddress.id)))


def path_of(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url.strip("<>"))


def tamper(token: str) -> str:
    body, _, signature = token.rpartition(".")
    return f"{body}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"


@pytest.fixture
def lena(make_lead, member):
    return make_lead(first_name="Lena", last_name="Lindqvist", email="lena@example.com", owner=member)


@pytest.fixture
def link(lena):
    return path_of(suppression.unsubscribe_headers(lena.email, lena.id)["List-Unsubscribe"])


# --- the link ---------------------------------------------------------------------------------


def test_the_one_click_post_with_no_cookies_and_no_csrf_token_unsubscribes_and_says_so(app, lena, link):
    client = app.test_client()  # a mail client: no session, no page fetched first
    response = client.post(link, data="List-Unsubscribe=One-Click",
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200 and "set-cookie" not in {k.lower() for k in response.headers.keys()}
    [entry] = entries()
    assert (entry.address, entry.reason, entry.lead_id, entry.removed_at) == ("lena@example.com", "unsubscribed",
                                                                              lena.id, None)
    assert kinds(lena.id)[-1] == "unsubscribed"
    # Pressing again (a client retrying) changes nothing.
    assert client.post(link, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert len(entries()) == 1 and kinds(lena.id).count("unsubscribed") == 1


def test_opening_the_link_changes_nothing_and_the_pages_button_unsubscribes(app, lena, link):
    client = app.test_client()
    for method in ("get", "head", "get", "options"):
        assert getattr(client, method)(link).status_code in (200, 204)
    page = client.get(link)
    text = page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store" and "noindex" in page.headers["X-Robots-Tag"]
    assert ">Unsubscribe</button>" in text and "l…@example.com" in text and "lena@example.com" not in text
    assert entries() == [] and "unsubscribed" not in kinds(lena.id)

    pressed = client.post(link, data={})
    assert pressed.status_code == 303 and pressed.headers["Location"].endswith(link)
    assert [e.address for e in entries()] == ["lena@example.com"]
    assert "You're unsubscribed" in client.get(link).get_data(as_text=True)


def test_a_tampered_cut_or_expired_link_is_a_plain_4xx_page_and_changes_nothing(app, lena):
    token = suppression.link_token(lena.email, lena.id)
    old = suppression.link_token(lena.email, lena.id, now=utcnow() - suppression.LINK_LIFETIME - timedelta(minutes=1))
    from app.services.appointment_emails import link_serializer
    appointment_salt = link_serializer().dumps(["lena@example.com", lena.id, 4102444800])  # another link's token
    cases = {tamper(token): (404, "not valid"), token[:20]: (404, "not valid"), "not-a-token": (404, "not valid"),
             appointment_salt: (404, "not valid"), "x" * 10_000: (404, "not valid"), old: (410, "too old")}
    client = app.test_client()
    for bad, (status, words) in cases.items():
        for response in (client.get(f"/unsubscribe/{bad}"),
                         client.post(f"/unsubscribe/{bad}", data={"List-Unsubscribe": "One-Click"}),
                         client.post(f"/unsubscribe/{bad}", data={})):
            body = response.get_data(as_text=True)
            assert response.status_code == status and words in body, bad
            assert "This link doesn't work" in body and "Traceback" not in body
    assert entries() == []
    with pytest.raises(suppression.UnsubscribeLinkExpired):
        suppression.read_token(token, now=utcnow() + suppression.LINK_LIFETIME + timedelta(seconds=1))
    assert suppression.read_token(token, now=utcnow() + suppression.LINK_LIFETIME - timedelta(minutes=1)).lead_id == lena.id


def test_a_nul_byte_or_a_huge_body_in_the_post_is_refused_and_changes_nothing(app, lena, link):
    client = app.test_client()
    nul = client.post(link, data={"List-Unsubscribe": "One-Click\x00"})
    assert nul.status_code == 400 and "NUL character" in nul.get_data(as_text=True)
    huge = client.post(link, data={"List-Unsubscribe": "One-Click", "x": "y" * 10_000})
    assert huge.status_code == 413
    assert entries() == []


def test_the_unsubscribe_link_is_rate_limited_per_address(make_app, stages, make_lead):
    limited = make_app(RATELIMIT_ENABLED=True)
    with limited.app_context():
        lead = make_lead(first_name="Rita", email="rita@example.com")
        path = path_of(suppression.unsubscribe_url(lead.email, lead.id))
        client = limited.test_client()
        answers = [client.get(path).status_code for _ in range(60)]
        refused = client.post(path, data={"List-Unsubscribe": "One-Click"})
        assert answers == [200] * 60 and refused.status_code == 429
        assert "Too many requests came from your network" in refused.get_data(as_text=True)
        assert entries() == []  # the refused press did nothing
        other = client.post(path, data={"List-Unsubscribe": "One-Click"}, environ_base={"REMOTE_ADDR": "203.0.113.9"})
        assert other.status_code == 200 and [e.address for e in entries()] == ["rita@example.com"]


# --- what the list stops, and what it lets through ----------------------------------------------


@pytest.fixture
def smtp_app(app, smtp_server):
    app.config["SMTP_URL"] = smtp_server.url
    return app


def test_a_suppressed_address_gets_no_email_but_still_gets_the_appointment_it_booked(smtp_app, smtp_server, member,
                                                                                    lena):
    suppression.suppress(lena.email, "unsubscribed", lena.id)
    held = queue("LENA@example.com", lead_id=lena.id)
    assert (held.state, held.last_error) == ("suppressed", "suppressed: address unsubscribed")
    assert kinds(lena.id)[-1] == "email_suppressed"
    starts = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=2)
    book_appointment(lena.id, member.id, starts_at=starts, duration_minutes=30)
    invite = db.session.scalars(select(OutboxEmail).where(OutboxEmail.kind == "appointment_invite")).one()
    assert invite.state == "queued"

    assert outbox.deliver(held.id).outcome == "skipped"
    assert outbox.deliver(invite.id).outcome == "sent"
    received = smtp_server.wait_for(1)
    assert len(received) == 1 and received[0]["Subject"].startswith("Please confirm")
    db.session.refresh(held)
    assert held.state == "suppressed" and held.sent_at is None and held.attempts == 0
    assert "email_suppressed" in kinds(lena.id)  # on the timeline, not lost silently


def test_the_teams_notices_to_a_suppressed_user_still_go(app, member):
    suppression.suppress(member.email, "admin")
    assert queue(member.email, kind="owner_notice").state == "queued"
    assert queue(member.email, kind="appointment_reminder").state == "queued"
    assert queue(member.email, kind="nurture").state == "suppressed"


def test_unsubscribing_withholds_the_emails_still_waiting_but_not_appointment_ones(app, lena, link):
    waiting = queue(lena.email, lead_id=lena.id)
    reminder = queue(lena.email, kind="appointment_reminder", lead_id=lena.id)
    elsewhere = queue("someone@example.com")
    app.test_client().post(link, data={"List-Unsubscribe": "One-Click"})
    db.session.expire_all()
    states = {row.id: row.state for row in db.session.scalars(select(OutboxEmail))}
    assert states == {waiting.id: "suppressed", reminder.id: "queued", elsewhere.id: "queued"}
    assert kinds(lena.id)[-2:] == ["email_suppressed", "unsubscribed"]
    assert outbox.deliver(waiting.id).outcome == "skipped"


def test_the_list_unsubscribe_headers_arrive_on_one_line_and_their_link_works(smtp_app, smtp_server, lena):
    headers = suppression.unsubscribe_headers(lena.email, lena.id)
    row = queue(lena.email, lead_id=lena.id, headers=headers)
    assert outbox.deliver(row.id).outcome == "sent"
    [message] = smtp_server.wait_for(1)
    url = str(message["List-Unsubscribe"])
    assert url == headers["List-Unsubscribe"] and url.startswith("<http://127.0.0.1:5000/unsubscribe/")
    assert str(message["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    smtp_app.test_client().post(path_of(url), data={"List-Unsubscribe": "One-Click"})
    assert suppression.is_suppressed("Lena@Example.com")


def test_suppressed_among_answers_a_batch_in_a_few_reads(app, count_queries):
    for n in range(3):
        suppression.suppress(f"gone{n}@example.com", "bounced")
    asked = [f"person{n}@example.com" for n in range(1200)] + ["GONE1@example.com", "gone2@example.com", ""]
    with count_queries() as counted:
        found = suppression.suppressed_among(asked)
    # Three batches of addresses, and the installation's key for erased addresses (once).
    assert found == {"GONE1@example.com", "gone2@example.com"} and counted.count <= 4


def test_a_lifted_address_is_emailed_again_and_its_history_is_kept(app, admin, lena):
    suppression.suppress(lena.email, "unsubscribed", lena.id)
    lifted = suppression.lift("lena@example.com", admin.id, "She asked to hear from us again")
    assert (lifted.removed_by_id, lifted.removed_reason) == (admin.id, "She asked to hear from us again")
    assert not suppression.is_suppressed(lena.email) and queue(lena.email).state == "queued"
    assert kinds(lena.id)[-1] == "suppression_lifted"
    suppression.suppress(lena.email, "bounced", lena.id)
    assert [(e.reason, e.removed_at is None) for e in entries()] == [("unsubscribed", False), ("bounced", True)]
    with pytest.raises(suppression.NotSuppressed):
        suppression.lift("nobody@example.com", admin.id, "Why not")


def test_a_lead_that_unsubscribed_can_still_be_merged_and_unmerged(app, admin, make_lead, lena, link):
    twin = make_lead(first_name="Lena", last_name="Lindqvist", email="lena.l@example.com")
    app.test_client().post(link, data={"List-Unsubscribe": "One-Click"})
    merged = merge_leads(twin.id, lena.id, {}, admin.id)
    assert entries()[0].lead_id == twin.id
    from app.services.merge import undo_merge
    undo_merge(merged.id, admin.id)
    assert entries()[0].lead_id == lena.id


# --- the admin page ---------------------------------------------------------------------------


def test_an_admin_adds_finds_and_removes_an_address_with_the_reason_on_record(as_admin, admin, lena, link):
    as_admin.client.post(link, data={"List-Unsubscribe": "One-Click"})
    added = as_admin.post("/settings/suppression", data={"address": "  Spam.Trap@Example.COM "})
    assert added.status_code == 302
    page = as_admin.get("/settings/suppression").get_data(as_text=True)
    assert page.index("spam.trap@example.com") < page.index("lena@example.com")  # newest first
    assert "Added by an admin (Ada Admin)" in page and ">Lena Lindqvist</a>" in page
    found = as_admin.get("/settings/suppression?q=LENA", htmx=True).get_data(as_text=True)
    assert "lena@example.com" in found and "spam.trap" not in found and "<html" not in found

    entry = next(e for e in entries() if e.address == "lena@example.com")
    form = as_admin.get(f"/settings/suppression/{entry.id}/remove").get_data(as_text=True)
    assert "asked for no more emails" in form
    removed = as_admin.post(f"/settings/suppression/{entry.id}/remove", data={"reason": "Asked us on the phone"})
    assert removed.status_code == 302
    db.session.refresh(entry)
    assert (entry.removed_by_id, entry.removed_reason) == (admin.id, "Asked us on the phone")
    assert not suppression.is_suppressed("lena@example.com")
    page = as_admin.get("/settings/suppression").get_data(as_text=True)
    assert "Removed by Ada Admin" in page and "Asked us on the phone" in page
    again = as_admin.post(f"/settings/suppression/{entry.id}/remove", data={"reason": "Twice"})
    assert again.status_code == 409 and "Already removed by Ada Admin" in again.get_data(as_text=True)
    db.session.refresh(entry)
    assert entry.removed_reason == "Asked us on the phone"


@pytest.mark.parametrize("address, message", [
    ("", "Enter an email address."),
    ("not an address", "Enter a valid email address."),
    ("a" * 10_000 + "@example.com", "Field cannot be longer than 254 characters."),
])
def test_a_bad_address_is_refused_beside_the_field(as_admin, address, message):
    response = as_admin.post("/settings/suppression", data={"address": address})
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and message in body and 'aria-invalid="true"' in body
    assert entries() == []


def test_an_address_already_on_the_list_or_with_a_nul_byte_is_refused(as_admin):
    suppression.suppress("kept@example.com", "bounced")
    twice = as_admin.post("/settings/suppression", data={"address": "KEPT@example.com"})
    assert twice.status_code == 422 and "already on the suppression list" in twice.get_data(as_text=True)
    nul = as_admin.post("/settings/suppression", data={"address": "x\x00@example.com"})
    assert nul.status_code == 400 and "NUL character" in nul.get_data(as_text=True)
    assert [e.address for e in entries()] == ["kept@example.com"]


@pytest.mark.parametrize("reason, message", [
    ("", "Say why the address may be emailed again"),
    ("   ", "Say why the address may be emailed again"),
    ("x" * 10_000, "Keep the reason under 500 characters."),
])
def test_removing_needs_a_reason_of_sensible_length(as_admin, reason, message):
    entry, _ = suppression.suppress("kept@example.com", "bounced")
    response = as_admin.post(f"/settings/suppression/{entry.id}/remove", data={"reason": reason})
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert suppression.is_suppressed("kept@example.com")


def test_the_list_pages_by_keyset_and_a_bad_cursor_gives_the_first_page(as_admin):
    for n in range(55):
        suppression.suppress(f"p{n:02d}@example.com", "bounced", now=utcnow() + timedelta(seconds=n))
    first = suppression.listing()
    assert len(first.items) == 50 and first.more and first.items[0].address == "p54@example.com"
    rest = suppression.listing(after_id=first.items[-1].id)
    assert [e.address for e in rest.items] == [f"p{n:02d}@example.com" for n in range(4, -1, -1)] and not rest.more
    page = as_admin.get(f"/settings/suppression?after={first.items[-1].id}").get_data(as_text=True)
    assert "p04@example.com" in page and "p54@example.com" not in page
    for junk in ("nonsense", "99999999999999999999", "-1"):
        assert "p54@example.com" in as_admin.get(f"/settings/suppression?after={junk}").get_data(as_text=True)
    searched = suppression.listing("p1")
    assert [e.address for e in searched.items] == [f"p1{n}@example.com" for n in range(10)]
    huge = as_admin.get("/settings/suppression?q=" + "x" * 10_000)
    assert huge.status_code == 200 and "starts with" in huge.get_data(as_text=True)
    for edge in ("p\ud7ff", "p\U0010ffff", "%", "_"):  # no LIKE, and never a lone surrogate sent
        assert suppression.listing(edge).items == []


def test_members_cannot_see_or_change_the_list(as_member):
    suppression.suppress("kept@example.com", "bounced")
    assert as_member.get("/settings/suppression").status_code == 403
    assert as_member.post("/settings/suppression", data={"address": "x@example.com"}).status_code == 403
    assert [e.address for e in entries()] == ["kept@example.com"]


def test_the_outbox_shows_a_suppressed_email_and_why(as_admin, lena):
    suppression.suppress(lena.email, "unsubscribed", lena.id)
    row = queue(lena.email, lead_id=lena.id)
    listing = as_admin.get("/outbox?state=suppressed").get_data(as_text=True)
    assert "Suppressed (1)" in listing and "suppressed: address unsubscribed" in listing
    shown = as_admin.get(f"/outbox/{row.id}").get_data(as_text=True)
    assert "Not sent: suppressed: address unsubscribed" in shown
