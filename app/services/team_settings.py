"""Team-wide choices: the default timezone, the stage a booked appointment moves a lead to, the
pool claim cap, and the team's identity (name, logo, accent colour, currency, the address emails
come from)."""
from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass
from email.utils import formataddr, parseaddr
from functools import lru_cache
from typing import Iterable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import pycountry
from email_validator import EmailNotValidError, validate_email
from flask import current_app, g, has_request_context
from sqlalchemy import func, select

from app.extensions import db
from app.models import Stage, TeamSettings, User
from app.services import audit
from app.services import ServiceError, atomic, settings_cache

BOOKED_STAGE_NAME = "Appointment set"


@lru_cache(maxsize=1)
def timezone_names() -> list[str]:
    """Every IANA zone name, sorted, for the pickers."""
    return sorted(name for name in available_timezones() if "/" in name or name == "UTC")


@lru_cache(maxsize=1)
def _zone_lookup() -> dict[str, str]:
    """What people type, lower-cased, to the zone name: the name itself ("europe/paris") and, where
    only one zone has it, its city ("chicago", "new york", "new_york")."""
    names = timezone_names()
    cities: dict[str, list[str]] = {}
    for name in names:
        city = name.rsplit("/", 1)[-1].lower()
        for spelling in {city, city.replace("_", " ")}:
            cities.setdefault(spelling, []).append(name)
    lookup = {spelling: found[0] for spelling, found in cities.items() if len(found) == 1}
    lookup.update({name.lower(): name for name in names})
    return lookup


@lru_cache(maxsize=1024)
def zone_name(name: str | None) -> str:
    """A zone as people read it: "Eastern Time (New York)", "Central European Time (Berlin)", "UTC";
    the identifier itself for one the locale data does not name."""
    from babel.dates import get_timezone_location, get_timezone_name
    if not name or name in ("UTC", "Etc/UTC"):
        return "UTC"
    try:
        zone = ZoneInfo(name)
        generic = get_timezone_name(zone, width="long", locale="en_US")
        city = get_timezone_location(zone, locale="en_US", return_city=True)
    except (ZoneInfoNotFoundError, ValueError, LookupError):
        return name
    return f"{generic} ({city})" if city and city not in generic else generic


@lru_cache(maxsize=1)
def zone_options_version() -> str:
    """A short digest of the booking form's zone list and how it is labelled: its cache key."""
    return hashlib.sha256(("labelled\n" + "\n".join(current_zones())).encode()).hexdigest()[:12]


@lru_cache(maxsize=1)
def current_zones() -> list[str]:
    """The zones people live in today (the zone database's zone1970.tab, plus UTC), by name: the
    short list the prospect-timezone choice offers, without the old aliases (US/Eastern...)."""
    from importlib import resources
    text = resources.files("tzdata").joinpath("zoneinfo", "zone1970.tab").read_text(encoding="utf-8")
    names = {line.split("\t")[2] for line in text.splitlines() if line and not line.startswith("#")}
    return sorted(names | {"UTC"})


def zone_choices(keep: str | None = None) -> list[tuple[str, str]]:
    """The team's and a person's timezone pickers: today's zones (no old aliases such as US/Eastern
    or Africa/Asmera), each with the name people read ("America/New_York · Eastern Time (New York)"),
    ordered by identifier so typing a region or city still jumps to it; `keep`, a zone saved earlier
    that is no longer on that list, stays offered so saving the form does not change it."""
    names = current_zones()
    if keep and keep not in names:
        names = sorted([*names, keep])
    return [(n, n if zone_name(n) == n else f"{n} · {zone_name(n)}") for n in names]


def check_timezone(name: str | None, field: str = "timezone") -> str:
    """The IANA zone a person meant ("Europe/Paris", "europe/paris" or just "Paris"); raises
    ServiceError naming the field if it is none."""
    found = _zone_lookup().get(" ".join((name or "").split()).lower())
    try:
        if found:
            ZoneInfo(found)
            return found
    except (ZoneInfoNotFoundError, ValueError):
        pass
    raise ServiceError("That is not a timezone we know. Type a zone such as Europe/Berlin or America/New_York, "
                       "or a city such as Chicago.", field=field)


