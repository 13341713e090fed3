"""Which lead field a CSV column holds, guessed from its header.

Covers the lead and contact exports of Salesforce, HubSpot, Pipedrive, Zoho CRM and Mailchimp,
Google/Outlook contact files, and our own export. A header is compared in a normal form
(lower case, words only), so "E-mail", "e_mail" and "E Mail" are one header."""
from __future__ import annotations

import re
import unicodedata

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
    "street": "Street",
    "city": "City",
    "postal_code": "Postal code",
    "website": "Website",
    "description": "Description",
    "expected_close_on": "Expected close date",
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
        "vorname", "prénom", "nombre de pila",
    ],
    "last_name": [
        "last name", "lastname", "last", "surname", "family name", "lname", "contact last name",
        "lead last name", "person last name",
        "nachname", "familienname", "nom de famille", "apellido", "apellidos",
    ],
    "full_name": [
        "name", "full name", "fullname", "contact name", "contact", "lead name", "person name",
        "person", "display name", "contact full name",
        "vollständiger name", "nom complet", "nombre completo",
    ],
    "email": [
        "email", "e mail", "email address", "e mail address", "mail", "work email", "business email",
        "personal email", "primary email", "email 1", "contact email", "lead email", "person email",
        "email work", "email home", "email other",  # Pipedrive "Person - Email - Work"
        "e mail 1 value", "email 1 value", "e mail address 1",  # Google / Outlook contacts
        "e mail adresse", "courriel", "adresse e mail", "correo", "correo electronico",
    ],
    "phone": [
        "phone", "phone number", "telephone", "tel", "mobile", "mobile phone", "mobile phone number",
        "mobile number", "cell", "cell phone", "work phone", "business phone", "office phone",
        "direct phone", "direct dial", "primary phone", "home phone", "phone 1", "phone 1 value",
        "contact phone", "lead phone", "person phone", "phone work", "phone mobile", "phone home",
        "phone other", "telephone number", "primary business phone", "business phone 1",
        "telefon", "telefonnummer", "handy", "mobil", "portable", "teléfono", "móvil", "celular",
    ],
    "company": [
        "company", "company name", "company account", "account", "account name", "organization", "organisation",
        "organization name", "organisation name", "org", "organization name 1", "employer",
        "business name", "business", "firm", "lead company", "person organization",
        "firma", "firmenname", "unternehmen", "société", "entreprise", "empresa", "compañía", "razón social",
    ],
    "job_title": [
        "title", "job title", "jobtitle", "position", "role", "designation", "job", "job role",
        "job position", "occupation", "organization title", "person job title", "lead title",
        "berufsbezeichnung", "funktion", "poste", "fonction", "cargo", "puesto",
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
        "land", "pays", "país",
    ],
    "region": [
        "region", "state", "province", "state province", "state or province", "state region", "county",
        "mailing state", "mailing state province", "billing state", "billing state province",
        "business state", "address state", "address 1 region", "lead state", "contact state",
        "bundesland", "provincia", "estado", "département",
    ],
    # The rest of the address and the business's own details, in English, German, French and Spanish
    # and as Salesforce ("Mailing Street"), HubSpot ("Street Address"), Zoho ("Mailing Zip"), Pipedrive
    # and Google/Outlook contacts ("Address 1 - Street", "Business Street") head them.
    "street": [
        # Not a bare "Address": Mailchimp's holds the whole address on one line.
        "street", "street address", "address 1", "address line 1", "address1", "addr", "street 1",
        "mailing street", "billing street", "shipping street", "business street", "home street",
        "address 1 street", "address street", "lead street", "contact street", "person street",
        "straße", "strasse und hausnummer", "anschrift", "adresse", "rue", "adresse postale",
        "dirección", "calle",
    ],
    "city": [
        "city", "town", "locality", "mailing city", "billing city", "shipping city", "business city",
        "home city", "address city", "address 1 city", "lead city", "contact city", "person city",
        "stadt", "ort", "wohnort", "ville", "localité", "ciudad", "localidad", "población",
    ],
    "postal_code": [
        "postal code", "postcode", "post code", "zip", "zip code", "zipcode", "postal", "mailing zip",
        "mailing postal code", "mailing zip postal code", "billing zip", "billing postal code",
        "billing zip postal code", "shipping zip", "shipping postal code", "business postal code",
        "home postal code", "address postal code", "address 1 postal code", "address zip", "lead zip",
        "contact zip", "plz", "postleitzahl", "code postal", "cp", "código postal",
    ],
    "website": [
        "website", "web site", "web", "url", "homepage", "home page", "website url", "web address",
        "company website", "company url", "company domain", "company domain name", "domain", "site",
        "site web", "site internet", "sitio web", "página web", "webseite", "internetseite",
        "lead website", "contact website", "organization website", "web page", "personal website",
    ],
    "description": [
        "description", "notes", "note", "comments", "comment", "remarks", "details", "about",
        "lead description", "contact description", "company description", "background info",
        "beschreibung", "notizen", "notiz", "bemerkung", "bemerkungen", "kommentar", "anmerkungen",
        "remarques", "remarque", "commentaire", "commentaires", "descripción", "notas",
        "comentarios", "observaciones",
    ],
    "expected_close_on": [  # a deal's expected day (HubSpot, Salesforce: "Close Date"); never "Closed on"
        "expected close date", "expected close", "expected close on", "expected closing date", "close date",
        "closing date", "closedate", "estimated close date", "projected close date", "target close date",
        "expected closedate", "deal close date", "opportunity close date",
        "erwartetes abschlussdatum", "voraussichtliches abschlussdatum", "abschlussdatum",
        "date de clôture prévue", "date de clôture", "date de cloture prevue",
        "fecha de cierre", "fecha de cierre prevista", "fecha prevista de cierre", "fecha estimada de cierre",
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
    "deal expected close date": "expected_close_on",  # Pipedrive "Deal - Expected close date"
}



def normal_form(header: str) -> str:
    """'E-Mail Address ' -> 'e mail address'; '_' and punctuation become spaces, accents come off
    ('Código postal' -> 'codigo postal', 'Straße' -> 'strasse')."""
    folded = unicodedata.normalize("NFKD", header.replace("\ufeff", "").casefold())  # casefold: ß -> ss
    plain = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return " ".join(re.sub(r"[^0-9a-z]+", " ", plain).split())


# Each alias in normal form, so an alias is written as people head the column ("Straße").
_LOOKUP = {normal_form(alias): field for field, aliases in _ALIASES.items() for alias in aliases}


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
