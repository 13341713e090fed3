"""A lead's country: ISO 3166-1 alpha-2 from pycountry's ISO data, whatever way people write it
("Germany", "de", "DEU", "Côte d'Ivoire", "UK"), or in the languages exports from elsewhere come
in ("Deutschland", "Österreich", "Suisse", "España": CLDR's names, through Babel), and the country
a phone number belongs to (phonenumbers' region data)."""
from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
import pycountry
from babel import Locale

from app.services import ServiceError

# Everyday names ISO does not list, for countries it does.
ALIASES = {
    "uk": "GB", "great britain": "GB", "britain": "GB", "england": "GB", "scotland": "GB", "wales": "GB",
    "northern ireland": "GB", "russia": "RU", "turkey": "TR", "ivory coast": "CI", "macedonia": "MK",
    "holland": "NL", "the netherlands": "NL", "uae": "AE", "vatican": "VA", "vatican city": "VA",
    "palestine": "PS", "micronesia": "FM", "brunei": "BN", "cape verde": "CV", "swaziland": "SZ",
    "burma": "MM", "dr congo": "CD", "drc": "CD", "democratic republic of the congo": "CD",
    "republic of the congo": "CG", "east timor": "TL", "czech": "CZ", "bosnia": "BA", "macau": "MO",
    "st lucia": "LC", "st kitts and nevis": "KN", "st vincent and the grenadines": "VC", "sao tome": "ST",
    "falklands": "FK", "america": "US", "united states of america": "US", "the united states": "US",
    "korea": "KR", "south korea": "KR", "north korea": "KP", "laos": "LA", "syria": "SY",
}
# Languages whose country names are read too (English is pycountry's): those the import's headers know,
# and their neighbours'.
NAME_LANGUAGES = ("de", "fr", "es", "it", "nl", "pt", "sv", "da", "nb", "pl")
BAD_COUNTRY = "That is not a country we know. Type its name (Germany) or its two-letter code (DE)."


def _fold(text: str) -> str:
    """Lower case, accents and punctuation aside, single spaces: how names are compared."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower().replace("&", " and ")
    return " ".join("".join(c if c.isalnum() else " " for c in text).split())


@lru_cache(maxsize=1)
def _lookup() -> dict[str, str]:
    found: dict[str, str] = {}
    for country in pycountry.countries:
        for attr in ("alpha_2", "alpha_3", "name", "official_name", "common_name"):
            value = getattr(country, attr, None)
            if value:
                found.setdefault(_fold(value), country.alpha_2)
    for alias, code in ALIASES.items():
        found.setdefault(_fold(alias), code)
    known = {country.alpha_2 for country in pycountry.countries}
    for language in NAME_LANGUAGES:  # after ISO's own: an English name or code always wins
        for code, name in Locale.parse(language).territories.items():
            if code in known:
                found.setdefault(_fold(name), code)
    return found


def normalize_country(raw: str | None) -> str | None:
    """The ISO 3166-1 alpha-2 code ("DE") a person meant, or None if empty; raises ServiceError
    (field "country") if it names no country."""
    text = (raw or "").strip()
    if not text:
        return None
    code = _lookup().get(_fold(text)) if len(text) <= 200 else None
    if code is None:
        raise ServiceError(BAD_COUNTRY, field="country")
    return code


def country_name(code: str | None) -> str:
    """A code's short English name ("Germany"), or "" for none."""
    if not code:
        return ""
    country = pycountry.countries.get(alpha_2=code)
    if country is None:
        return code
    return getattr(country, "common_name", None) or country.name


def country_from_phone(e164: str | None) -> str | None:
    """The country an E.164 number belongs to ("+4930..." -> "DE"), or None when it names none
    (a non-geographic or unknown number)."""
    if not e164:
        return None
    try:
        region = phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))
    except phonenumbers.NumberParseException:
        return None
    return region if region and pycountry.countries.get(alpha_2=region) else None


@lru_cache(maxsize=1)
def country_choices() -> list[tuple[str, str]]:
    """(code, name) for every country, by name: the suggestions beside the country field."""
    return sorted(((c.alpha_2, getattr(c, "common_name", None) or c.name) for c in pycountry.countries),
                  key=lambda pair: _fold(pair[1]))


@dataclass
class Suggestion:
    code: str
    name: str
    why: str  # "your team's country", "on your leads", or "" for the rest


def ordered(first: Iterable[str | None], in_use: Iterable[str | None] = ()) -> list[Suggestion]:
    """Every country once: `first` (the team's), then those `in_use` (on leads) by name, then the
    rest by name; unknown codes are left out. The order of every country picker."""
    names = dict(country_choices())
    picked: list[Suggestion] = []
    seen: set[str] = set()
    for codes, why in ((first, "your team's country"),
                       (sorted((c for c in in_use if c in names), key=lambda c: _fold(names[c])), "on your leads")):
        for code in codes:
            if code in names and code not in seen:
                seen.add(code)
                picked.append(Suggestion(code, names[code], why))
    return picked + [Suggestion(code, name, "") for code, name in country_choices() if code not in seen]


def picker(with_leads: bool = True) -> list[Suggestion]:
    """The countries to offer where a person picks one: the team's (DEFAULT_PHONE_REGION) first,
    then (with_leads) those its leads are in, then the rest alphabetically. A page a stranger sees
    (a capture form) passes with_leads=False: where the leads are is the team's business."""
    from app.services.lead_queries import countries as in_use
    from app.services.leads import default_phone_region
    return ordered([default_phone_region()], in_use() if with_leads else ())


def on_leads() -> list[Suggestion]:
    """The countries leads are in, the team's first, then by name: a filter's choices."""
    from app.services.lead_queries import countries as in_use
    from app.services.leads import default_phone_region
    used = set(in_use())
    return [s for s in ordered([default_phone_region()], used) if s.code in used]
