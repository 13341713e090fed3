"""Passwords, sign-in throttling and server-side sessions."""
from __future__ import annotations

import gzip
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import contains_eager

from app.extensions import db
from app.models import KnownSignInAddress, LoginThrottle, User, UserSession
from app.services import ServiceError, atomic, utcnow
from app.services.notifications import unread_query

# OWASP Password Storage Cheat Sheet, Argon2id option 1: m=19 MiB, t=2, p=1.
hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256
# A hash of a random password, verified against when the email is unknown, so timing tells nothing.
DUMMY_HASH = hasher.hash(secrets.token_urlsafe(16))


class WeakPassword(ServiceError):
    status = 422

    def __init__(self, message: str):
        super().__init__(message, field="password")


class InvalidCredentials(ServiceError):
    status = 401

    def __init__(self):
        super().__init__("That email and password do not match an active account.")


class LoginThrottled(ServiceError):
    status = 429

    def __init__(self, retry_after: int):
        unit = "second" if retry_after == 1 else "seconds"
        super().__init__(f"Too many failed sign-ins. Try again in {retry_after} {unit}.")
        self.retry_after = retry_after


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    path = Path(__file__).with_name("common-passwords.txt.gz")
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return frozenset(line.strip().lower() for line in fh if line.strip())


def check_password_strength(password: str, email: str = "") -> None:
    """Raise WeakPassword if the password is short, common, or just the email."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"Use at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"Use at most {MAX_PASSWORD_LENGTH} characters.")
    lowered = password.lower()
    if lowered in _common_passwords() or len(set(lowered)) < 4:
        raise WeakPassword("That password is too common. Try a few unrelated words together.")
    if email and lowered in {email.lower(), email.split("@")[0].lower()}:
        raise WeakPassword("Don't use your email address as your password.")


def hash_password(password: str) -> str:
    return hasher.hash(password)


# --- throttling -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ThrottleRule:
    prefix: str
    free_failures: int  # failures allowed before any delay
    max_delay: int  # seconds
    forget_after: timedelta


# Per source+account: a guesser at one account is slowed hard (the source is the device, for a
# browser holding this account's device cookie, else the address). Per address: a sprayer across
# accounts is slowed hard. Per account from anywhere: capped low, and only for sources the account
# has never signed in from, so a stranger can slow a real user a little but never lock them out.
RULES = (
    ThrottleRule("pair", free_failures=5, max_delay=900, forget_after=timedelta(hours=24)),
    ThrottleRule("ip", free_failures=20, max_delay=900, forget_after=timedelta(hours=1)),
    ThrottleRule("account", free_failures=10, max_delay=30, forget_after=timedelta(hours=1)),
)
KNOWN_ADDRESS_FOR = timedelta(days=180)


@dataclass(frozen=True)
class Source:
    """Where a sign-in comes from: its address, and the device id of a device cookie that this
    browser earned by signing in to this account before (None without one)."""

    ip: str
    device: str | None = None


def _keys(email: str, source: Source, known_address: bool) -> dict[str, str]:
    """The throttle keys that apply to this attempt, by rule."""
    if source.device:  # a known device: its own counter, untouched by anyone else's failures
        return {"pair": f"pair:{email}|device:{source.device}"}
    keys = {"pair": f"pair:{email}|{source.ip}", "ip": f"ip:{source.ip}"}
    if not known_address:
        keys["account"] = f"account:{email}"
    return keys


def _delay(rule: ThrottleRule, failures: int) -> int:
    over = failures - rule.free_failures
    return 0 if over < 0 else min(rule.max_delay, 2**over)


def _retry_after(keys: dict[str, str], now: datetime) -> int:
    """Whole seconds until every applicable delay has passed (what the page and Retry-After say)."""
    rows = {t.key: t for t in db.session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(keys.values())))}
    wait = 0
    for rule in RULES:
        row = rows.get(keys.get(rule.prefix))
        if row is None or now - row.last_failure_at > rule.forget_after:
            continue
        until = row.last_failure_at + timedelta(seconds=_delay(rule, row.failures))
        wait = max(wait, math.ceil((until - now).total_seconds()))
    return wait


def _record_failure(keys: dict[str, str], now: datetime) -> None:
    for rule in RULES:
        if rule.prefix not in keys:
            continue
        row = db.session.get(LoginThrottle, keys[rule.prefix], with_for_update=True)
        if row is None:
            db.session.add(LoginThrottle(key=keys[rule.prefix], failures=1, last_failure_at=now))
        else:
            row.failures = 1 if now - row.last_failure_at > rule.forget_after else row.failures + 1
            row.last_failure_at = now


def _known_address(user: User | None, ip: str, now: datetime) -> bool:
    if user is None:
        return False
    seen = db.session.scalar(select(KnownSignInAddress.last_signed_in_at).where(
        KnownSignInAddress.user_id == user.id, KnownSignInAddress.ip == ip[:64]))
    return seen is not None and now - seen <= KNOWN_ADDRESS_FOR


def _remember_address(user: User, ip: str, now: datetime) -> None:
    known = db.session.get(KnownSignInAddress, (user.id, ip[:64]))
    if known is None:
        db.session.add(KnownSignInAddress(user_id=user.id, ip=ip[:64], last_signed_in_at=now))
    else:
        known.last_signed_in_at = now


# --- sessions ---------------------------------------------------------------------------------


def sign_in(email: str, password: str, ip: str, user_agent: str = "", *, device_of: str | None = None,
            device: str | None = None, lifetime_days: int = 14, now: datetime | None = None) -> UserSession:
    """Check the credentials and open a new server-side session; raises LoginThrottled or InvalidCredentials.

    `device` is the id from this browser's device cookie and `device_of` the email it was issued
    for: a device or an address that signed in to this account before is never held back by the
    failures of others (the per-account delay applies only to unknown sources)."""
    now = now or utcnow()
    email = email.strip().lower()
    source = Source(ip, device if device and device_of == email else None)
    with atomic():
        user = db.session.scalar(select(User).where(User.email == email))
        keys = _keys(email, source, _known_address(user, ip, now))
        wait = _retry_after(keys, now)
        if wait > 0:
            raise LoginThrottled(wait)
        ok = verify_password(user.password_hash if user else DUMMY_HASH, password) and user is not None and user.active
        if not ok:
            _record_failure(keys, now)
    if not ok:
        raise InvalidCredentials()
    with atomic():
        # This source's counters start over; others' (a stranger's) stay theirs.
        db.session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_([keys["pair"], keys.get("account", "")])))
        _remember_address(user, ip, now)
        if hasher.check_needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        session = UserSession(token=secrets.token_urlsafe(32), user=user, created_at=now,
                              expires_at=now + timedelta(days=lifetime_days), ip=ip[:64],
                              user_agent=(user_agent or "")[:255])
        db.session.add(session)
    return session


def verify_password(password_hash: str, password: str) -> bool:
    """Whether the password matches the stored hash (False for a hash that is not one)."""
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _live_session(token: str, now: datetime | None):
    return (select(UserSession).join(UserSession.user).options(contains_eager(UserSession.user))
            .where(UserSession.token == token, UserSession.expires_at > (now or utcnow()), User.active.is_(True)))


def load_session(token: str, now: datetime | None = None) -> UserSession | None:
    """The live session for this cookie token, or None if it ended, expired or its user was deactivated."""
    return db.session.scalar(_live_session(token, now))


def load_session_with_unread(token: str, now: datetime | None = None) -> tuple[UserSession, int] | None:
    """load_session, and its user's unread notifications (what a full page's layout shows) counted in
    the same query: a signed-in page costs one query before its own."""
    row = db.session.execute(_live_session(token, now).add_columns(
        unread_query(UserSession.user_id).scalar_subquery())).first()
    return (row[0], row[1]) if row else None


def sign_out(token: str) -> None:
    """End one session."""
    with atomic():
        db.session.execute(delete(UserSession).where(UserSession.token == token))


def end_all_sessions(user_id: int) -> None:
    """End every session of one user (must run inside the caller's atomic())."""
    db.session.execute(delete(UserSession).where(UserSession.user_id == user_id))
