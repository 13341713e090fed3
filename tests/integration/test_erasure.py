"""Erasing a person on request removes everything about them from every table, leaves an anonymous
record that it happened, keeps their address on the suppression list only as a digest, and a later
import or capture of that address is refused; exporting their data first gives one JSON file
(issue 16, section 4)."""
from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select

from app.extensions import db
from app.models import AuditEntry, Erasure, ImportRow, Lead, SuppressedAddress, WebhookDelivery
from app.services import ServiceError, activities, atomic, custom_fields, erasure, trash, utcnow, webhooks
from app.services.api_keys import create_key
from app.services.appointments import book_appointment
from app.services.capture import capture_lead
from app.services.capture_forms import FormSettings, create_form
from app.services.held_submissions import hold
from app.services.imports import create_import, run_import
from app.services.lead_emails import send_lead_email
from app.services.merge import merge_leads
from app.services.personal_data import export
from app.services.suppression import add_by_hand, erased_key, is_suppressed, suppressed_among
from app.services.tags import add_tags
from app.services.tasks import create_task
from app.services.leads import add_note
from app.services.webhooks import EndpointInput
from tests.conftest import Web
from tests.integration.test_api import Api

NAME_FIRST, NAME_LAST = "Zebulon", "Quagmire"
EMAIL = "zebulon.quagmire@example.org"
PHONE = "+14155550199"
NEEDLES = (NAME_FIRST.lower(), NAME_LAST.lower(), EMAIL, PHONE, "4155550199", "555-0199", "5550199")


