"""Idempotency-Key for the API's creating operations: a retry with the same key, operation and body
replays the first answer; the same key anywhere else is refused rather than replayed."""
import json
import re
from typing import Callable

from flask import request

from app.api.auth import current_caller
from app.api.contract import IDEMPOTENCY_KEY_LIMIT, IDEMPOTENCY_KEY_PATTERN
from app.api.problems import ApiProblem, invalid
from app.services.api_keys import (
    IdempotencyInProgress, IdempotencyKeyReused, Replay, claim_idempotency_key, complete_idempotency_key,
    release_idempotency_key, request_fingerprint,
)

KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)


def once(perform: Callable[[], tuple[int, dict]]) -> tuple[int, dict, bool]:
    """(status, body, replayed): perform() once per Idempotency-Key, or at every call without one.

    Only a successful answer is remembered; when perform() raises, the claim is released so the
    client may correct the request and reuse the key."""
    key = _key()
    if key is None:
        return *perform(), False
    # The same JSON object however it was spaced or ordered is the same request.
    sent = json.loads(request.get_data(cache=True))
    claim = _claim(key, request_fingerprint(request.method, request.path, sent))
    if isinstance(claim, Replay):
        return claim.status_code, claim.body, True
    try:
        status, body = perform()
    except BaseException:
        release_idempotency_key(claim)
        raise
    complete_idempotency_key(claim, status, body)
    return status, body, False


def _key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if len(key) > IDEMPOTENCY_KEY_LIMIT or not KEY.fullmatch(key):
        raise invalid([{"field": "Idempotency-Key", "message": f"must be 1 to {IDEMPOTENCY_KEY_LIMIT} printable "
                                                               "ASCII characters, e.g. a UUID."}])
    return key


def _claim(key: str, fingerprint: str) -> Replay | int:
    try:
        return claim_idempotency_key(current_caller().key_id, key, fingerprint)
    except IdempotencyKeyReused as exc:
        raise ApiProblem(422, exc.message, type="urn:leadboard:problem:idempotency-key-reused",
                         title="This Idempotency-Key belongs to another request.",
                         errors=[{"field": "Idempotency-Key", "message": exc.message}]) from None
    except IdempotencyInProgress as exc:
        raise ApiProblem(409, exc.message, type="urn:leadboard:problem:idempotency-key-in-progress",
                         title="A request with this Idempotency-Key is in progress.",
                         headers={"Retry-After": "1"}) from None
