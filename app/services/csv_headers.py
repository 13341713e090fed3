"""Which lead field a CSV column holds, guessed from its header.

Covers the lead and contact exports of Salesforce, HubSpot, Pipedrive, Zoho CRM and Mailchimp,
Google/Outlook contact files, and our own export. A header is compared in a normal form
(lower case, words only), so "E-mail", "e_mail" and "E Mail" are one header."""
from __future__ import annotations

import re

# The fields a column can be mapped to, in the order the mapping menu lists them.
FIELDS = {
    "first_name": "First name",
    "last_name": "Last name",
    "full_name": "Full name (split into first and last)",
    "email": "Email",
    "phone": "Phone",
    "company": "Company",
    "job_title": "Job title",
    "source": "Source",
    "value": "Deal value",
    "country": "Country",
    "region": "Region (state, province)",
    "utm_source": "UTM source",
    "utm_medium": "UTM medium",
    "utm_campaign": "UTM campaign",
    "tags": "Tags (split on ; or ,)",
    "ignore": "Don't import",
}

_ALIASES = {
    "first_name": [
        "first name", "firstname", "first", "given name", "forename", "fname", "contact first name",
        "lead first name", "person first name",  # Pipedrive "Person - First name"
    ],
    "last_name": [
        "last name", "lastname", "last", "surname", "family name", "lname", "contact last name",
        "lead last name", "person last name",
    ],
    "full_name": [
        "name", "full name", "fullname", "contact name", "contact", "lead name", "person name",
        "person", "display name", "contact full name",
    ],
    "email": [
        "email", "e mail", "email address", "e mail address", "mail", "work email", "business email",
        "personal email", "primary email", "email 1", "contact email", "lead email", "person email",
        "email work", "email home", "email other",  # Pipedrive "Person - Email - Work"
        "e mail 1 value", "email 1 value", "e mail address 1",  # Google / Outlook contacts
    ],
    "phone": [
        "phone", "phone number", "telephone", "tel", "mobile", "mobile phone", "mobile phone number",
        "mobile number", "cell", "cell phone", "work phone", "business phone", "office phone",
        "direct phone", "direct dial", "primary phone", "home phone", "phone 1", "phone 1 value",
        "contact phone", "lead phone", "person phone", "phone work", "phone mobile", "phone home",
        "phone other", "telephone number", "primary business phone", "business phone 1",
    ],
    "company": [
        "company", "company name", "company account", "account", "account name", "organization", "organisation",
        "organization name", "organisation name", "org", "organization name 1", "employer",
        "business name", "business", "firm", "lead company", "person organization",
    ],
    "job_title": [
        "title", "job title", "jobtitle", "position", "role", "designation", "job", "job role",
        "job position", "occupation", "organization title", "person job title", "lead title",
    ],
    "source": [
        "source", "lead source", "leadsource", "original source", "source channel", "channel",
        "lead source detail", "original source type", "contact source", "lead origin", "origin",
        "how did you hear about us", "referral source",
    ],
    "value": [
        "value", "amount", "deal value", "deal amount", "opportunity amount", "expected revenue",
        "potential value", "lead value", "deal size", "estimated value",
    ],
    "country": [
        "country", "country code", "country name", "country region", "nation", "mailing country",
        "billing country", "business country", "business country region", "home country region",
        "address country", "address 1 country", "lead country", "contact country", "person country",
    ],
    "region": [
        "region", "state", "province", "state province", "state or province", "state region", "county",
        "mailing state", "mailing state province", "billing state", "billing state province",
        "business state", "address state", "address 1 region", "lead state", "contact state",
    ],
    "utm_source": ["utm source", "utmsource", "campaign source"],
    "utm_medium": ["utm medium", "utmmedium", "campaign medium"],
    "utm_campaign": ["utm campaign", "utmcampaign", "campaign name", "campaign"],
    "tags": ["tags", "tag", "labels", "label", "lead tags", "contact tags", "keywords"],
}

# Pipedrive prefixes every header with the record it belongs to ("Person - Email - Work",
# "Organization - Name", "Deal - Value"); only some of those records are about the lead itself.
_RECORD_PREFIXES = {
    "person": "", "lead": "", "contact": "", "organization": "organization ", "organisation": "organization ",
    "deal": "deal ",
}
_PREFIXED = {
    "organization name": "company", "organization": "company", "deal value": "value", "deal amount": "value",
    "organization address": None, "deal title": None,
}

_LOOKUP = {alias: field for field, aliases in _ALIASES.items() for alias in aliases}


def normal_form(header: str) -> str:
    """'E-Mail Address ' -> 'e mail address'; '_' and punctuation become spaces."""
    return " ".join(re.sub(r"[^0-9a-z]+", " ", header.lower().replace("\ufeff", "")).split())


def guess_field(header: str) -> str:
    """The lead field a header most likely names, or 'ignore'."""
    raw = header.strip()
    parts = [p.strip() for p in raw.split(" - ")] if " - " in raw else []
    if parts and normal_form(parts[0]) in _RECORD_PREFIXES:
        prefix = _RECORD_PREFIXES[normal_form(parts[0])]
        key = prefix + normal_form(" ".join(parts[1:]))
        if key in _PREFIXED:
            return _PREFIXED[key] or "ignore"
        if prefix:  # another record's field (an organisation's address, a deal's stage)
            return "ignore"
        return _LOOKUP.get(key, "ignore")
    return _LOOKUP.get(normal_form(raw), "ignore")


def guess_mapping(headers: list[str], extra: dict[str, str] | None = None) -> dict[str, str]:
    """Column index (as text) -> field. Each field goes to its first column only, and a full-name
    column is used only when there are no separate first/last name columns.

    `extra`: more targets by a header's normal form (custom fields by label and key), tried first."""
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for index, header in enumerate(headers):
        field = (extra or {}).get(normal_form(header)) or guess_field(header)
        if field != "ignore" and field in taken:
            field = "ignore"
        taken.add(field)
        mapping[str(index)] = field
    if "full_name" in taken and taken & {"first_name", "last_name"}:
        mapping = {k: ("ignore" if v == "full_name" else v) for k, v in mapping.items()}
    return mapping