def _plain(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("latin-1")
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def mentions_everywhere() -> dict[str, list[str]]:
    """Every table, every row, every column: where the person's name, email or phone still is."""
    found: dict[str, list[str]] = {}
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(select(table)).mappings():
            for column, value in row.items():
                text = _plain(value).lower()
                hits = [n for n in NEEDLES if n in text]
                if hits:
                    found.setdefault(table.name, []).append(f"{column}: {hits}")
    return found


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()


def _import(rows: list[list[str]], actor_id: int):
    imp = create_import(io.BytesIO(_csv(rows)), "contacts.csv", actor_id)
    imp.mapping = {"0": "first_name", "1": "last_name", "2": "email", "3": "phone"}
    imp.duplicates, imp.status = "update", "queued"
    db.session.commit()
    run_import(imp.id)
    return imp.id


@pytest.fixture
def app(make_app):
    """An app whose webhooks may go to a plain-http test address (nothing is sent in these tests)."""
    app = make_app(WEBHOOK_ALLOW_HTTP=True)
    with app.app_context():
        yield app


def build_person(app, admin, member):
    """The person, reached every way Leadboard knows: an import, the API (with a stored reply), a
    capture form and a held submission, notes, tags, a custom field, a task, an activity, an
    appointment with its invitation, an email, a webhook delivery, a merged duplicate, the
    suppression list, the trash and an export in the audit log."""
    custom_fields.create_field(custom_fields.FieldSettings(label="Favourite colour"))
    import_id = _import([["First", "Last", "Email", "Phone"], [NAME_FIRST, NAME_LAST, EMAIL, "(415) 555-0199"],
                         ["Other", "Person", "other@example.com", ""]], admin.id)
    lead_id = db.session.scalar(select(Lead.id).where(Lead.email == EMAIL))
    # A second file: an update of the person (its report keeps the change) and a row of theirs refused.
    _import([["First", "Last", "Email", "Phone"], [NAME_FIRST, f"{NAME_LAST}-Smith", EMAIL, ""],
             [NAME_FIRST, NAME_LAST, EMAIL, "", "a value too many"]], admin.id)
    # A third, uploaded and never started: only its stored file holds them.
    create_import(io.BytesIO(_csv([["Email"], [EMAIL]])), "later.csv", admin.id)
    db.session.commit()
    twin = capture_lead({"first_name": NAME_FIRST, "last_name": NAME_LAST, "email": "zq@work.example.org",
                         "company": "Quagmire Ltd"}, via="api", on_duplicate="keep")
    merge_leads(lead_id, twin.lead.id, {}, admin.id)
    webhooks.create_endpoint(EndpointInput("http://192.0.2.10/hook", list(webhooks.EVENTS), allow_private=True),
                             admin.id)
    secret = create_key("Website")[1]
    reply = Api(app, secret).post("/leads", {"first_name": NAME_FIRST, "email": EMAIL, "phone": PHONE,
                                             "custom_fields": {"favourite_colour": "teal"}},
                                  headers={"Idempotency-Key": "signup-1"})
    assert reply.status_code in (200, 201), reply.get_data(as_text=True)
    form = create_form(FormSettings(name="Newsletter", fields={"email": "required", "first_name": "optional"}),
                       admin.id)
    hold(form.id, {"email": EMAIL, "first_name": NAME_FIRST})
    add_note(lead_id, f"Spoke with {NAME_FIRST} at {PHONE}", admin.id)
    add_tags(lead_id, ["vip"], admin.id)
    create_task(lead_id, admin.id, title=f"Call {NAME_FIRST} back", due_at=utcnow() + timedelta(days=1),
                owner_id=member.id)
    activities.log_activity(lead_id, admin.id, "call", outcome="reached", note=f"{NAME_LAST} is keen")
    book_appointment(lead_id, admin.id, starts_at=utcnow().replace(microsecond=0) + timedelta(days=3),
                     duration_minutes=30, location="Zoom", note=f"Demo for {NAME_FIRST}")
    send_lead_email(lead_id, admin.id, "Hello {{ lead.first_name }}", f"Dear {NAME_FIRST} {NAME_LAST}, ...")
    add_by_hand(EMAIL, admin.id)
    # A twin with the same address, kept on purpose: the same person, erased with them.
    capture_lead({"first_name": "Z.", "email": EMAIL.upper()}, via="api", on_duplicate="keep")
    trash.trash(lead_id, admin.id)
    trash.restore(lead_id, admin.id)
    export(lead_id, admin.id)
    db.session.commit()
    return lead_id, import_id


def test_erasing_a_person_leaves_no_trace_of_them_in_any_table(app, stages, admin, member):
    lead_id, import_id = build_person(app, admin, member)
    before = mentions_everywhere()
    assert {"leads", "timeline_entries", "outbox_emails", "import_rows", "import_chunks", "audit_entries",
            "suppressed_addresses", "held_submissions", "idempotency_records", "lead_merges", "appointments", "tasks", "activities"} <= set(before)
    other = db.session.scalar(select(Lead.id).where(Lead.email == "other@example.com"))
    # A delivery's body is written when it is first sent; until then it names the lead by id.
    assert db.session.scalar(select(func.count()).select_from(WebhookDelivery).where(
        WebhookDelivery.lead_id == lead_id)) > 0

    done = erasure.erase(lead_id, admin.id)

    db.session.expire_all()
    assert mentions_everywhere() == {}
    assert db.session.get(Lead, other) is not None  # the other person of the file is untouched
    assert db.session.scalar(select(func.count()).select_from(WebhookDelivery).where(
        WebhookDelivery.lead_id == lead_id)) == 0
    kept = db.session.get(Erasure, done.id)
    assert kept.lead_id == lead_id and kept.erased_by_name == "Ada Admin" and kept.removed["leads"] == 2
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "lead.erased"))
    assert entry.target == f"A person (lead no. {lead_id})" and entry.actor_name == "Ada Admin"
    # The import's report keeps its row count and outcome, not the person.
    rows = db.session.scalars(select(ImportRow).where(ImportRow.import_id == import_id).order_by(ImportRow.row_number)).all()
    assert [(r.outcome, r.reason) for r in rows] == [("created", "Erased at the person's request."),
                                                     ("created", None)]
    # The address is refused email, through its digest only.
    assert is_suppressed(EMAIL) and is_suppressed(EMAIL.upper())
    assert suppressed_among([EMAIL.upper(), "other@example.com"]) == {EMAIL.upper()}
    assert db.session.scalar(select(SuppressedAddress.reason).where(
        SuppressedAddress.address == erased_key(EMAIL))) == "erased"


