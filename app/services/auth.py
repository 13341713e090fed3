"""Passwords, sign-in throttling and server-side sessions."""
from __future__ import annotations

import gzip
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
from app.models import LoginThrottle, User, UserSession
from app.services import ServiceError, atomic, utcnow

# OWASP Password Storage Cheat Sheet, Argon2id option 1: m=19 MiB, t=2, p=1.
hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256
# A hash of a random password, verified against when the email is unknown, so timing tells nothing.
_DUMMY_HASH = hasher.hash(secrets.token_urlsafe(16))


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


# Per address+account: a guesser at one account is slowed hard. Per address: a sprayer across
# accounts is slowed hard. Per account from anywhere: capped low, so a stranger can slow a real
# user down a little but never lock them out.
RULES = (
    ThrottleRule("pair", free_failures=5, max_delay=900, forget_after=timedelta(hours=24)),
    ThrottleRule("ip", free_failures=20, max_delay=900, forget_after=timedelta(hours=1)),
    ThrottleRule("account", free_failures=10, max_delay=30, forget_after=timedelta(hours=1)),
)


def _keys(email: str, ip: str) -> dict[str, str]:
    return {"pair": f"pair:{email}|{ip}", "ip": f"ip:{ip}", "account": f"account:{email}"}


def _delay(rule: ThrottleRule, failures: int) -> int:
    over = failures - rule.free_failures
    return 0 if over < 0 else min(rule.max_delay, 2**over)


def _retry_after(email: str, ip: str, now: datetime) -> int:
    keys = _keys(email, ip)
    rows = {t.key: t for t in db.session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(keys.values())))}
    wait = 0
    for rule in RULES:
        row = rows.get(keys[rule.prefix])
        if row is None or now - row.last_failure_at > rule.forget_after:
            continue
        until = row.last_failure_at + timedelta(seconds=_delay(rule, row.failures))
        wait = max(wait, int((until - now).total_seconds() + 0.999))
    return wait


def _record_failure(email: str, ip: str, now: datetime) -> None:
    keys = _keys(email, ip)
    for rule in RULES:
        row = db.session.get(LoginThrottle, keys[rule.prefix])
        if row is None:
            db.session.add(LoginThrottle(key=keys[rule.prefix], failures=1, last_failure_at=now))
        else:
            row.failures = 1 if now - row.last_failure_at > rule.forget_after else row.failures + 1
            row.last_failure_at = now


# --- sessions ---------------------------------------------------------------------------------


def sign_in(email: str, password: str, ip: str, user_agent: str = "", *, lifetime_days: int = 14,
            now: datetime | None = None) -> UserSession:
    """Check the credentials and open a new server-side session; raises LoginThrottled or InvalidCredentials."""
    now = now or utcnow()
    email = email.strip().lower()
    with atomic():
        wait = _retry_after(email, ip, now)
        if wait > 0:
            raise LoginThrottled(wait)
        user = db.session.scalar(select(User).where(User.email == email))
        ok = _verify(user.password_hash if user else _DUMMY_HASH, password) and user is not None and user.active
        if not ok:
            _record_failure(email, ip, now)
    if not ok:
        raise InvalidCredentials()
    with atomic():
        db.session.execute(delete(LoginThrottle).where(
            LoginThrottle.key.in_([_keys(email, ip)["pair"], _keys(email, ip)["account"]])))
        if hasher.check_needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        session = UserSession(token=secrets.token_urlsafe(32), user=user, created_at=now,
                              expires_at=now + timedelta(days=lifetime_days), ip=ip[:64],
                              user_agent=(user_agent or "")[:255])
        db.session.add(session)
    return session


def _verify(password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def load_session(token: str, now: datetime | None = None) -> UserSession | None:
    """The live session for this cookie token, or None if it ended, expired or its user was deactivated."""
    now = now or utcnow()
    return db.session.scalar(
        select(UserSession).join(UserSession.user).options(contains_eager(UserSession.user))
        .where(UserSession.token == token, UserSession.expires_at > now, User.active.is_(True))
    )


def sign_out(token: str) -> None:
    """End one session."""
    with atomic():
        db.session.execute(delete(UserSession).where(UserSession.token == token))


def end_all_sessions(user_id: int) -> None:
    """End every session of one user (must run inside the caller's atomic())."""
    db.session.execute(delete(UserSession).where(UserSession.user_id == user_id))
