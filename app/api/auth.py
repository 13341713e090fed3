"""Bearer-key authentication and the per-key rate limit for /api/v1."""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, g, request
from flask_limiter.util import get_remote_address

from app.api.problems import ApiProblem
from app.extensions import limiter
from app.services.api_keys import actor as api_actor, authenticate
from app.services.permissions import Actor

CHALLENGE = 'Bearer realm="Leadboard API"'


@dataclass(frozen=True)
class Caller:
    """Who is calling: read once per request, before any commit could expire an ORM object."""

    key_id: int
    name: str
    actor: Actor  # what the key may do (its role and scope: services/permissions.py)


def _bearer() -> str | None:
    scheme, _, secret = (request.headers.get("Authorization") or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return secret.strip() or None


def current_caller() -> Caller | None:
    """The key this request authenticates with, looked up once (the rate limiter asks first)."""
    if "api_caller" not in g:
        key = authenticate(_bearer())
        g.api_caller = Caller(key.id, key.name, api_actor(key)) if key is not None else None
    return g.api_caller


def require_caller() -> Caller:
    caller = current_caller()
    if caller is None:
        if not request.headers.get("Authorization"):
            detail = "Send an API key as 'Authorization: Bearer <key>'. Admins create keys at /settings/api-keys."
            challenge = CHALLENGE
        else:
            detail = "That API key is not valid: it is mistyped, or it was revoked."
            challenge = CHALLENGE + ', error="invalid_token"'
        raise ApiProblem(401, detail, headers={"WWW-Authenticate": challenge})
    return caller


def _rate_limit_key() -> str:
    caller = current_caller()
    # Unauthenticated requests share a budget per address, so guessing keys is throttled too.
    return f"api-key:{caller.key_id}" if caller else f"api-anonymous:{get_remote_address()}"


def _rate_limit() -> str:
    return current_app.config["API_RATE_LIMIT"]


# One budget per key shared by every endpoint (set API_RATE_LIMIT in the config to change it).
rate_limited = limiter.shared_limit(_rate_limit, scope="api", key_func=_rate_limit_key)