def test_a_later_import_or_capture_of_an_erased_address_is_refused_and_says_why(app, stages, admin, make_lead):
    lead = make_lead(first_name=NAME_FIRST, last_name=NAME_LAST, email=EMAIL)
    erasure.erase(lead.id, admin.id)

    import_id = _import([["First", "Last", "Email", "Phone"], [NAME_FIRST, NAME_LAST, EMAIL.upper(), ""],
                         ["Ann", "Other", "ann@example.com", ""]], admin.id)
    rows = db.session.scalars(select(ImportRow).where(ImportRow.import_id == import_id).order_by(ImportRow.row_number)).all()
    assert [r.outcome for r in rows] == ["rejected", "created"]
    assert "erased at their request" in rows[0].reason and rows[0].values is None
    with pytest.raises(ServiceError) as refused:
        capture_lead({"first_name": NAME_FIRST, "email": EMAIL}, via="api")
    assert refused.value.status == 409 and refused.value.field == "email"
    assert db.session.scalar(select(func.count()).select_from(Lead).where(Lead.email == EMAIL)) == 0
    assert mentions_everywhere() == {}


def test_the_public_form_tells_a_stranger_nothing_about_an_erased_address(app, stages, admin, make_lead):
    import time
    from app.services import capture_forms as form_service
    from tests.conftest import Web
    lead = make_lead(first_name=NAME_FIRST, last_name=NAME_LAST, email=EMAIL)
    erasure.erase(lead.id, admin.id)
    form = create_form(FormSettings(name="Contact", slug="contact", fields={"email": "required", "first_name": "optional"}))
    token = form_service.rendered_token(form.id, now=time.time() - 20)
    response = Web(app.test_client()).post("/f/contact", {"rendered": token, "website": "", "first_name": NAME_FIRST,
                                                          "email": EMAIL}, csrf=False)
    assert response.status_code == 303 and response.headers["Location"].endswith("/f/contact/thanks")
    assert "erased" not in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Lead).where(Lead.email == EMAIL)) == 0
    assert mentions_everywhere() == {}


def test_erasing_twice_is_refused_with_when_and_by_whom_and_changes_nothing(app, stages, admin, member, make_lead):
    lead = make_lead(first_name=NAME_FIRST, last_name=NAME_LAST, email=EMAIL)
    lead_id = lead.id
    web = Web(app.test_client())
    web.login(admin)
    assert web.get(f"/leads/{lead_id}/erase").status_code == 200
    unticked = web.post(f"/leads/{lead_id}/erase", {})
    assert unticked.status_code == 422 and "Tick the box" in unticked.get_data(as_text=True)
    assert db.session.get(Lead, lead_id) is not None
    assert web.post(f"/leads/{lead_id}/erase", {"understood": "y"}).status_code == 302
    erasures = db.session.scalar(select(func.count()).select_from(Erasure))
    audits = db.session.scalar(select(func.count()).select_from(AuditEntry))

    again = web.post(f"/leads/{lead_id}/erase", {"understood": "y"})
    assert again.status_code == 410
    assert "already erased" in again.get_data(as_text=True) and "Ada Admin" in again.get_data(as_text=True)
    assert web.get(f"/leads/{lead_id}/erase").status_code == 410
    assert db.session.scalar(select(func.count()).select_from(Erasure)) == erasures
    assert db.session.scalar(select(func.count()).select_from(AuditEntry)) == audits
    with pytest.raises(erasure.AlreadyErased):
        erasure.erase(lead_id, admin.id)
    assert web.post("/leads/999999/erase", {"understood": "y"}).status_code == 404

    other = make_lead(first_name="Mo", email="mo@example.com")
    member_web = Web(app.test_client())
    member_web.login(member)
    refused = member_web.post(f"/leads/{other.id}/erase", {"understood": "y"})
    assert refused.status_code == 403 and db.session.get(Lead, other.id) is not None
    assert member_web.get(f"/leads/{other.id}/personal-data.json").status_code == 403


