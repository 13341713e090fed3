"""Identity: never merge two people, never double one (issue 9, section 5).

The rule (app/services/identity.py) case by case, through every way in: capture_lead itself, a web
form at /f/<slug>, the JSON API, a CSV import and the new-lead form."""
from __future__ import annotations

import io
import time

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import CaptureForm, Lead, LeadImport
from app.services import capture_forms as form_service
from app.services.api_keys import create_key
from app.services.capture import capture_lead
from app.services.imports import create_import, run_import
from app.services.duplicates import likely_duplicates
from tests.conftest import Web
from tests.integration.test_api import Api
from tests.integration.test_import import csv_bytes

COLUMNS = ("first_name", "last_name", "email", "phone", "company")
HEADER = ["First Name", "Last Name", "Email", "Phone", "Company"]


def leads() -> list[Lead]:
    db.session.expire_all()
    return list(db.session.scalars(select(Lead).order_by(Lead.id)))


def same_phone_pairs() -> set[tuple[int, int]]:
    return {(pair.a.id, pair.b.id) for pair in likely_duplicates().same_phone}


def imported(rows: list[dict], duplicates: str = "skip") -> LeadImport:
    """Upload a CSV of these rows and run the import synchronously, as the job would."""
    data = csv_bytes([HEADER] + [[row.get(name, "") for name in COLUMNS] for row in rows])
    imp = create_import(io.BytesIO(data), "people.csv", None)
    imp.duplicates, imp.status = duplicates, "queued"
    db.session.commit()
    imp = run_import(imp.id)
    assert imp.status == "done", imp.error
    return imp


# --- every way in ---------------------------------------------------------------------------------


def _by_capture(app, fields):
    capture_lead(fields, via="test")


def _by_form(app, fields):
    form = db.session.scalar(select(CaptureForm).where(CaptureForm.slug == "everyone"))
    if form is None:
        form = form_service.create_form(form_service.FormSettings(
            name="Everyone", slug="everyone", fields={name: "optional" for name in COLUMNS}))
    token = form_service.rendered_token(form.id, now=time.time() - 20)
    response = Web(app.test_client()).post("/f/everyone", {"rendered": token, "website": "", **fields}, csrf=False)
    assert response.status_code == 303, response.get_data(as_text=True)


def _by_api(app, fields):
    response = Api(app, create_key(f"Key {time.monotonic_ns()}")[1]).post("/leads", fields)
    assert response.status_code in (200, 201), response.get_data(as_text=True)


def _by_import(app, fields):
    imp = imported([fields])
    assert imp.rejected_count == 0


def _by_manual_entry(app, fields):
    from app.services.users import create_user
    from tests.conftest import TEST_PASSWORD
    user = create_user(f"m{time.monotonic_ns()}@example.com", TEST_PASSWORD, "member", "Max Member")
    web = Web(app.test_client())
    web.login(user)
    response = web.post("/leads/new", fields)
    assert response.status_code in (302, 303), response.get_data(as_text=True)


WAYS_IN = {"capture_lead": _by_capture, "web form": _by_form, "api": _by_api, "csv import": _by_import,
           "manual entry": _by_manual_entry}
# A web form always asks for an email or a phone; the lead form wants a name or an email.
CANNOT_SEND = {"web form": lambda f: not (f.get("email") or f.get("phone")),
               "manual entry": lambda f: not (f.get("first_name") or f.get("last_name") or f.get("email"))}

ADA = {"first_name": "Ada", "last_name": "Lovelace"}
BOB = {"first_name": "Bob", "last_name": "Brown"}
PHONE, TYPED_PHONE = "+14155550101", "(415) 555-0101"

# (case, the lead we have, the newcomer, outcome): "same" lands on the lead we have; "new" makes a
# lead, "new + same phone" makes one and lists the pair on /leads/duplicates as "same phone".
CASES = [
    ("the same email, typed differently, is the same person",
     {**ADA, "email": "ada@example.com"}, {**BOB, "email": " ADA@Example.com "}, "same"),
    ("the same phone with a different email is a different person",
     {**ADA, "email": "ada@example.com", "phone": PHONE}, {**ADA, "email": "ada@work.example", "phone": TYPED_PHONE},
     "new + same phone"),
    ("the same phone, no email on either side, similar names: the same person",
     {"first_name": "Jon", "last_name": "Smith", "phone": PHONE},
     {"first_name": "John", "last_name": "Smith", "phone": TYPED_PHONE}, "same"),
    ("the same phone, no email on either side, other names: a different person",
     {**ADA, "phone": PHONE}, {**BOB, "phone": TYPED_PHONE}, "new + same phone"),
    ("the same phone, an email on our side only, similar names: the same person",
     {**ADA, "email": "ada@example.com", "phone": PHONE}, {**ADA, "phone": TYPED_PHONE}, "same"),
    ("the same phone, an email on our side only, other names: a different person",
     {**ADA, "email": "ada@example.com", "phone": PHONE}, {**BOB, "phone": TYPED_PHONE}, "new + same phone"),
    ("the same phone, an email on the newcomer's side only, similar names: the same person",
     {**ADA, "phone": PHONE}, {"first_name": "ada", "last_name": "Lovelace", "email": "ada@example.com",
                               "phone": TYPED_PHONE}, "same"),
    ("the same phone, an email on the newcomer's side only, other names: a different person",
     {**ADA, "phone": PHONE}, {**BOB, "email": "bob@example.com", "phone": TYPED_PHONE}, "new + same phone"),
    ("the same phone and a newcomer with no name: the same person",
     {**ADA, "phone": PHONE}, {"email": "ada@example.com", "phone": TYPED_PHONE}, "same"),
    ("the same phone and only a first name that agrees: the same person",
     {**ADA, "phone": PHONE}, {"first_name": "Ada", "phone": TYPED_PHONE}, "same"),
    ("no email and no phone, the same name and company however typed: the same lead",
     {**ADA, "company": "Analytical Engines Ltd"},
     {"first_name": " ada", "last_name": "LOVELACE ", "company": "analytical engines"}, "same"),
    ("no email and no phone, the same name at another company: a different lead",
     {**ADA, "company": "Analytical Engines"}, {**ADA, "company": "Babbage & Co"}, "new"),
    ("no email and no phone, the same name and neither has a company: the same lead",
     dict(ADA), dict(ADA), "same"),
    ("a different email and no phone is a different person, even with the same name",
     {**ADA, "email": "ada@example.com"}, {**ADA, "email": "countess@example.com"}, "new"),
]