def current() -> TeamSettings:
    """The settings row, or unsaved defaults when no admin has saved any (read once per request)."""
    if has_request_context():
        if "team_settings" not in g:
            g.team_settings = _load()
        return g.team_settings
    return _load()


def _load() -> TeamSettings:
    row = db.session.get(TeamSettings, 1)
    if row is None:
        row = TeamSettings(id=1, timezone=current_app.config["TEAM_TIMEZONE"], appointment_stage_id=None,
                           ask_next_task=False)
        row.appointment_stage_id = db.session.scalar(
            select(Stage.id).where(func.lower(Stage.name) == BOOKED_STAGE_NAME.lower()).limit(1))
    return row


def pool_claim_cap() -> int | None:
    """The most open leads a member may hold and still claim from the pool (None: no cap)."""
    return current().pool_claim_cap


def team_timezone() -> str:
    """The team's timezone name (no query while the settings are unchanged: services.settings_cache)."""
    return settings_cache("team_settings.timezone", lambda: current().timezone or "UTC")


def user_timezone(user: User | None) -> str:
    return (user.timezone if user is not None and user.timezone else None) or team_timezone()


MAX_CLAIM_CAP = 100_000
UNCHANGED = object()


def check_claim_cap(cap: int | None) -> int | None:
    """A pool claim cap as admins may set it: None (no cap) or a whole number from 1; raises ServiceError."""
    if cap is None:
        return None
    if not isinstance(cap, int) or isinstance(cap, bool) or not 1 <= cap <= MAX_CLAIM_CAP:
        raise ServiceError(f"A cap is a whole number from 1 to {MAX_CLAIM_CAP:,}; leave it empty for no cap.",
                           field="pool_claim_cap")
    return cap


def save(timezone: str, appointment_stage_id: int | None, pool_claim_cap=UNCHANGED,
         ask_next_task=UNCHANGED, identity: "IdentityChange | None" = None,
         actor_id: int | None = None, sequences_need_consent=UNCHANGED,
         member_permissions: dict[str, bool] | None = None) -> TeamSettings:
    """Save the team's settings (the claim cap, the next-task question, the identity and what
    members may do, {action: allowed} of permissions.ACTIONS, only when given); raises ServiceError
    naming a bad field."""
    timezone = check_timezone(timezone)
    if pool_claim_cap is not UNCHANGED:
        pool_claim_cap = check_claim_cap(pool_claim_cap)
    if identity is not None:
        identity = identity.checked()
    with atomic():
        if appointment_stage_id is not None and db.session.get(Stage, appointment_stage_id) is None:
            raise ServiceError("That stage no longer exists. Reload the page.", field="appointment_stage")
        row = db.session.get(TeamSettings, 1) or TeamSettings(id=1)
        row.timezone, row.appointment_stage_id = timezone, appointment_stage_id
        if pool_claim_cap is not UNCHANGED:
            row.pool_claim_cap = pool_claim_cap
        if ask_next_task is not UNCHANGED:
            row.ask_next_task = bool(ask_next_task)
        if sequences_need_consent is not UNCHANGED:
            row.sequences_need_consent = bool(sequences_need_consent)
        if identity is not None:
            identity.apply(row)
        db.session.add(row)
        audit.record(actor_id, "team.saved", "Team settings", {"timezone": timezone})
        if member_permissions is not None:
            from app.services import permissions
            changed = permissions.apply(row, member_permissions)
            if changed:
                audit.record(actor_id, "team.permissions_changed", "What members may do: " + "; ".join(
                    f"{'may' if change['to'] else 'may not'} {permissions.ACTIONS[action][2]}"
                    for action, change in changed.items()), changed)
    g.pop("team_settings", None)
    return row


def save_account(user_id: int, timezone: str | None, email_kinds: Iterable[str]) -> User:
    """A person's own choices at /account: their timezone (None: the team's) and which kinds of
    notification also email them. Raises ServiceError naming a bad timezone, UnknownKind."""
    from app.services.notifications import set_email_choices
    timezone = check_timezone(timezone) if timezone else None
    with atomic():
        user = db.session.get(User, user_id)
        user.timezone = timezone
        set_email_choices(user_id, email_kinds)
    return user