def test_an_access_request_exports_everything_about_the_person_as_one_json_file(app, stages, admin, member):
    lead_id, _ = build_person(app, admin, member)
    web = Web(app.test_client())
    web.login(admin)
    reply = web.get(f"/leads/{lead_id}/personal-data.json")
    assert reply.status_code == 200 and reply.mimetype == "application/json"
    assert f'filename="lead-{lead_id}-personal-data.json"' in reply.headers["Content-Disposition"]
    data = json.loads(reply.get_data(as_text=True))
    assert data["lead"]["email"] == EMAIL and data["lead"]["first_name"] == NAME_FIRST
    assert data["custom_fields"] == {"favourite_colour": "teal"}
    assert data["tags"] == ["vip"]
    assert any(NAME_LAST in (a["note"] or "") for a in data["activities"])
    assert [t["title"] for t in data["tasks"]] == [f"Call {NAME_FIRST} back"]
    assert data["appointments"][0]["location"] == "Zoom"
    assert any(m["subject"] == f"Hello {NAME_FIRST}" for m in data["emails"])
    assert {"deleted", "restored", "note"} <= {e["kind"] for e in data["timeline"]}
    assert all(e["at"].endswith("Z") for e in data["timeline"])  # UTC, said so, as the API does
    assert db.session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "lead.data_exported")) == 2  # build_person's, and this one
    assert web.get("/leads/999999/personal-data.json").status_code == 404


def test_an_admin_finds_the_erased_address_by_typing_it_and_lifting_it_lets_the_person_back(
        app, stages, admin, make_lead, as_admin):
    lead = make_lead(first_name=NAME_FIRST, last_name=NAME_LAST, email=EMAIL)
    erasure.erase(lead.id, admin.id)
    page = as_admin.get(f"/settings/suppression?q={EMAIL}").get_data(as_text=True)
    listed = page.split('class="suppression-list"')[1]
    assert "An erased person&#39;s address" in listed and EMAIL not in listed
    entry = db.session.scalar(select(SuppressedAddress).where(SuppressedAddress.address == erased_key(EMAIL)))
    reply = as_admin.post(f"/settings/suppression/{entry.id}/remove", {"reason": "They asked to hear from us again"})
    assert reply.status_code == 302
    assert capture_lead({"first_name": NAME_FIRST, "email": EMAIL}, via="api").created


def test_an_erased_address_is_kept_under_the_installations_own_key_not_as_a_plain_hash(app, stages, admin, make_lead):
    import hashlib
    import hmac
    from app.models import InstallationSecret
    from app.services.suppression import KEYED_PREFIX, legacy_erased_key
    # The migration made it; a database that lost it gets a new one on the first erasure.
    db.session.execute(delete(InstallationSecret))
    db.session.commit()
    assert db.session.get(InstallationSecret, "erasure_digest") is None
    lead = make_lead(first_name=NAME_FIRST, last_name=NAME_LAST, email=EMAIL)
    erasure.erase(lead.id, admin.id)

    secret = db.session.get(InstallationSecret, "erasure_digest")
    assert secret is not None and len(bytes.fromhex(secret.value)) == 32
    kept = db.session.scalars(select(SuppressedAddress.address)).all()
    expected = KEYED_PREFIX + hmac.new(bytes.fromhex(secret.value), EMAIL.encode(), hashlib.sha256).hexdigest()
    # Hashing a guessed address finds nothing: only the key's holder can test one.
    assert kept == [expected] and hashlib.sha256(EMAIL.encode()).hexdigest() not in kept[0]
    assert legacy_erased_key(EMAIL) not in kept
    # And the address is still refused at every door.
    import_id = _import([["First", "Last", "Email", "Phone"], [NAME_FIRST, NAME_LAST, EMAIL, ""]], admin.id)
    assert db.session.scalar(select(ImportRow.outcome).where(ImportRow.import_id == import_id)) == "rejected"
    with pytest.raises(erasure.AddressErased):
        capture_lead({"first_name": NAME_FIRST, "email": EMAIL.upper()}, via="api")
    assert is_suppressed(EMAIL)


def test_an_address_erased_before_digests_were_keyed_is_still_refused_and_found(app, stages, admin, as_admin):
    from app.models import SuppressionReason
    from app.services.suppression import legacy_erased_key
    db.session.add(SuppressedAddress(address=legacy_erased_key(EMAIL), reason=SuppressionReason.erased.value,
                                     created_at=utcnow()))
    db.session.commit()

    import_id = _import([["First", "Last", "Email", "Phone"], [NAME_FIRST, NAME_LAST, EMAIL.upper(), ""],
                         ["Ann", "Other", "ann@example.com", ""]], admin.id)
    rows = db.session.scalars(select(ImportRow).where(ImportRow.import_id == import_id).order_by(ImportRow.row_number)).all()
    assert [r.outcome for r in rows] == ["rejected", "created"] and "erased at their request" in rows[0].reason
    with pytest.raises(erasure.AddressErased):
        capture_lead({"first_name": NAME_FIRST, "email": EMAIL}, via="api")
    assert is_suppressed(EMAIL) and suppressed_among([EMAIL, "ann@example.com"]) == {EMAIL}
    listed = as_admin.get(f"/settings/suppression?q={EMAIL}").get_data(as_text=True).split('class="suppression-list"')[1]
    assert "An erased person&#39;s address" in listed
    assert db.session.scalar(select(func.count()).select_from(Lead).where(Lead.email == EMAIL)) == 0


