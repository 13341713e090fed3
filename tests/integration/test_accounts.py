"""Accounts that look after themselves: changing one's password, resetting a forgotten one by an
emailed link, joining from an invitation, deactivating with somewhere for the leads to go, the last
admin kept, and members told what they may not open."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from itsdangerous import URLSafeSerializer
from sqlalchemy import func, select

from app.extensions import db
from app.models import Invitation, Lead, OutboxEmail, TimelineEntry, User, UserSession
from app.services import accounts, utcnow
from tests.conftest import TEST_PASSWORD, Web

NEW_PASSWORD = "amber kettle lighthouse 73"


def sessions_of(user) -> int:
    return db.session.scalar(select(func.count()).select_from(UserSession).where(UserSession.user_id == user.id))


def emails(kind: str) -> list[OutboxEmail]:
    return list(db.session.scalars(select(OutboxEmail).where(OutboxEmail.kind == kind).order_by(OutboxEmail.id)))


def link_in(email: OutboxEmail, path: str) -> str:
    """The path of the link in an email's text (the part after BASE_URL)."""
    url = re.search(rf"https?://\S+(/{path}/\S+)", email.text_body).group(1)
    assert url in email.html_body
    return url


def text(response) -> str:
    return response.get_data(as_text=True)


# --- your own password -------------------------------------------------------------------------------


def test_changing_your_password_needs_the_current_one_and_signs_out_everywhere_else(app, web, member):
    elsewhere = Web(app.test_client())
    elsewhere.login(member)
    web.login(member)
    wrong = web.post("/account/password", {"current_password": "not my password at all", "new_password": NEW_PASSWORD})
    assert wrong.status_code == 422 and 'id="current_password-error"' in text(wrong)
    assert "That is not your current password." in text(wrong) and sessions_of(member) == 2
    weak = web.post("/account/password", {"current_password": TEST_PASSWORD, "new_password": "password1234"})
    assert weak.status_code == 422 and 'id="new_password-error"' in text(weak) and "too common" in text(weak)

    done = web.post("/account/password", {"current_password": TEST_PASSWORD, "new_password": NEW_PASSWORD})
    assert done.status_code == 302 and done.headers["Location"] == "/account"
    assert web.get("/board").status_code == 200  # this browser stays signed in
    assert elsewhere.get("/board").status_code == 302 and sessions_of(member) == 1
    Web(app.test_client()).login(member, NEW_PASSWORD)


def test_two_password_changes_at_once_check_the_second_against_the_password_the_first_set(app, member):
    """Two browsers change the password at once: the one that waited for the row lock must check the
    current password against the hash the first one saved, not the one its session read before."""
    from sqlalchemy import update
    db.session.get(User, member.id)  # loaded before the lock is taken, as the sign-in check loads it
    with db.engine.begin() as other_browser:
        other_browser.execute(update(User).where(User.id == member.id)
                              .values(password_hash=accounts.hash_password(NEW_PASSWORD)))
    with pytest.raises(accounts.WrongPassword):
        accounts.change_password(member.id, TEST_PASSWORD, "another fine passphrase 42", None)
    db.session.expire_all()
    assert accounts.verify_password(db.session.get(User, member.id).password_hash, NEW_PASSWORD)


def test_guessing_the_current_password_at_account_is_rate_limited(make_app, member):
    """A signed-in browser left open must not become a way round the sign-in throttle."""
    limited = Web(make_app(RATELIMIT_ENABLED=True).test_client())
    limited.login(member)
    answers = {limited.post("/account/password", {"current_password": f"guess {n}",
                                                  "new_password": NEW_PASSWORD}).status_code for n in range(12)}
    assert answers == {422, 429}
    refused = limited.post("/account/password", {"current_password": TEST_PASSWORD, "new_password": NEW_PASSWORD})
    assert refused.status_code == 429 and "Too many requests" in text(refused)
    db.session.refresh(member)
    assert accounts.verify_password(member.password_hash, TEST_PASSWORD)


# --- a forgotten password ----------------------------------------------------------------------------