def set_user_timezone(user_id: int, timezone: str | None) -> User:
    """A person's own timezone for entering and reading times (None: the team's)."""
    timezone = check_timezone(timezone) if timezone else None
    with atomic():
        user = db.session.get(User, user_id)
        user.timezone = timezone
    return user


# --- the team's identity ------------------------------------------------------------------------

LOGO_LIMIT = 1024 * 1024  # bytes, as uploaded
LOGO_MAX_SIDE = 800  # pixels: a logo larger than this is scaled down as it is re-encoded
LOGO_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
HEX_COLOUR = re.compile(r"^#[0-9a-f]{6}$")
TEAM_NAME_MAX = 100


DEFAULT_ACCENT = "#2563eb"  # public.css's own blue


def _luminance(colour: str) -> float:
    """WCAG relative luminance of a #rrggbb colour."""
    def channel(c: int) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g_, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g_) + 0.0722 * channel(b)


def text_on(colour: str) -> str:
    """Black or white, whichever reads better on `colour` (a button in the team's accent)."""
    light = _luminance(colour)
    return "#000000" if (light + 0.05) / 0.05 >= 1.05 / (light + 0.05) else "#ffffff"


def darker(colour: str) -> str:
    """The colour a little darker: a button's hover."""
    return "#" + "".join(f"{int(int(colour[i:i + 2], 16) * 0.85):02x}" for i in (1, 3, 5))


@dataclass(frozen=True)
class Identity:
    """How the team presents itself, as emails and public pages read it (plain data, cached)."""
    name: str
    accent: str | None  # "#1d4ed8", or None for our own colour
    currency: str  # ISO 4217
    address: str  # the From address
    logo_version: str | None  # None: no logo
    logo_type: str | None

    @property
    def sender(self) -> str:
        """The From header: "Team name <address>"."""
        return formataddr((self.name, self.address))


@dataclass
class Logo:
    content: bytes
    content_type: str
    version: str


@lru_cache(maxsize=1)
def currencies() -> list[tuple[str, str]]:
    """(code, "EUR: Euro") for every current ISO 4217 currency, by code (the settings' choices)."""
    return sorted((c.alpha_3, f"{c.alpha_3}: {c.name}") for c in pycountry.currencies
                  if not c.alpha_3.startswith("X"))  # XAU, XDR...: metals and funds, not prices


def check_currency(code: str | None) -> str:
    """An ISO 4217 code from the list; raises ServiceError naming the field."""
    code = (code or "").strip().upper()
    if code not in dict(currencies()):
        raise ServiceError("Pick a currency from the list, such as USD, EUR or GBP.", field="currency")
    return code


def check_colour(colour: str | None) -> str | None:
    """A colour as #rrggbb (lower-cased), or None for none; raises ServiceError naming the field."""
    colour = (colour or "").strip().lower()
    if not colour:
        return None
    if not HEX_COLOUR.match(colour):
        raise ServiceError("Pick a colour with the colour picker; it is written as # and six hex digits, "
                           "such as #1d4ed8.", field="accent_colour")
    return colour


def check_address(address: str | None) -> str | None:
    """The From address (just the address; the team's name is the display name), or None for
    MAIL_FROM's; raises ServiceError naming the field."""
    address = (address or "").strip()
    if not address:
        return None
    try:
        return validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError:
        raise ServiceError("Enter an email address such as sales@example.com, or leave it empty to use the "
                           "server's address.", field="mail_from") from None


LOGO_MAX_PIXELS = 40_000_000  # what an upload may claim to hold before it is decoded


def _too_many_pixels(width: int | None, height: int | None) -> ServiceError:
    size = f" ({width:,} × {height:,} pixels)" if width and height else ""
    return ServiceError(f"That image is too large to read{size}. Upload one of at most 40 megapixels; a logo "
                        f"needs no more than {LOGO_MAX_SIDE} pixels a side.", field="logo")