def _upload(rows: list[list[str]], admin_id: int, name: str = "later.csv", chunk_bytes: int = 1024) -> int:
    imp = create_import(io.BytesIO(_csv(rows)), name, admin_id, chunk_bytes=chunk_bytes)
    db.session.commit()
    return imp.id


def test_erasing_takes_only_the_persons_rows_out_of_an_upload_not_started(app, stages, admin, make_lead):
    from app.models import ImportChunk, LeadImport
    from app.services.imports import preview_rows
    lead = make_lead(first_name=NAME_FIRST, last_name=NAME_LAST, email=EMAIL)
    upload_id = _upload([["First", "Last", "Email", "Notes"],
                         ["Ann", "Other", "ann@example.com", "first"],
                         [NAME_FIRST, NAME_LAST, EMAIL.upper(), "once"],
                         ["Bob", "Else", "bob@example.com", "a note\non two lines"],
                         [NAME_FIRST, "", EMAIL, "twice"],
                         ["Cy", "Last", "cy@example.com", ""]], admin.id, chunk_bytes=64)  # rows across chunk ends

    done = erasure.erase(lead.id, admin.id)

    db.session.expire_all()
    upload = db.session.get(LeadImport, upload_id)
    assert upload is not None and upload.status == "uploaded" and upload.row_count == 3
    assert preview_rows(upload_id) == [["Ann", "Other", "ann@example.com", "first"],
                                       ["Bob", "Else", "bob@example.com", "a note\non two lines"],
                                       ["Cy", "Last", "cy@example.com", ""]]
    stored = b"".join(bytes(c) for c in db.session.scalars(
        select(ImportChunk.data).where(ImportChunk.import_id == upload_id).order_by(ImportChunk.seq)))
    assert upload.size_bytes == len(stored) and stored.startswith(b"First,Last,Email,Notes")
    assert done.removed["rows of uploads not started"] == 2 and "unstarted imports" not in done.removed
    assert mentions_everywhere() == {}
    # The others in the file can still be imported, as they were uploaded.
    upload.mapping = {"0": "first_name", "1": "last_name", "2": "email"}
    upload.duplicates, upload.status = "skip", "queued"
    db.session.commit()
    from app.services.imports import run_import
    run_import(upload_id)
    assert sorted(db.session.scalars(select(Lead.email))) == ["ann@example.com", "bob@example.com", "cy@example.com"]


def test_an_upload_holding_the_person_where_no_row_can_go_alone_is_refused_and_nothing_changes(
        app, stages, admin, make_lead, as_admin):
    from app.models import LeadImport
    lead = make_lead(first_name=NAME_FIRST, last_name=NAME_LAST, email=EMAIL)
    upload_id = _upload([["First", "Last", EMAIL], ["Ann", "Other", "ann@example.com"]], admin.id, "odd.csv")

    with pytest.raises(erasure.UploadNotSeparable):
        erasure.erase(lead.id, admin.id)
    reply = as_admin.post(f"/leads/{lead.id}/erase", {"understood": "y"})
    assert reply.status_code == 409 and "odd.csv" in reply.get_data(as_text=True)
    assert "Discard that upload" in reply.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Lead, lead.id) is not None and db.session.get(LeadImport, upload_id).row_count == 1
    assert db.session.scalar(select(func.count()).select_from(Erasure)) == 0


