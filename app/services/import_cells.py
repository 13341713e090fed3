"""How an import reads one cell of a messy file: placeholders, several values in one cell, dates
and numbers written the ways spreadsheets and other CRMs write them.

Pure functions on text: no database, no Flask. What a field may hold stays with the normalisers
the lead form uses (leads.clean_fields, custom_fields.clean_value); this module only turns a cell
into the text those normalisers take."""
from __future__ import annotations

import json
import re
from datetime import date

# Cells that say "nothing here" in the words of the tool that wrote the file.
PLACEHOLDERS = frozenset({"none", "null", "nil", "n/a", "na", "#n/a", "-", "--", "---", "(none)", "(blank)",
                          "(empty)", "#null!", "undefined", "nan", "n.a.", "k.a.", "-/-",
                          "[not provided]", "not provided"})  # Salesforce's last name when there was none
# str.strip() removes NBSP and the other Unicode spaces; these are not spaces to Python but are to people.
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"


def blank_or_value(cell: str) -> str:
    """The cell trimmed of every kind of space, or "" when it only says there is no value."""
    value = cell.strip().strip(_INVISIBLE).strip()
    return "" if value.casefold() in PLACEHOLDERS else value


# --- several values in one cell ----------------------------------------------------------------------

_SPLIT = re.compile(r"\s*(?:[;,\n]|\r\n?)\s*")
_JSON_VALUE_KEYS = ("value", "email", "phone", "number", "address")


def _from_json(value: str) -> list[str] | None:
    """Pipedrive writes [{"label": "work", "value": "a@x.com", "primary": true}]; others a list of strings."""
    try:
        items = json.loads(value)
    except ValueError:
        return None
    if not isinstance(items, list):
        return None
    found = []
    for item in sorted(items, key=lambda i: not (isinstance(i, dict) and i.get("primary") is True)):
        if isinstance(item, dict):
            item = next((item[key] for key in _JSON_VALUE_KEYS if isinstance(item.get(key), (str, int))), None)
        if isinstance(item, (str, int)) and not isinstance(item, bool) and str(item).strip():
            found.append(str(item).strip())
    return found


_ADDRESS_IN_NAME = re.compile(r"<\s*([^<>\s]+@[^<>\s]+)\s*>")
_SCHEME = re.compile(r"^(?:mailto|tel|callto|sip):", re.IGNORECASE)


def bare(value: str) -> str:
    """'Ada Lovelace <ada@example.com>' -> 'ada@example.com'; 'mailto:a@x.com', 'tel:+1...' lose the scheme."""
    found = _ADDRESS_IN_NAME.search(value)
    return found[1] if found else _SCHEME.sub("", value).strip()


def several(value: str) -> list[str]:
    """The values one cell holds, in order (a JSON list's primary one first): one for most cells."""
    if value.startswith("[") and value.endswith("]"):
        found = _from_json(value)
        if found is not None:
            return [v for v in (blank_or_value(f) for f in found) if v]
    if _ADDRESS_IN_NAME.search(value):  # "Lovelace, Ada <ada@x.com>; Bo <bo@x.com>": the commas are in names
        return _ADDRESS_IN_NAME.findall(value)
    parts = [bare(blank_or_value(part)) for part in _SPLIT.split(value)]
    return [part for part in parts if part] or [value]


# --- numbers ---------------------------------------------------------------------------------------

_CURRENCY_CODE = re.compile(r"^[A-Za-z]{3}(?=[\s\d.$€£¥])|(?<=[\s\d.])[A-Za-z]{3}$")
_CURRENCY_SIGN = re.compile(r"[$€£¥₹₩₽₺¢]|(?:US|CA|AU|NZ|HK|R|C|A)\$|kr\.?|zł|Fr\.?|CHF|Kč", re.IGNORECASE)
_GROUP_MARKS = re.compile(r"[\s\u00a0\u202f\u2009'’`]")
_DIGITS = re.compile(r"^[+-]?\d+(?:[.,]\d+)*$")


def number_text(value: str, *, money: bool = True) -> str:
    """A number as written in any common locale, as plain text Decimal reads; the text unchanged if it
    is not one (the field's normaliser then says what is wrong with it).

    '1,234,567.89', '1.234.567,89', '1 234 567,89', "1'234.50", '$1,200', '1.200 €' -> '1234567.89' ...
    One separator followed by exactly three digits ('1,200', '1.200') is a thousands separator in a
    money column; in a plain number column only the comma is (3.125 stays three and a bit)."""
    original = value
    value = _CURRENCY_SIGN.sub("", _CURRENCY_CODE.sub("", value.strip())).strip()
    value = _GROUP_MARKS.sub("", value)
    if value.startswith("(") and value.endswith(")"):  # accounting negatives; the normaliser refuses them for money
        value = "-" + value[1:-1]
    if not _DIGITS.match(value):
        return original.strip()
    sign = value[0] if value[0] in "+-" else ""
    body = value.lstrip("+-")
    commas, dots = body.count(","), body.count(".")
    if commas and dots:
        decimal = "," if body.rfind(",") > body.rfind(".") else "."
        group = "." if decimal == "," else ","
        if body.count(decimal) > 1:
            return original.strip()
        body = body.replace(group, "").replace(decimal, ".")
    elif commas or dots:
        mark = "," if commas else "."
        whole, _, last = body.rpartition(mark)
        if body.count(mark) > 1:
            body = body.replace(mark, "")  # only thousands repeat
        elif len(last) == 3 and whole != "0" and (mark == "," or money):
            body = body.replace(mark, "")
        else:
            body = body.replace(mark, ".")
    return sign + body