def test_a_reset_link_is_emailed_through_the_outbox_and_works_once(app, web, member):
    signed_in = Web(app.test_client())
    signed_in.login(member)
    page = web.post("/forgot-password", {"email": "  MAX@example.com "})
    assert page.status_code == 200 and "If max@example.com belongs to an account here" in text(page)
    [email] = emails("account_password_reset")
    assert (email.to_address, email.state) == (member.email, "queued")
    link = link_in(email, "reset-password")

    form = web.get(link)
    assert form.status_code == 200 and "Choose a new password" in text(form) and member.email in text(form)
    assert web.post(link, {"password": "short"}).status_code == 422
    done = web.post(link, {"password": NEW_PASSWORD})
    assert done.status_code == 302 and done.headers["Location"] == "/login"
    assert sessions_of(member) == 0  # every sign-in ended with the old password
    Web(app.test_client()).login(member, NEW_PASSWORD)

    for method in ("get", "post"):
        used = getattr(web, method)(link, **({"data": {"password": "another fine password 9"}} if method == "post" else {}))
        assert used.status_code == 410 and "already used" in text(used) and "<form" not in text(used)
    Web(app.test_client()).login(member, NEW_PASSWORD)  # the second post changed nothing


def test_an_unknown_address_gets_the_same_answer_and_the_same_work(web, member, monkeypatch):
    signed = []
    original = URLSafeSerializer.dumps
    monkeypatch.setattr(URLSafeSerializer, "dumps", lambda self, obj, *a, **k: signed.append(obj) or original(self, obj, *a, **k))
    known = text(web.post("/forgot-password", {"email": member.email}))
    unknown = text(web.post("/forgot-password", {"email": "nobody@example.com"}))
    assert known.replace(member.email, "ADDRESS") == unknown.replace("nobody@example.com", "ADDRESS")
    # One token signed on each path (the unknown one for nobody), over a digest of a real Argon2 hash.
    assert [len(payload) for payload in signed] == [3, 3] and signed[1][0] == 0
    assert len(signed[0][1]) == len(signed[1][1])
    assert [e.to_address for e in emails("account_password_reset")] == [member.email]


def test_expired_and_tampered_reset_links_get_a_plain_page_saying_what_to_do(web, member):
    accounts.request_password_reset(member.email, now=utcnow() - timedelta(minutes=61))
    link = link_in(emails("account_password_reset")[0], "reset-password")
    expired = web.get(link)
    assert expired.status_code == 410 and "expired" in text(expired) and "Ask for a new one" in text(expired)
    tampered = web.post(link[:-3] + "xyz", {"password": NEW_PASSWORD})
    assert tampered.status_code == 400 and "not valid" in text(tampered)
    db.session.refresh(member)
    assert accounts.verify_password(member.password_hash, TEST_PASSWORD)


