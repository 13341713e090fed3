"""API keys for /api/v1, and the Idempotency-Key records that make a retried create safe.

A key is shown once: only its SHA-256 is stored. The key carries 256 random bits, so a plain
(unsalted) hash is as strong as a password hash would be, and one indexed lookup finds it."""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import ApiKey, IdempotencyRecord, User
from app.services import audit
from app.services import Conflict, NotFound, ServiceError, atomic, utcnow
from app.services.permissions import Actor

KEY_PREFIX = "lb_"
NAME_LIMIT = 120
SECRET_LIMIT = 200  # anything longer is not one of ours; refuse it before hashing
LAST_USED_RESOLUTION = timedelta(minutes=1)  # write last_used_at at most this often per key

IDEMPOTENCY_TTL = timedelta(hours=24)  # how long a first answer is replayed
IDEMPOTENCY_PENDING_TIMEOUT = timedelta(seconds=60)  # a claim older than this was abandoned by a crash


class UnknownApiKey(NotFound):
    def __init__(self):
        super().__init__("That API key does not exist.")


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


ROLES = {"member": "Member: follows what members may do (its own leads are yours)",
         "admin": "Admin: may do everything"}


def create_key(name: str, created_by_id: int | None = None, role: str = "admin",
               read_only: bool = False) -> tuple[ApiKey, str]:
    """A new key and its secret (the only time the secret exists), with a role no higher than its
    creator's and maybe read-only; raises ServiceError for a bad name or role."""
    name = (name or "").strip()
    if not name:
        raise ServiceError("Give the key a name, e.g. the tool or script that will use it.", field="name")
    if len(name) > NAME_LIMIT:
        raise ServiceError(f"Keep the name under {NAME_LIMIT} characters.", field="name")
    if role not in ROLES:
        raise ServiceError("Choose the key's role: member or admin.", field="role")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    with atomic():
        creator = db.session.get(User, created_by_id) if created_by_id is not None else None
        if role == "admin" and creator is not None and not creator.is_admin:
            raise ServiceError("A key's role can be no higher than yours: choose member.", field="role")
        key = ApiKey(name=name, prefix=secret[:12], key_hash=_hash(secret), created_at=utcnow(),
                     created_by_id=created_by_id, role=role, read_only=bool(read_only))
        db.session.add(key)
        audit.record(created_by_id, "api_key.created", f"API key {name}", {"role": role, "read_only": bool(read_only)})
    return key, secret


def actor(key: ApiKey) -> Actor:
    """The key as the permission rules see it: an admin key acts as an admin only while its creator
    still is one (a key is never more than the person who made it); its own leads are its creator's."""
    creator = db.session.get(User, key.created_by_id) if key.created_by_id is not None else None
    admin = key.role == "admin" and (creator is None or (creator.is_admin and creator.active))
    return Actor(id=key.created_by_id, is_admin=admin, read_only=bool(key.read_only))


def revoke_key(key_id: int, now: datetime | None = None, actor_id: int | None = None) -> ApiKey:
    """Stop a key working at once (revoking twice keeps the first time); raises UnknownApiKey."""
    with atomic():
        key = db.session.get(ApiKey, key_id)
        if key is None:
            raise UnknownApiKey()
        if key.revoked_at is None:
            key.revoked_at = now or utcnow()
            audit.record(actor_id, "api_key.revoked", f"API key {key.name}")
    return key


def list_keys() -> list[ApiKey]:
    """Working keys first (newest first), then revoked ones."""
    return list(db.session.scalars(select(ApiKey).order_by(ApiKey.revoked_at.is_not(None), ApiKey.created_at.desc(),
                                                           ApiKey.id.desc())))


def authenticate(secret: str | None, now: datetime | None = None) -> ApiKey | None:
    """The working key with this secret, or None (unknown, malformed or revoked)."""
    if not secret or len(secret) > SECRET_LIMIT or not secret.startswith(KEY_PREFIX):
        return None
    digest = _hash(secret)
    key = db.session.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
    # The lookup is by hash, so timing reveals nothing about the secret; compare anyway, in constant time.
    if key is None or key.revoked_at is not None or not hmac.compare_digest(key.key_hash, digest):
        return None
    now = now or utcnow()
    if key.last_used_at is None or key.last_used_at < now - LAST_USED_RESOLUTION:
        # At most one small write per key per minute, and never a lost request if it races another.
        with atomic():
            db.session.execute(
                update(ApiKey).where(ApiKey.id == key.id, or_(ApiKey.last_used_at.is_(None),
                                                              ApiKey.last_used_at < now - LAST_USED_RESOLUTION))
                .values(last_used_at=now).execution_options(synchronize_session=False))
    return key


