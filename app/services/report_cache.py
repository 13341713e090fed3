"""A report's figures, kept for a short while (REPORT_CACHE_SECONDS, two minutes by default) so that
looking again, switching back from another report or downloading the CSV of what is on screen does
not aggregate 100,000 leads again. As dashboards in other CRMs do, the page says how old its figures
are and offers a refresh, which computes them again at once.

Older figures (up to REPORT_STALE_SECONDS, fifteen minutes by default) are still shown at once, saying
how old they are, while the worker computes newer ones (stale while revalidate); and the worker keeps
the views someone looked at in the last WATCH_SECONDS warm (services.report_figures), so a manager's
morning look at the usual reports does not wait for 100,000 leads to be aggregated.

Kept in Redis, shared by every web process, under a key naming the database, the report, its filters
and the settings version (services.settings_cache: renaming a stage or changing a probability shows
at once). Plain JSON, never pickle. Redis away, or REPORT_CACHE_SECONDS 0: every view computes."""
from __future__ import annotations

import hashlib
import json
import time
from datetime import date, datetime
from decimal import Decimal
from typing import Callable, NamedTuple, Sequence

from flask import current_app
from redis import Redis, RedisError

from app.extensions import db
from app.services import settings_token, utcnow

PREFIX = "leadboard:report:"
WATCHED = PREFIX + "watched:"  # + the database's digest: a sorted set of recipes by when last viewed
WATCH_SECONDS = 12 * 3600  # a view looked at within this long is kept warm by the worker
MAX_WATCHED = 50  # the most recently viewed; older ones drop out
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


def _database() -> str:
    return db.session.get_bind().url.render_as_string(hide_password=True)


def _key(parts: Sequence[object]) -> str:
    text = json.dumps([_database(), settings_token(), *[str(p) for p in parts]])
    return PREFIX + hashlib.sha256(text.encode()).hexdigest()


def fresh_seconds() -> int:
    return int(current_app.config.get("REPORT_CACHE_SECONDS", 0))


def stale_seconds() -> int:
    """How old kept figures may be and still be shown while newer ones are computed (never less
    than REPORT_CACHE_SECONDS)."""
    return max(fresh_seconds(), int(current_app.config.get("REPORT_STALE_SECONDS", 0)))


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


class Kept(NamedTuple):
    figures: dict
    at: datetime  # when they were computed
    stale: bool  # older than REPORT_CACHE_SECONDS: newer ones are being computed


def _read(client: Redis, key: str) -> tuple[dict, datetime] | None:
    try:
        kept = client.get(key)
    except RedisError:
        return None
    if kept is None:
        return None
    try:
        stored = json.loads(kept, object_hook=_decode)
        return stored["figures"], datetime.fromisoformat(stored["at"])
    except (ValueError, KeyError, TypeError):
        return None  # a value from another version of this code: compute it again


def _write(client: Redis, key: str, value: dict, at: datetime) -> None:
    try:
        client.set(key, json.dumps({"figures": value, "at": at.isoformat()}, default=_encode), ex=stale_seconds())
    except RedisError:
        pass  # kept or not, the figures are right


def figures(parts: Sequence[object], compute: Callable[[], dict], *, fresh: bool = False,
            refresh: Callable[[], None] | None = None) -> Kept:
    """compute()'s answer (plain data: dicts, lists, numbers, text, Decimal, dates) for these key parts,
    and when it was computed: from the cache when it holds one younger than REPORT_CACHE_SECONDS
    (unless `fresh`), else computed now and kept. With `refresh` (which has the worker compute them),
    kept figures up to REPORT_STALE_SECONDS old are answered at once, marked stale, and refresh() is
    called for newer ones."""
    client = _client()
    if client is None:
        return Kept(compute(), utcnow(), False)
    key = _key(parts)
    if not fresh:
        found = _read(client, key)
        if found is not None:
            value, at = found
            age = (utcnow() - at).total_seconds()
            if age < fresh_seconds():
                return Kept(value, at, False)
            if refresh is not None and age < stale_seconds() and _refresh_asked(client, key, refresh):
                return Kept(value, at, True)
    value, at = compute(), utcnow()
    _write(client, key, value, at)
    return Kept(value, at, False)


def store(parts: Sequence[object], compute: Callable[[], dict]) -> None:
    """Compute these figures now and keep them (the worker's refresh), then let the next refresh be asked."""
    client = _client()
    if client is None:
        return
    key = _key(parts)
    try:
        _write(client, key, compute(), utcnow())
    finally:
        _release_refresh(key)


def age_of(parts: Sequence[object]) -> float | None:
    """How many seconds old the kept figures are, or None when none are kept (or Redis is away)."""
    client = _client()
    found = _read(client, _key(parts)) if client is not None else None
    return None if found is None else (utcnow() - found[1]).total_seconds()


# --- refreshes asked once at a time, and the views worth keeping warm ----------------------------


def _refresh_asked(client: Redis, key: str, refresh: Callable[[], None]) -> bool:
    """Whether newer figures for `key` are on their way: asked already in the last few minutes, or
    asked now. False when the queue did not take it."""
    if _refreshing(client, key):
        return True
    return _ask(client, key, refresh)


def _refreshing(client: Redis, key: str) -> bool:
    try:
        return bool(client.exists(key + ":refreshing"))
    except RedisError:
        return False


def _ask(client: Redis, key: str, refresh: Callable[[], None]) -> bool:
    """refresh() (which enqueues the worker's job) unless one was asked in the last few minutes and
    has not finished: whether it was asked now."""
    try:
        if not client.set(key + ":refreshing", "1", nx=True, ex=300):
            return False
    except RedisError:
        return False
    try:
        refresh()
    except Exception:  # noqa: BLE001 - the queue is away: the caller computes them itself
        _release_refresh(key)
        return False
    return True


def ask_refresh(parts: Sequence[object], refresh: Callable[[], None]) -> bool:
    """Have the worker compute these figures again (refresh() enqueues its job), once at a time:
    whether it was asked now."""
    client = _client()
    return client is not None and _ask(client, _key(parts), refresh)


def _release_refresh(key: str) -> None:
    client = _client()
    try:
        if client is not None:
            client.delete(key + ":refreshing")
    except RedisError:
        pass


def _watched_key() -> str:
    return WATCHED + hashlib.sha256(_database().encode()).hexdigest()[:16]


def watch(recipe: dict) -> None:
    """Note that someone looked at this view now (`recipe`: plain JSON saying how to compute it)."""
    client = _client()
    if client is None:
        return
    key = _watched_key()
    try:
        pipe = client.pipeline()
        pipe.zadd(key, {json.dumps(recipe, sort_keys=True): time.time()})
        pipe.zremrangebyrank(key, 0, -MAX_WATCHED - 1)
        pipe.expire(key, WATCH_SECONDS)
        pipe.execute()
    except RedisError:
        pass


def watched() -> list[dict]:
    """The recipes of the views looked at within WATCH_SECONDS, most recent first (at most MAX_WATCHED)."""
    client = _client()
    if client is None:
        return []
    key = _watched_key()
    since = time.time() - WATCH_SECONDS
    try:
        client.zremrangebyscore(key, "-inf", since)
        members = client.zrevrange(key, 0, MAX_WATCHED - 1)
    except RedisError:
        return []
    recipes = []
    for member in members:
        try:
            recipes.append(json.loads(member))
        except ValueError:
            continue
    return recipes