def test_reset_requests_are_rate_limited_per_address_asked_about(make_app, member):
    limited = Web(make_app(RATELIMIT_ENABLED=True).test_client())
    answers = [limited.post("/forgot-password", {"email": "nobody@example.com"}).status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    assert limited.post("/forgot-password", {"email": member.email}).status_code == 200


# --- invitations -------------------------------------------------------------------------------------


def test_an_invited_teammate_sets_their_own_name_and_password_from_the_emailed_link(app, as_admin, web, admin):
    sent = as_admin.post("/settings/invitations", {"email": "New.Person@Example.com", "name": "", "role": "admin"})
    assert sent.status_code == 302
    [invitation] = db.session.scalars(select(Invitation)).all()
    assert (invitation.email, invitation.role, invitation.invited_by_id) == ("new.person@example.com", "admin", admin.id)
    assert "new.person@example.com" in text(as_admin.get("/settings/users"))
    [email] = emails("account_invitation")
    assert email.to_address == "new.person@example.com" and "Ada Admin invited you" in email.subject
    link = link_in(email, "invitations")

    guest = Web(app.test_client())
    assert "Join the team" in text(guest.get(link))
    refused = guest.post(link, {"name": "Nia New", "password": "short"})
    assert refused.status_code == 422 and "at least 12" in text(refused)
    joined = guest.post(link, {"name": "Nia New", "password": NEW_PASSWORD})
    assert joined.status_code == 302 and joined.headers["Location"] == "/login"
    user = db.session.scalars(select(User).where(User.email == "new.person@example.com")).one()
    assert (user.name, user.role, user.active) == ("Nia New", "admin", True)
    db.session.refresh(invitation)
    assert invitation.accepted_at is not None
    Web(app.test_client()).login(user, NEW_PASSWORD)
    again = guest.get(link)
    assert again.status_code == 410 and "already accepted" in text(again)
    assert "new.person@example.com" not in text(as_admin.get("/settings/users")).split("Invitations waiting")[1]


def test_the_name_chosen_on_an_invitation_is_one_line_like_the_name_the_admin_typed(app, as_admin):
    """A name is shown in lists and written into email subjects and signatures: line breaks and
    tabs typed (or pasted) on the invitation page are folded into single spaces, as at invite time."""
    as_admin.post("/settings/invitations", {"email": "eve@example.com", "role": "admin", "name": "Eve\r\nX"})
    assert db.session.scalars(select(Invitation)).one().name == "Eve X"
    link = link_in(emails("account_invitation")[0], "invitations")
    joined = Web(app.test_client()).post(link, {"name": "  Eve\r\nBcc: victim@example.com\t\tEvans ",
                                                "password": NEW_PASSWORD})
    assert joined.status_code == 302
    user = db.session.scalars(select(User).where(User.email == "eve@example.com")).one()
    assert user.name == "Eve Bcc: victim@example.com Evans"


def test_a_resent_invitation_retires_the_old_link_and_a_revoked_one_says_so(app, as_admin):
    as_admin.post("/settings/invitations", {"email": "kim@example.com", "role": "member"})
    invitation = db.session.scalars(select(Invitation)).one()
    first = link_in(emails("account_invitation")[0], "invitations")
    assert as_admin.post(f"/settings/invitations/{invitation.id}/resend").status_code == 302
    second = link_in(emails("account_invitation")[1], "invitations")
    guest = Web(app.test_client())
    old = guest.get(first)
    assert old.status_code == 410 and "newer invitation" in text(old)
    assert guest.get(second).status_code == 200
    assert as_admin.post(f"/settings/invitations/{invitation.id}/revoke").status_code == 302
    revoked = guest.post(second, {"name": "Kim", "password": NEW_PASSWORD})
    assert revoked.status_code == 410 and "withdrawn" in text(revoked)
    assert db.session.scalar(select(func.count()).select_from(User).where(User.email == "kim@example.com")) == 0
    assert as_admin.post(f"/settings/invitations/{invitation.id}/resend").status_code == 409
    assert "No invitations are waiting" in text(as_admin.get("/settings/users"))


def test_inviting_a_teammate_or_a_pending_address_again_is_refused_beside_the_field(as_admin, member):
    taken = as_admin.post("/settings/invitations", {"email": member.email, "role": "member"}, htmx=True)
    assert taken.status_code == 422 and "already uses that email" in text(taken) and "<html" not in text(taken)
    as_admin.post("/settings/invitations", {"email": "kim@example.com", "role": "member"})
    twice = as_admin.post("/settings/invitations", {"email": "KIM@example.com", "role": "member"}, htmx=True)
    assert twice.status_code == 422 and 'id="email-error"' in text(twice) and "already has an invitation" in text(twice)
    bad = as_admin.post("/settings/invitations", {"email": "kim", "role": "owner"}, htmx=True)
    assert bad.status_code == 422 and "valid email" in text(bad) and "Not a valid choice" in text(bad)
    assert len(emails("account_invitation")) == 1
    # An address pasted with a space around it is the address, not "not a valid email address".
    pasted = as_admin.post("/settings/invitations", {"email": f" {member.email.upper()} ", "role": "member"}, htmx=True)
    assert pasted.status_code == 422 and "already uses that email" in text(pasted)
    assert as_admin.post("/settings/invitations", {"email": " lee@example.com\t", "role": "member"}).status_code == 302
    assert emails("account_invitation")[-1].to_address == "lee@example.com"


def test_an_expired_or_tampered_invitation_link_gets_a_plain_page(app, admin):
    accounts.invite("late@example.com", "member", "", admin.id, now=utcnow() - timedelta(days=8))
    link = link_in(emails("account_invitation")[0], "invitations")
    guest = Web(app.test_client())
    guest.login(admin)
    assert "Expired: resend it" in text(guest.get("/settings/users"))
    expired = guest.get(link)
    assert expired.status_code == 410 and "expired" in text(expired) and "send it again" in text(expired)
    tampered = guest.get(link.replace("invitations/", "invitations/x"))
    assert tampered.status_code == 400 and "not valid" in text(tampered)


# --- deactivating, and the last admin ------------------------------------------------------------------


def test_deactivating_asks_first_and_hands_open_leads_to_the_chosen_teammate(app, as_admin, admin, member,
                                                                             make_user, make_lead):
    mate = make_user(name="Mia Mate")
    open_leads = [make_lead(owner=member), make_lead(stage="Contacted", owner=member)]
    won = make_lead(stage="Won", owner=member)
    page = as_admin.get(f"/settings/users/{member.id}/deactivate")
    assert "Deactivate Max Member?" in text(page) and "2 open leads are theirs" in text(page)
    assert "Mia Mate" in text(page) and 'value="pool"' in text(page)
    assert db.session.get(User, member.id).active  # asking changed nothing

    self_target = as_admin.post(f"/settings/users/{member.id}/deactivate", {"leads_to": str(member.id)})
    assert self_target.status_code == 422 and 'id="leads_to-error"' in text(self_target)
    for nobody in ("999999999999", "lots"):
        refused = as_admin.post(f"/settings/users/{mate.id}/deactivate", {"leads_to": nobody})
        assert refused.status_code == 422 and "choose an active one" in text(refused)
    assert db.session.get(User, member.id).active and db.session.get(User, mate.id).active

    done = as_admin.post(f"/settings/users/{member.id}/deactivate", {"leads_to": str(mate.id)})
    assert done.status_code == 302
    assert not db.session.get(User, member.id).active and sessions_of(member) == 0
    assert [db.session.get(Lead, lead.id).owner_id for lead in open_leads] == [mate.id, mate.id]
    assert db.session.get(Lead, won.id).owner_id == member.id
    entries = db.session.scalars(select(TimelineEntry).where(TimelineEntry.kind == "assigned")).all()
    assert sorted((e.lead_id, e.data["from"], e.data["to"]) for e in entries) == sorted(
        (lead.id, "Max Member", "Mia Mate") for lead in open_leads)


def test_the_last_admin_is_refused_beside_the_control_not_on_an_error_page(as_admin, admin):
    swapped = as_admin.post(f"/settings/users/{admin.id}/role", {"role": "member"}, htmx=True)
    body = text(swapped)
    assert swapped.status_code == 422 and "<html" not in body and body.lstrip().startswith(f'<form id="role-form-{admin.id}"')
    assert f'id="role-{admin.id}-error"' in body and "at least one active admin" in body
    plain = as_admin.post(f"/settings/users/{admin.id}/role", {"role": "member"})
    assert plain.status_code == 422 and f'id="role-{admin.id}-error"' in text(plain) and "That didn" not in text(plain)
    leaving = as_admin.post(f"/settings/users/{admin.id}/deactivate", {"leads_to": "pool"})
    assert leaving.status_code == 422 and "at least one active admin" in text(leaving)
    assert "Deactivate Ada Admin?" in text(leaving)
    db.session.refresh(admin)
    assert admin.is_admin and admin.active


def test_a_member_is_told_what_they_tried_to_open(as_member):
    outbox = as_member.get("/outbox")
    assert outbox.status_code == 403 and "The outbox is for admins" in text(outbox)
    team = as_member.get("/settings/users")
    assert team.status_code == 403 and "Team accounts and invitations are for admins" in text(team)


@pytest.mark.parametrize("ending", ["demoted", "deactivated"])
def test_an_admin_who_is_one_no_longer_leaves_no_invitation_open(app, admin, ending):
    from app.services import users
    other = users.create_user("second.admin@example.com", NEW_PASSWORD, "admin", "Sam Second")
    accounts.invite("kim@example.com", "admin", "Kim", other.id)
    accounts.invite("lee@example.com", "member", "Lee", admin.id)  # someone else's stays open
    kim, lee = (link_in(email, "invitations") for email in emails("account_invitation"))
    if ending == "demoted":
        users.change_role(other.id, "member", admin.id)
    else:
        users.set_active(other.id, False, admin.id)
    guest = Web(app.test_client())
    withdrawn = guest.post(kim, {"name": "Kim", "password": NEW_PASSWORD})
    assert withdrawn.status_code == 410 and "withdrawn" in text(withdrawn)
    assert db.session.scalar(select(func.count()).select_from(User).where(User.email == "kim@example.com")) == 0
    assert guest.get(lee).status_code == 200