def check_logo(data: bytes) -> Logo:
    """An uploaded logo, re-encoded: PNG, JPEG or WebP up to 1 MB, at most LOGO_MAX_SIDE pixels a
    side, without its metadata. Raises ServiceError naming the field for anything else (SVG, a
    file that only claims to be an image, one too large)."""
    from PIL import Image, UnidentifiedImageError
    if not data:
        raise ServiceError("That file is empty. Upload a PNG, JPEG or WebP image.", field="logo")
    if len(data) > LOGO_LIMIT:
        raise ServiceError("That file is larger than 1 MB. Upload a smaller PNG, JPEG or WebP image.", field="logo")
    not_an_image = ServiceError("That file is not a PNG, JPEG or WebP image (SVG is not accepted). "
                                "Upload one of those.", field="logo")
    try:
        with Image.open(io.BytesIO(data), formats=list(LOGO_FORMATS)) as image:
            if image.width * image.height > LOGO_MAX_PIXELS:  # a few bytes can claim a vast picture
                raise _too_many_pixels(image.width, image.height)
            kind = image.format
            image.load()
            image.thumbnail((LOGO_MAX_SIDE, LOGO_MAX_SIDE))
            if kind == "JPEG" and image.mode not in ("RGB", "L"):
                image = image.convert("RGB")
            elif kind != "JPEG" and image.mode not in ("RGB", "RGBA", "L", "LA", "P"):
                image = image.convert("RGBA")
            out = io.BytesIO()
            image.save(out, format=kind, **({"quality": 90} if kind in ("JPEG", "WEBP") else {"optimize": True}))
    except Image.DecompressionBombError:
        raise _too_many_pixels(None, None) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise not_an_image from None
    content = out.getvalue()
    return Logo(content, LOGO_FORMATS[kind], hashlib.sha256(content).hexdigest()[:16])


@dataclass
class IdentityChange:
    """The identity fields of the team settings form, as typed; checked() checks them all."""
    team_name: str | None
    accent_colour: str | None
    currency: str | None
    mail_from: str | None
    logo: bytes | Logo | None = None  # None: keep the one there is
    remove_logo: bool = False

    def checked(self) -> "IdentityChange":
        name = " ".join((self.team_name or "").split())
        if len(name) > TEAM_NAME_MAX:
            raise ServiceError(f"Keep the team's name to {TEAM_NAME_MAX} characters.", field="team_name")
        logo = check_logo(self.logo) if isinstance(self.logo, bytes) else self.logo
        return IdentityChange(name or None, check_colour(self.accent_colour), check_currency(self.currency),
                              check_address(self.mail_from), logo, self.remove_logo)

    def apply(self, row: TeamSettings) -> None:
        row.team_name, row.accent_colour = self.team_name, self.accent_colour
        row.currency, row.mail_from = self.currency, self.mail_from
        if isinstance(self.logo, Logo):
            row.logo, row.logo_type, row.logo_version = self.logo.content, self.logo.content_type, self.logo.version
        elif self.remove_logo:
            row.logo = row.logo_type = row.logo_version = None


def identity() -> Identity:
    """The team's name, accent colour, currency, From address and logo version (no query while the
    settings are unchanged: services.settings_cache). Unset name and address come from MAIL_FROM."""
    return settings_cache("team_settings.identity", _identity)


def configured_address() -> str:
    """MAIL_FROM's address: what emails come from when Team settings name none."""
    return parseaddr(current_app.config["MAIL_FROM"])[1] or "leadboard@localhost"


def _identity() -> Identity:
    row = current()
    configured_name, configured_address = parseaddr(current_app.config["MAIL_FROM"])
    address = row.mail_from or configured_address or "leadboard@localhost"
    name = row.team_name or configured_name or address.rpartition("@")[2] or "our team"
    return Identity(name=name, accent=row.accent_colour, currency=row.currency or "USD", address=address,
                    logo_version=row.logo_version, logo_type=row.logo_type)


def logo() -> Logo | None:
    """The stored logo's bytes, type and version, or None when the team has none."""
    row = db.session.get(TeamSettings, 1)
    if row is None or row.logo is None:
        return None
    return Logo(row.logo, row.logo_type or "application/octet-stream", row.logo_version or "")