def test_the_personal_data_export_of_an_erased_person_says_they_were_erased(app, stages, admin, make_lead, as_admin):
    from app.services.personal_data import export as export_data
    lead = make_lead(first_name=NAME_FIRST, last_name=NAME_LAST, email=EMAIL)
    lead_id = lead.id
    erasure.erase(lead_id, admin.id)
    reply = as_admin.get(f"/leads/{lead_id}/personal-data.json")
    text = reply.get_data(as_text=True)
    assert reply.status_code == 410 and "already erased at their request" in text
    assert "Ada Admin" in text and "nothing left to export" in text
    with pytest.raises(erasure.AlreadyErased):
        export_data(lead_id, admin.id)
    assert db.session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "lead.data_exported")) == 0
    assert as_admin.get("/leads/999999/personal-data.json").status_code == 404


def test_the_migration_makes_the_installations_digest_key_and_leaves_older_digests_alone(migration_app):
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import text as sql
    from app.services.suppression import legacy_erased_key
    with migration_app.app_context():
        upgrade(revision="9a6362dec061")
        db.session.execute(sql("INSERT INTO suppressed_addresses (address, reason, created_at) "
                               "VALUES (:a, 'erased', CURRENT_TIMESTAMP)"), {"a": legacy_erased_key(EMAIL)})
        db.session.commit()
        upgrade(revision="c9e5a1b3d7f2")
        (name, value), = db.session.execute(sql("SELECT name, value FROM installation_secrets")).all()
        assert name == "erasure_digest" and len(bytes.fromhex(value)) == 32
        assert db.session.execute(sql("SELECT address FROM suppressed_addresses")).scalars().all() == \
            [legacy_erased_key(EMAIL)]
        db.session.commit()
        downgrade(revision="9a6362dec061")
        assert "installation_secrets" not in db.inspect(db.engine).get_table_names()
        db.session.commit()
        db.engine.dispose()


# --- stored import files: any case, across chunk ends, a chunk at a time ---------------------------


def _stored(import_id: int) -> bytes:
    from app.models import ImportChunk
    return b"".join(bytes(c) for c in db.session.scalars(
        select(ImportChunk.data).where(ImportChunk.import_id == import_id).order_by(ImportChunk.seq)))


def _ran(data: bytes, admin_id: int, name: str, chunk_bytes: int, status: str = "failed") -> int:
    """An import that ran (or runs) and still keeps its file, as a failed one does."""
    from app.models import LeadImport
    imp = create_import(io.BytesIO(data), name, admin_id, chunk_bytes=chunk_bytes)
    db.session.commit()
    db.session.get(LeadImport, imp.id).status = status
    db.session.commit()
    return imp.id


def _split_at(prefix: bytes, value: bytes, chunk_bytes: int, cut: int) -> bytes:
    """`prefix` padded so that `value` starts `cut` bytes before a chunk ends."""
    pad = (chunk_bytes - cut - len(prefix) - 1) % chunk_bytes
    return prefix + b"x" * pad + b"\n" + value


def test_erasure_finds_the_person_in_a_kept_import_file_in_another_case_or_split_across_chunks(
        app, stages, admin, make_lead):
    lead = make_lead(first_name=NAME_FIRST, last_name=NAME_LAST, email=EMAIL)
    header = b"Email,Phone\nann@example.com,\n"
    shouting = _ran(header + EMAIL.upper().encode() + b",\n", admin.id, "shouting.csv", 1024)
    split = _split_at(header, b"Zebulon.Quagmire@Example.org,\n", 64, cut=9)
    assert EMAIL.encode() not in split.lower()[:64] and EMAIL.encode() in split.lower()
    across = _ran(split, admin.id, "across.csv", 64)
    wide = _ran(("Email\nann@example.com\n" + "x" * 7 + "\n" + EMAIL.title() + "\n").encode("utf-16"), admin.id,
                "wide.csv", 64)  # the address starts 2 characters before the first chunk ends
    by_phone = _ran(_split_at(header, b"," + PHONE.encode() + b"\n", 64, cut=5), admin.id, "phone.csv", 64)
    lead.phone = PHONE
    db.session.commit()
    others = _ran(header + b"bob@example.com,\n", admin.id, "others.csv", 64)

    done = erasure.erase(lead.id, admin.id)

    db.session.expire_all()
    for import_id in (shouting, across, wide, by_phone):
        assert _stored(import_id) == b"", import_id
    assert _stored(others).endswith(b"bob@example.com,\n")
    assert done.removed["import files"] > 0
    assert mentions_everywhere() == {}