# --- Idempotency-Key records ----------------------------------------------------------------------


class IdempotencyKeyReused(ServiceError):
    status = 422

    def __init__(self):
        super().__init__("This Idempotency-Key was already used for a different request (another body "
                         "or another operation). Use a new key for a new request.", field="Idempotency-Key")


class IdempotencyInProgress(Conflict):
    def __init__(self):
        super().__init__("A request with this Idempotency-Key is still being processed. Retry in a moment.",
                         field="Idempotency-Key")


def request_fingerprint(method: str, path: str, body: dict) -> str:
    """What makes two requests the same request: the method, the path and the JSON body (however
    it was spaced or ordered). A key reused on another endpoint then never replays another answer."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(f"{method.upper()} {path}\n{canonical}".encode()).hexdigest()


@dataclass
class Replay:
    """The stored first answer to a request."""

    status_code: int
    body: dict


def claim_idempotency_key(api_key_id: int, key: str, request_hash: str, now: datetime | None = None) -> Replay | int:
    """The first answer to replay, or the id of a fresh claim to complete once the request succeeds.

    Raises IdempotencyKeyReused (same key, other body) and IdempotencyInProgress (a concurrent
    request holds the claim). The unique (api_key_id, key) constraint decides concurrent claims."""
    now = now or utcnow()
    for _ in range(3):
        try:
            with atomic():
                record = db.session.scalar(select(IdempotencyRecord).where(
                    IdempotencyRecord.api_key_id == api_key_id, IdempotencyRecord.key == key))
                if record is not None and record.created_at < now - IDEMPOTENCY_TTL:
                    db.session.delete(record)
                    db.session.flush()
                    record = None
                if record is None:
                    record = IdempotencyRecord(api_key_id=api_key_id, key=key, request_hash=request_hash,
                                               status_code=0, response={}, created_at=now)
                    db.session.add(record)
                    db.session.flush()
                    return record.id
                if not hmac.compare_digest(record.request_hash, request_hash):
                    raise IdempotencyKeyReused()
                if record.status_code:
                    return Replay(record.status_code, record.response)
                if record.created_at >= now - IDEMPOTENCY_PENDING_TIMEOUT:
                    raise IdempotencyInProgress()
                # The request that claimed it died before answering; take the claim over (once).
                taken = db.session.execute(
                    update(IdempotencyRecord).where(IdempotencyRecord.id == record.id,
                                                    IdempotencyRecord.created_at == record.created_at,
                                                    IdempotencyRecord.status_code == 0)
                    .values(created_at=now).execution_options(synchronize_session=False)).rowcount
                if not taken:
                    raise IdempotencyInProgress()
                return record.id
        except IntegrityError:
            continue  # a concurrent request claimed the key first: read its record on the next pass
    raise IdempotencyInProgress()


def complete_idempotency_key(record_id: int, status_code: int, body: dict) -> None:
    """Store the answer a claim produced, for every retry within the next day."""
    with atomic():
        db.session.execute(update(IdempotencyRecord).where(IdempotencyRecord.id == record_id)
                           .values(status_code=status_code, response=body)
                           .execution_options(synchronize_session=False))


def release_idempotency_key(record_id: int) -> None:
    """Forget a claim whose request failed, so the client may fix the request and retry with the same key."""
    with atomic():
        db.session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id,
                                                           IdempotencyRecord.status_code == 0))


def purge_expired_idempotency(now: datetime | None = None) -> int:
    """Delete records past their replay window; returns how many. Every worker sweep calls it."""
    with atomic():
        return db.session.execute(delete(IdempotencyRecord).where(
            IdempotencyRecord.created_at < (now or utcnow()) - IDEMPOTENCY_TTL)).rowcount
