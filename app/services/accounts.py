"""A person's own account: changing their password, resetting a forgotten one by an emailed link,
and joining the team from an admin's emailed invitation.

Every link is a signed token (its own salt, so one kind is never read as another) carrying when it
expires. A reset link also carries a digest of the password hash it was made for, so it dies as soon
as the password changes, by this link or any other way: single use with nothing stored. An
invitation link carries the invitation's version, so resending it retires the older links."""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

from flask import current_app
from itsdangerous import BadSignature
from sqlalchemy import delete, select
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import Invitation, Role, User, UserSession
from app.services import audit
from app.services import Conflict, NotFound, ServiceError, atomic, taken_as, utcnow
from app.services.auth import DUMMY_HASH, check_password_strength, hash_password, verify_password
from app.services.team_settings import identity

RESET_SALT = "password-reset"
RESET_LIFETIME = timedelta(hours=1)
INVITATION_SALT = "team-invitation"
INVITATION_LIFETIME = timedelta(days=7)
RESET_KIND = "account_password_reset"  # "account_": exempt from the suppression list, sent first
INVITATION_KIND = "account_invitation"
PENDING_SHOWN = 200  # the users page lists at most this many pending invitations


class WrongPassword(ServiceError):
    status = 422

    def __init__(self):
        super().__init__("That is not your current password.", field="current_password")


class LinkRefused(ServiceError):
    """An emailed link that no longer works; the message says what to do instead."""


class ResetLinkInvalid(LinkRefused):
    status = 400

    def __init__(self):
        super().__init__("This reset link is not valid: it may have been cut short or changed. "
                         "Ask for a new one from the sign-in page.")


class ResetLinkExpired(LinkRefused):
    status = 410

    def __init__(self):
        super().__init__("This reset link has expired (they last an hour). Ask for a new one from the sign-in page.")


class ResetLinkUsed(LinkRefused):
    status = 410

    def __init__(self):
        super().__init__("This reset link was already used, or the password changed since it was sent. "
                         "Sign in with your current password, or ask for a new link from the sign-in page.")


class InvitationInvalid(LinkRefused):
    status = 400

    def __init__(self):
        super().__init__("This invitation link is not valid: it may have been cut short or changed. "
                         "Ask the admin who invited you to send it again.")


class InvitationEnded(LinkRefused):
    status = 410


class InvitationPending(Conflict):
    def __init__(self):
        super().__init__("That address already has an invitation waiting. Resend it from the list instead.",
                         field="email")


class InvitationNotPending(Conflict):
    def __init__(self):
        super().__init__("That invitation was already accepted or revoked.")


# --- tokens -----------------------------------------------------------------------------------------


def _serializer(salt: str):
    from app.services.appointment_emails import link_serializer
    return link_serializer(salt)


def _expires(now: datetime, lifetime: timedelta) -> int:
    return int((now + lifetime).replace(tzinfo=timezone.utc).timestamp())


def _expired(expires: int, now: datetime) -> bool:
    return now.replace(tzinfo=timezone.utc).timestamp() >= expires