def test_an_import_still_running_whose_file_holds_the_person_in_another_case_makes_erasure_wait(
        app, stages, admin, make_lead):
    from app.models import LeadImport
    lead = make_lead(first_name=NAME_FIRST, last_name=NAME_LAST, email=EMAIL)
    running = _ran(_split_at(b"Email\n", EMAIL.upper().encode() + b"\n", 64, cut=3), admin.id, "busy.csv", 64,
                   status="running")
    with pytest.raises(erasure.ImportStillRunning) as refused:
        erasure.erase(lead.id, admin.id)
    assert "busy.csv" in refused.value.message
    db.session.rollback()
    assert db.session.get(Lead, lead.id) is not None and db.session.get(LeadImport, running).status == "running"
    assert EMAIL.upper().encode() in _stored(running)


def test_erasure_takes_the_person_out_of_an_upload_not_started_where_their_address_crosses_a_chunk_end(
        app, stages, admin, make_lead):
    from app.models import LeadImport
    from app.services.imports import preview_rows
    lead = make_lead(first_name=NAME_FIRST, last_name=NAME_LAST, email=EMAIL)
    data = _split_at(b"Name,Email\nAnn,ann@example.com\n", b"Zeb,Zebulon.QUAGMIRE@example.org\nCy,cy@example.com\n",
                     64, cut=12)
    upload_id = create_import(io.BytesIO(data), "later.csv", admin.id, chunk_bytes=64).id
    db.session.commit()

    done = erasure.erase(lead.id, admin.id)

    db.session.expire_all()
    assert done.removed["rows of uploads not started"] == 1
    assert db.session.get(LeadImport, upload_id).row_count == 3  # Ann, the padding line, Cy
    rows = preview_rows(upload_id)
    assert rows[0] == ["Ann", "ann@example.com"] and rows[-1] == ["Cy", "cy@example.com"]
    assert b"quagmire" not in _stored(upload_id).lower() and _stored(upload_id).endswith(b"Cy,cy@example.com\n")


def test_erasure_reads_a_large_upload_a_chunk_at_a_time(app, stages, admin, make_lead):
    """An upload of several megabytes with the person in it: erasing them never holds the file whole
    (before, the upload was read into memory, twice over)."""
    import tracemalloc
    from app.models import LeadImport
    lead = make_lead(first_name=NAME_FIRST, last_name=NAME_LAST, email=EMAIL)
    row = b"Somebody,Else,somebody.else@example.com,a note to make the row longer than most\n"
    filler = row * (3 * 1024 * 1024 // len(row))
    data = b"First,Last,Email,Notes\n" + filler + f"{NAME_FIRST},{NAME_LAST},{EMAIL.upper()},x\n".encode() + filler
    upload_id = create_import(io.BytesIO(data), "big.csv", admin.id, chunk_bytes=256 * 1024).id
    db.session.commit()
    db.session.expire_all()

    tracemalloc.start()
    try:
        done = erasure.erase(lead.id, admin.id)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert done.removed["rows of uploads not started"] == 1
    assert peak < len(data) / 2, f"peak {peak:,} bytes for a {len(data):,}-byte upload"
    db.session.expire_all()
    stored = _stored(upload_id)
    assert len(stored) == len(data) - len(f"{NAME_FIRST},{NAME_LAST},{EMAIL.upper()},x\n")
    assert db.session.get(LeadImport, upload_id).size_bytes == len(stored) and b"quagmire" not in stored.lower()


def test_the_erasure_pages_and_the_backup_command_say_backups_still_hold_the_person(
        app, stages, admin, make_lead, as_admin):
    lead_id = make_lead(first_name=NAME_FIRST, last_name=NAME_LAST, email=EMAIL).id
    sentence = "Backups written before the erasure still contain the person until they are rotated."
    page = as_admin.get(f"/leads/{lead_id}/erase").get_data(as_text=True)
    assert sentence in page
    done = as_admin.post(f"/leads/{lead_id}/erase", {"understood": "y"})
    assert done.status_code == 302 and db.session.get(Lead, lead_id) is None
    assert sentence in as_admin.get("/leads").get_data(as_text=True)
    help_text = " ".join(app.test_cli_runner().invoke(args=["backup", "--help"]).output.split())
    assert "Erasure cannot reach a backup file already written" in help_text
    assert "still contain them until they are rotated" in help_text
