"""A report's figures, kept for a short while (REPORT_CACHE_SECONDS, two minutes by default) so that
looking again, switching back from another report or downloading the CSV of what is on screen does
not aggregate 100,000 leads again. As dashboards in other CRMs do, the page says how old its figures
are and offers a refresh, which computes them again at once.

Kept in Redis, shared by every web process, under a key naming the database, the report, its filters
and the settings version (services.settings_cache: renaming a stage or changing a probability shows
at once). Plain JSON, never pickle. Redis away, or REPORT_CACHE_SECONDS 0: every view computes."""
from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Callable, Sequence

from flask import current_app
from redis import Redis, RedisError

from app.extensions import db
from app.services import settings_token, utcnow

PREFIX = "leadboard:report:"
_clients: dict[str, Redis] = {}


def _client() -> Redis | None:
    url = current_app.config.get("REDIS_URL")
    seconds = current_app.config.get("REPORT_CACHE_SECONDS", 0)
    if not url or not seconds:
        return None
    client = _clients.get(url)
    if client is None:  # one connection pool per URL and process, not one per request
        client = _clients[url] = Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    return client


def enabled() -> bool:
    """Whether figures are kept at all (REDIS_URL set and REPORT_CACHE_SECONDS above 0)."""
    return _client() is not None


def _key(parts: Sequence[object]) -> str:
    database = db.session.get_bind().url.render_as_string(hide_password=True)
    text = json.dumps([database, settings_token(), *[str(p) for p in parts]])
    return PREFIX + hashlib.sha256(text.encode()).hexdigest()


def _encode(value):
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    raise TypeError(f"{type(value).__name__} cannot be kept")


def _decode(obj: dict):
    if len(obj) == 1:
        (tag, text), = obj.items()
        if tag == "$decimal":
            return Decimal(text)
        if tag == "$datetime":
            return datetime.fromisoformat(text)
        if tag == "$date":
            return date.fromisoformat(text)
    return obj


def figures(parts: Sequence[object], compute: Callable[[], dict], *, fresh: bool = False) -> tuple[dict, datetime]:
    """compute()'s answer (plain data: dicts, lists, numbers, text, Decimal, dates) for these key parts,
    and when it was computed: from the cache when it holds one younger than REPORT_CACHE_SECONDS
    (unless `fresh`), else computed now and kept."""
    client = _client()
    if client is None:
        return compute(), utcnow()
    key = _key(parts)
    if not fresh:
        try:
            kept = client.get(key)
        except RedisError:
            kept = None
        if kept is not None:
            try:
                stored = json.loads(kept, object_hook=_decode)
                return stored["figures"], datetime.fromisoformat(stored["at"])
            except (ValueError, KeyError, TypeError):
                pass  # a value from another version of this code: compute it again
    value, at = compute(), utcnow()
    try:
        client.set(key, json.dumps({"figures": value, "at": at.isoformat()}, default=_encode),
                   ex=int(current_app.config["REPORT_CACHE_SECONDS"]))
    except RedisError:
        pass  # kept or not, the figures are right
    return value, at