def _hash_digest(password_hash: str) -> str:
    """What a reset link remembers of the password it was made for (a new hash has a new salt)."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:22]


def _load(salt: str, token: str, invalid: type[LinkRefused]) -> list:
    try:
        payload = _serializer(salt).loads(token)
    except (BadSignature, ValueError, TypeError, UnicodeError):
        raise invalid() from None
    if not (isinstance(payload, list) and len(payload) == 3 and isinstance(payload[0], int)
            and isinstance(payload[2], int)):
        raise invalid()
    return payload


# --- your own password ---------------------------------------------------------------------------


def change_password(user_id: int, current: str, new: str, keep_session: str | None) -> User:
    """Set a new password after checking the current one, ending every session of the user but
    `keep_session` (this browser's). Raises WrongPassword or WeakPassword (field "new_password")."""
    with atomic():
        # populate_existing: the row as it is once locked, not as this session read it before the
        # lock (a change made meanwhile in another browser is checked against, not overwritten).
        user = db.session.get(User, user_id, with_for_update=True, populate_existing=True)
        if user is None or not user.active:
            raise NotFound("That account does not exist.")
        if not verify_password(user.password_hash, current):
            raise WrongPassword()
        _set_password(user, new, "new_password")
        db.session.execute(delete(UserSession).where(UserSession.user_id == user.id,
                                                     UserSession.token != (keep_session or "")))
    return user


def _set_password(user: User, password: str, field: str) -> None:
    try:
        check_password_strength(password, user.email)
    except ServiceError as exc:
        exc.field = field
        raise
    user.password_hash = hash_password(password)


# --- forgotten passwords --------------------------------------------------------------------------


def request_password_reset(email: str, now: datetime | None = None) -> None:
    """Email a reset link (good for an hour) to the active account with this address, if any. The
    same work is done for an address with no account (a token signed, the email rendered), and the
    caller answers the same either way, so neither the answer nor its timing tells them apart."""
    now = now or utcnow()
    address = (email or "").strip().lower()
    with atomic():
        user = db.session.scalar(select(User).where(User.email == address, User.active.is_(True)))
        token = _serializer(RESET_SALT).dumps(
            [user.id if user else 0, _hash_digest(user.password_hash if user else DUMMY_HASH),
             _expires(now, RESET_LIFETIME)])
        context = {"name": user.name if user else "", "url": _absolute("auth.reset_password", token=token),
                   "login_url": _absolute("auth.forgot_password"), "minutes": int(RESET_LIFETIME.total_seconds() // 60)}
        text_body, html_body = _render("password_reset", context)
        if user is not None:
            from app.services.outbox import queue_email
            queue_email(kind=RESET_KIND, to_address=user.email, to_name=user.name,
                        subject="Reset your Leadboard password", text_body=text_body, html_body=html_body, now=now)
    if user is None:
        _queue_round_trip()


def _queue_round_trip() -> None:
    """The Redis round trip a known address's email makes when its commit enqueues it: an unknown
    address makes one too, so a slow or hanging Redis (seconds of timeout) delays both answers alike."""
    from redis import RedisError

    from app.queue import QueueUnavailable, connection
    try:
        connection().ping()
    except (QueueUnavailable, RedisError):
        pass  # as the enqueue does: the outbox's sweeper sends a known address's email later


def read_reset_link(token: str, now: datetime | None = None) -> User:
    """The account a reset link is for; raises ResetLinkInvalid, ResetLinkExpired or ResetLinkUsed."""
    user_id, digest, expires = _load(RESET_SALT, token, ResetLinkInvalid)
    if _expired(expires, now or utcnow()):
        raise ResetLinkExpired()
    user = db.session.get(User, user_id) if 0 < user_id < 2**31 else None
    if user is None or not user.active or _hash_digest(user.password_hash) != digest:
        raise ResetLinkUsed()
    return user


def reset_password(token: str, password: str, now: datetime | None = None) -> User:
    """Set the password a reset link is for, once: the link dies with the old password, and every
    session of the account ends. Raises what read_reset_link raises, or WeakPassword ("password")."""
    with atomic():
        user = read_reset_link(token, now)
        db.session.refresh(user, with_for_update=True)  # two clicks at once: the second sees the new hash
        if _hash_digest(user.password_hash) != _load(RESET_SALT, token, ResetLinkInvalid)[1]:
            raise ResetLinkUsed()
        _set_password(user, password, "password")
        db.session.execute(delete(UserSession).where(UserSession.user_id == user.id))
    return user


# --- invitations ---------------------------------------------------------------------------------


def invite(email: str, role: str, name: str, actor_id: int, now: datetime | None = None) -> Invitation:
    """Invite someone to the team by email (a link good for a week to set their name and password).
    Raises users.EmailTaken, InvitationPending, or ServiceError("role")."""
    from app.services.users import EmailTaken
    now = now or utcnow()
    address = (email or "").strip().lower()
    if role not in {r.value for r in Role}:
        raise ServiceError("Role must be admin or member.", field="role")
    with taken_as(InvitationPending), atomic():
        if db.session.scalar(select(User.id).where(User.email == address)):
            raise EmailTaken()
        if db.session.scalar(select(Invitation.id).where(Invitation.email == address, *_pending())):
            raise InvitationPending()
        invitation = Invitation(email=address, name=" ".join((name or "").split())[:120], role=role, version=1,
                                invited_by_id=actor_id, created_at=now, sent_at=now)
        db.session.add(invitation)
        db.session.flush()
        audit.record(actor_id, "user.invited", f"{address} as {role}")
        _send_invitation(invitation, now)
    return invitation


def resend_invitation(invitation_id: int, now: datetime | None = None) -> Invitation:
    """Send a pending invitation again with a fresh week; its earlier links stop working.
    Raises NotFound or InvitationNotPending."""
    now = now or utcnow()
    with atomic():
        invitation = _get_pending(invitation_id)
        invitation.version += 1
        invitation.sent_at = now
        _send_invitation(invitation, now)
    return invitation


def revoke_invitation(invitation_id: int, now: datetime | None = None, actor_id: int | None = None) -> Invitation:
    """Withdraw a pending invitation: its link shows a page saying so. Raises NotFound or InvitationNotPending."""
    with atomic():
        invitation = _get_pending(invitation_id)
        invitation.revoked_at = now or utcnow()
        audit.record(actor_id, "user.invitation_revoked", invitation.email)
    return invitation


def pending_invitations() -> list[Invitation]:
    """The invitations still waiting, oldest first (at most PENDING_SHOWN), read through their partial index."""
    return list(db.session.scalars(select(Invitation).options(joinedload(Invitation.invited_by)).where(*_pending())
                                   .order_by(Invitation.sent_at, Invitation.id).limit(PENDING_SHOWN)))


def expired_invitations(invitations: list[Invitation], now: datetime | None = None) -> set[int]:
    """Which of these invitations' links have run out (the admin may resend them)."""
    now = now or utcnow()
    return {i.id for i in invitations if i.sent_at + INVITATION_LIFETIME <= now}


def read_invitation(token: str, now: datetime | None = None) -> Invitation:
    """The pending invitation a link names; raises InvitationInvalid, or InvitationEnded saying why
    (accepted, revoked, replaced by a newer email, expired) and what to do."""
    invitation_id, version, expires = _load(INVITATION_SALT, token, InvitationInvalid)
    invitation = db.session.get(Invitation, invitation_id) if 0 < invitation_id < 2**31 else None
    if invitation is None or not isinstance(version, int):
        raise InvitationInvalid()
    if invitation.accepted_at is not None:
        raise InvitationEnded("This invitation was already accepted. Sign in with the email and password you chose, "
                              "or use “Forgot password” on the sign-in page.")
    if invitation.revoked_at is not None:
        raise InvitationEnded("This invitation was withdrawn. Ask an admin of the team to invite you again.")
    if version != invitation.version:
        raise InvitationEnded("A newer invitation was sent to you since this one. Use the link in the newest email.")
    if _expired(expires, now or utcnow()):
        raise InvitationEnded("This invitation has expired (they last a week). Ask the admin who invited you to "
                              "send it again.")
    return invitation


def accept_invitation(token: str, name: str, password: str, now: datetime | None = None) -> User:
    """Join the team from an invitation link with one's own name and password; the link then ends.
    Raises what read_invitation raises, WeakPassword ("password"), or users.EmailTaken."""
    from app.services.users import create_user
    now = now or utcnow()
    with atomic():
        invitation = read_invitation(token, now)
        db.session.refresh(invitation, with_for_update=True)
        if not invitation.pending:  # accepted or revoked while we read it
            raise InvitationNotPending()
        user = create_user(invitation.email, password, invitation.role, name or invitation.name)
        invitation.accepted_at = now
    return user


def _pending():
    return Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None)


def _get_pending(invitation_id: int) -> Invitation:
    invitation = db.session.get(Invitation, invitation_id, with_for_update=True)
    if invitation is None:
        raise NotFound("That invitation does not exist.")
    if not invitation.pending:
        raise InvitationNotPending()
    return invitation


def _send_invitation(invitation: Invitation, now: datetime) -> None:
    from app.services.outbox import queue_email
    token = _serializer(INVITATION_SALT).dumps([invitation.id, invitation.version, _expires(now, INVITATION_LIFETIME)])
    inviter = invitation.invited_by.name if invitation.invited_by else "An admin"
    from app.services.appointment_emails import logo_url
    team = identity()
    # A team not named yet goes by the server's name, "Leadboard": not "join Leadboard on Leadboard".
    place = team.name if team.name.casefold() == "leadboard" else f"{team.name} on Leadboard"
    context = {"inviter": inviter, "name": invitation.name, "url": _absolute("auth.accept_invitation", token=token),
               "days": INVITATION_LIFETIME.days, "team": team, "logo_url": logo_url(), "place": place}
    text_body, html_body = _render("invitation", context)
    queue_email(kind=INVITATION_KIND, to_address=invitation.email, to_name=invitation.name,
                subject=f"{inviter} invited you to join {place}", text_body=text_body,
                html_body=html_body, now=now)


def _absolute(endpoint: str, **values) -> str:
    from app.services.appointment_emails import absolute_url
    return absolute_url(endpoint, **values)


def _render(name: str, context: dict) -> tuple[str, str]:
    env = current_app.jinja_env
    return (env.get_template(f"email/{name}.txt").render(**context),
            env.get_template(f"email/{name}.html").render(**context))