# Every case through every way in that can send its newcomer (a web form needs an email or a phone).
RUNS = [pytest.param(way_in, *case, id=f"{way_in}-{case[0]}") for case in CASES for way_in in WAYS_IN
        if not CANNOT_SEND.get(way_in, lambda f: False)(case[2])]


@pytest.mark.parametrize("way_in, case, ours, newcomer, outcome", RUNS)
def test_identity_rule(app, stages, make_lead, way_in, case, ours, newcomer, outcome):
    existing = make_lead(**{"first_name": "", "last_name": "", **ours})
    WAYS_IN[way_in](app, newcomer)
    people = leads()
    if outcome == "same":
        assert [lead.id for lead in people] == [existing.id], case
        assert same_phone_pairs() == set()
        return
    assert len(people) == 2, case
    newest = people[1]
    assert (newest.first_name, newest.email) == (newcomer.get("first_name", "").strip(),
                                                 (newcomer.get("email") or "").strip().lower() or None)
    db.session.refresh(existing)
    assert (existing.first_name, existing.email, existing.phone) == \
        (ours.get("first_name", ""), ours.get("email"), ours.get("phone"))  # nothing overwritten
    expected = {(existing.id, newest.id)} if outcome == "new + same phone" else set()
    assert same_phone_pairs() == expected


def test_a_same_phone_pair_is_listed_on_the_duplicates_page_with_its_reason(as_member, make_lead):
    make_lead(**ADA, email="ada@example.com", phone=PHONE)
    captured = capture_lead({**BOB, "email": "bob@example.com", "phone": TYPED_PHONE}, via="test")
    assert captured.created and len(captured.same_phone) == 1
    page = as_member.get("/leads/duplicates").get_data(as_text=True)
    row = page[page.index("Ada Lovelace"):]
    row = row[:row.index("</tr>")]
    assert "Bob Brown" in row and "Same phone" in row
    assert "No likely duplicates right now" not in page


# --- importing ------------------------------------------------------------------------------------


def test_two_people_sharing_a_phone_in_one_file_are_both_imported(stages):
    imp = imported([{**ADA, "email": "ada@example.com", "phone": TYPED_PHONE},
                    {**BOB, "email": "bob@example.com", "phone": TYPED_PHONE},
                    {"first_name": "Cy", "last_name": "Young", "phone": TYPED_PHONE}])
    assert (imp.created_count, imp.skipped_count, imp.rejected_count) == (3, 0, 0)
    ada, bob, cy = leads()
    assert {lead.phone for lead in (ada, bob, cy)} == {PHONE}
    assert same_phone_pairs() == {(ada.id, bob.id), (ada.id, cy.id), (bob.id, cy.id)}


FILES = {
    "with emails and phones": [{**ADA, "email": "ada@example.com", "phone": PHONE},
                               {**BOB, "email": "bob@example.com", "phone": PHONE}],
    "with phones only": [{**ADA, "phone": PHONE}, {**BOB, "phone": PHONE},
                         {"first_name": "Cy", "last_name": "Young", "phone": "+14155550199"}],
    "with neither": [{**ADA, "company": "Analytical Engines"}, {**ADA, "company": "Navy"},
                     {**BOB}, {"first_name": "Cy", "last_name": "Young", "company": "Acme Inc"},
                     {"first_name": "ØYVIND", "last_name": "Østergaard", "company": "Ærø Ltd"}],
}


@pytest.mark.parametrize("duplicates", ["skip", "update"])
@pytest.mark.parametrize("rows", FILES.values(), ids=FILES)
def test_importing_the_same_file_twice_creates_nothing_the_second_time(stages, rows, duplicates):
    first = imported(rows, duplicates)
    assert (first.created_count, first.rejected_count) == (len(rows), 0)
    before = [(lead.id, lead.first_name, lead.email, lead.phone, lead.company) for lead in leads()]
    second = imported(rows, duplicates)
    assert (second.created_count, second.rejected_count) == (0, 0)
    assert second.skipped_count + second.updated_count == len(rows)
    assert [(lead.id, lead.first_name, lead.email, lead.phone, lead.company) for lead in leads()] == before


def test_keep_mode_still_adds_every_row_as_asked(stages):
    imported([{**ADA, "email": "ada@example.com"}])
    imp = imported([{**ADA, "email": "ada@example.com"}], duplicates="keep")
    assert imp.created_count == 1
    assert db.session.scalar(select(func.count()).select_from(Lead)) == 2


def test_the_new_lead_form_says_when_the_new_lead_shares_a_phone_with_another(as_member, make_lead):
    make_lead(**ADA, email="ada@example.com", phone=PHONE)
    response = as_member.post("/leads/new", {**BOB, "email": "bob@example.com", "phone": TYPED_PHONE})
    assert response.status_code in (302, 303)
    page = as_member.get(response.headers["Location"]).get_data(as_text=True)
    assert "Added Bob Brown to the pool. Another lead has the same phone number" in page
    assert len(leads()) == 2