# --- dates -----------------------------------------------------------------------------------------

MONTHS = {name: number for number, names in enumerate((
    ("jan", "january", "janvier", "januar", "enero", "jänner"),
    ("feb", "february", "février", "fevrier", "februar", "febrero"),
    ("mar", "march", "mars", "märz", "maerz", "marzo"),
    ("apr", "april", "avril", "abril"),
    ("may", "mai", "mayo"),
    ("jun", "june", "juin", "juni", "junio"),
    ("jul", "july", "juillet", "juli", "julio"),
    ("aug", "august", "août", "aout", "agosto"),
    ("sep", "sept", "september", "septembre", "septiembre"),
    ("oct", "october", "octobre", "oktober", "octubre", "okt"),
    ("nov", "november", "novembre", "noviembre"),
    ("dec", "december", "décembre", "decembre", "dezember", "diciembre", "dez"),
), start=1) for name in names}

_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ]\d{1,2}:\d\d(?::\d\d(?:[.,]\d+)?)?\s*(?:Z|[+-]\d\d:?\d\d|UTC|GMT)?)?$",
                  re.IGNORECASE)
_NUMERIC = re.compile(r"^(\d{1,4})([/.\-])(\d{1,2})\2(\d{2,4})\.?(?:,?\s+\d{1,2}:\d\d(?::\d\d)?(?:\s*[AaPp][Mm])?)?$")
_WORDS = re.compile(r"^(?:[A-Za-z]+,?\s+)?(?:(\d{1,2})(?:st|nd|rd|th)?\.?\s+([^\W\d_]+)\.?,?\s+(\d{4})"
                    r"|([^\W\d_]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4}))(?:,?\s+\d{1,2}:\d\d.*)?$")
DAY_FIRST, MONTH_FIRST = "dmy", "mdy"
# Where people write the month first; everywhere else the day comes first.
MONTH_FIRST_REGIONS = frozenset({"US", "PH", "FM", "MH", "PW", "GU", "AS", "MP", "PR", "VI", "UM", "CA"})


def default_date_order(region: str | None) -> str:
    return MONTH_FIRST if not region or region.upper() in MONTH_FIRST_REGIONS else DAY_FIRST


def _year(text: str) -> int:
    year = int(text)
    return year + (2000 if year < 70 else 1900) if len(text) == 2 else year


def parse_date(value: str, order: str = MONTH_FIRST) -> date | None:
    """A date from the ways files write one, or None. `order` settles 03/04/2024 (both parts <= 12);
    a first part over 12 is a day and a second over 12 is a day whatever it says."""
    text = value.strip()
    try:
        if match := _ISO.match(text):
            return date(int(match[1]), int(match[2]), int(match[3]))
        if match := _NUMERIC.match(text):
            first, separator, second, third = match.groups()
            if len(first) == 4:  # 2024/07/11
                return date(int(first), int(second), int(third))
            first, second = int(first), int(second)
            day_first = first > 12 or (second <= 12 and order == DAY_FIRST)
            day, month = (first, second) if day_first else (second, first)
            return date(_year(third), month, day)
        if match := _WORDS.match(text):
            if match[1]:
                day, month, year = match[1], match[2], match[3]
            else:
                month, day, year = match[4], match[5], match[6]
            number = MONTHS.get(month.casefold()) or MONTHS.get(month.casefold()[:3])
            if number:
                return date(int(year), number, int(day))
    except ValueError:  # 31/02/2024
        return None
    return None


def date_text(value: str, order: str = MONTH_FIRST) -> str:
    """The cell as YYYY-MM-DD, which a date field takes, or the cell as it was if it is not a date."""
    found = parse_date(value, order)
    return found.isoformat() if found else value


def date_order_of(values: list[str]) -> str | None:
    """How a column of dates orders day and month: "dmy" or "mdy" when a value shows it, "" when
    every value could be either (the person is asked), None when the values are not such dates."""
    seen = False
    for value in values:
        match = _NUMERIC.match(value.strip())
        if not match or len(match[1]) == 4:
            continue
        seen = True
        first, second = int(match[1]), int(match[3])
        if first > 12 >= second:
            return DAY_FIRST
        if second > 12 >= first:
            return MONTH_FIRST
    return "" if seen else None


def looks_like_datetime(value: str) -> bool:
    return bool(_ISO.match(value.strip()) or _NUMERIC.match(value.strip()))

