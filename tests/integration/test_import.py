"""CSV import (upload, mapping, the import itself, rejected rows) and the pool's CSV export."""
import codecs
import csv
import io
import re

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import ImportChunk, ImportRow, Lead, LeadImport, Notification, TimelineEntry
from app.services import imports
from app.services.imports import FileTooLarge, create_import, run_import

HUBSPOT = (
    "First Name,Last Name,Email,Phone Number,Company Name,Job Title,Original Source,UTM Campaign,Amount\n"
    "Ada,Lovelace,ada@example.com,(415) 555-0101,Analytical Engines,Countess,Referral,spring,\"$2,500\"\n"
    "Grace,Hopper,grace@example.com,,Navy,Admiral,,spring,\n"
    "Linus,Torvalds,not-an-email,,Kernel,,,,\n"
    "Ada,L.,ADA@example.com,,Analytical Engines Ltd,,,,\n"
)


def csv_bytes(rows: list[list[str]], delimiter: str = ",") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows(rows)
    return buffer.getvalue().encode("utf-8")


def upload(web, data: bytes, filename: str = "leads.csv"):
    return web.post("/leads/import", data={"file": (io.BytesIO(data), filename)},
                    content_type="multipart/form-data")


def latest_import() -> LeadImport | None:
    return db.session.scalar(select(LeadImport).order_by(LeadImport.id.desc()).limit(1))


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def queued(data: bytes, *, duplicates: str = "skip", mapping: dict | None = None, chunk_bytes: int = 1024 * 1024,
           **options) -> LeadImport:
    """An uploaded import with its choices saved and marked queued, as start_import leaves it for the job."""
    imp = create_import(io.BytesIO(data), "test.csv", None, chunk_bytes=chunk_bytes)
    if mapping:
        imp.mapping = {**imp.mapping, **mapping}
    imp.duplicates, imp.status = duplicates, "queued"
    for name, value in options.items():
        setattr(imp, name, value)
    db.session.commit()
    return imp


def read_csv(response) -> list[list[str]]:
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


# --- upload ---------------------------------------------------------------------------------------------

def test_uploading_a_csv_stores_it_and_shows_the_first_rows_with_the_guessed_mapping(as_member, stages):
    response = upload(as_member, HUBSPOT.encode("utf-8"), "hubspot-contacts.csv")
    imp = latest_import()
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/leads/import/{imp.id}")
    assert (imp.status, imp.encoding, imp.delimiter, imp.size_bytes) == ("uploaded", "utf-8", ",", len(HUBSPOT))
    assert imp.headers[0] == "First Name" and imp.mapping["3"] == "phone" and imp.mapping["8"] == "value"

    page = as_member.get(f"/leads/import/{imp.id}").get_data(as_text=True)
    assert "Analytical Engines" in page and "grace@example.com" in page
    assert re.search(r'<option selected value="email">Email</option>', page)
    assert 'name="col_6"' in page and "e.g. Referral" in page


def test_the_upload_route_takes_files_over_the_apps_2_mb_request_limit(as_member, stages):
    data = csv_bytes([["Email", "Company"]] + [[f"p{i}@example.com", "x" * 40] for i in range(60_000)])
    assert len(data) > as_member.app.config["MAX_CONTENT_LENGTH"] + 1024 * 1024
    response = upload(as_member, data, "big.csv")
    imp = latest_import()
    assert response.status_code == 302 and imp.size_bytes == len(data)
    assert count(ImportChunk, ImportChunk.import_id == imp.id) == -(-len(data) // imports.CHUNK_BYTES)
    # Everywhere else the app-wide limit still holds.
    assert as_member.post("/leads/new", data={"first_name": "x" * (3 * 1024 * 1024)}).status_code == 413


def test_a_big_upload_is_stored_in_chunks_that_add_up_to_the_file(app, stages):
    data = csv_bytes([["Email", "Company"]] + [[f"p{i}@example.com", f"Company {i}"] for i in range(3000)])
    imp = create_import(io.BytesIO(data), "big.csv", None, chunk_bytes=16 * 1024)
    chunks = db.session.scalars(select(ImportChunk.data).where(ImportChunk.import_id == imp.id)
                                .order_by(ImportChunk.seq)).all()
    assert len(chunks) == -(-len(data) // (16 * 1024)) and b"".join(chunks) == data


@pytest.mark.parametrize("data, rows", [
    (b"Email,Note\r\na@example.com,x\r\n\r\nb@example.com,y", 2),  # CRLF, a blank line, no final break
    (b'Email,Note\n"a@example.com","two\nlines"\nb@example.com,"say ""hi""\n"\n', 2),  # breaks inside quotes
    ("Email,Note\nä@example.com,ü\n".encode("utf-16"), 1),
])
def test_the_upload_counts_its_rows_as_the_csv_reader_does_and_the_page_shows_them(as_member, stages, data, rows):
    assert upload(as_member, data).status_code == 302
    imp = latest_import()
    assert imp.row_count == rows
    page = as_member.get(f"/leads/import/{imp.id}").get_data(as_text=True)
    assert f"{rows} row{'s' if rows != 1 else ''} after the header" in page


def test_a_row_count_in_thousands_survives_chunk_boundaries(app, stages):
    data = csv_bytes([["Email", "Note"]] + [[f"p{i}@example.com", f"line one\nline {i}"] for i in range(3000)])
    imp = create_import(io.BytesIO(data), "big.csv", None, chunk_bytes=1000)
    assert imp.row_count == 3000


@pytest.mark.parametrize("data, words", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00" * 50, "binary data"),
    (b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00", "Excel workbook"),
    (b"First Name,Last Name,Email\r\n", "header row but no data rows"),
    (b"", "The file is empty"),
])
def test_a_file_that_is_not_a_usable_csv_is_refused_beside_the_file_field(as_member, stages, data, words):
    response = upload(as_member, data, "leads.csv")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert re.search(rf'<p class="error" id="file-error">[^<]*{words}', page), page
    assert 'aria-invalid="true"' in page and latest_import() is None


def test_posting_without_a_file_asks_for_one(as_member, stages):
    response = as_member.post("/leads/import", data={})
    assert response.status_code == 422 and "Choose a CSV file to import." in response.get_data(as_text=True)


def test_a_file_over_50_mb_is_refused_with_413_and_a_message(as_member, stages):
    big = b"Email\n" + b"x" * (imports.MAX_FILE_BYTES + 512 * 1024)
    response = upload(as_member, big, "huge.csv")
    assert response.status_code == 413
    assert "larger than 50 MB" in response.get_data(as_text=True) and latest_import() is None


def test_a_file_just_over_the_limit_is_refused_by_the_service_and_nothing_is_kept(app, stages):
    with pytest.raises(FileTooLarge):
        create_import(io.BytesIO(b"Email\n" + b"a@example.com\n" * 100), "x.csv", None, chunk_bytes=256,
                      max_bytes=1000)
    assert count(LeadImport) == 0 and count(ImportChunk) == 0


def test_a_upload_without_the_csrf_token_is_refused(as_member, stages):
    response = as_member.post("/leads/import", data={"file": (io.BytesIO(HUBSPOT.encode()), "x.csv")},
                              content_type="multipart/form-data", csrf=False)
    assert response.status_code == 400 and latest_import() is None


def test_the_upload_page_shows_the_form_and_recent_imports(as_member, stages):
    queued(HUBSPOT.encode())
    page = as_member.get("/leads/import").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in page and 'type="file"' in page and "test.csv" in page


# --- mapping and starting --------------------------------------------------------------------------------

def mapping_form(imp, **changes) -> dict:
    form = {f"col_{i}": field for i, field in imp.mapping.items()}
    form.update(source="Trade show", stage="", owner="", duplicates="skip")
    form.update(changes)
    return form


def test_mapping_two_columns_to_one_field_is_refused_beside_the_second(as_member, stages):
    upload(as_member, HUBSPOT.encode())
    imp = latest_import()
    response = as_member.post(f"/leads/import/{imp.id}", data=mapping_form(imp, col_5="email",
                                                                           stage=str(stages["New"].id)))
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert re.search(r'id="col_5-error">[^<]*already mapped to Email', page)
    db.session.refresh(imp)
    assert imp.status == "uploaded"


def test_a_mapping_without_a_name_company_email_or_phone_is_refused(as_member, stages):
    upload(as_member, HUBSPOT.encode())
    imp = latest_import()
    ignore_people = {f"col_{i}": "ignore" for i in (0, 1, 2, 3, 4)}
    response = as_member.post(f"/leads/import/{imp.id}",
                              data=mapping_form(imp, stage=str(stages["New"].id), **ignore_people))
    assert response.status_code == 422 and "Map at least one column to a name" in response.get_data(as_text=True)


def test_starting_without_redis_says_so_and_keeps_the_import_ready_to_start_again(make_app, member, stages):
    from tests.conftest import Web
    app = make_app(REDIS_URL="redis://127.0.0.1:1/0")  # nothing listens on port 1
    with app.app_context():
        web = Web(app.test_client())
        web.login(member)
        upload(web, HUBSPOT.encode())
        imp = latest_import()
        response = web.post(f"/leads/import/{imp.id}",
                            data=mapping_form(imp, col_0="first_name", stage=str(stages["Contacted"].id),
                                              duplicates="update"))
        page = response.get_data(as_text=True)
        assert response.status_code == 503
        assert "The import could not start: Redis did not answer" in page and "Start import" in page
        db.session.refresh(imp)
        assert (imp.status, imp.duplicates, imp.default_source) == ("uploaded", "update", "Trade show")
        assert imp.default_stage_id == stages["Contacted"].id


def test_the_progress_page_of_an_import_not_started_leads_back_to_its_mapping(as_member, stages):
    upload(as_member, HUBSPOT.encode())
    imp = latest_import()
    response = as_member.get(f"/leads/import/{imp.id}/progress")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/leads/import/{imp.id}")


# --- running the import ------------------------------------------------------------------------------------

@pytest.fixture
def existing(make_lead):
    return make_lead(first_name="Ada", last_name="Lovelace", email="ada@example.com", company=None,
                     job_title="Mathematician")


def test_skip_mode_creates_new_people_skips_known_ones_and_rejects_bad_rows(stages, existing, member):
    imp = queued(HUBSPOT.encode(), duplicates="skip", default_source="Trade show", strict=True,
                 default_stage_id=stages["Contacted"].id, default_owner_id=member.id)
    imp = run_import(imp.id)
    assert (imp.status, imp.rows_done, imp.created_count, imp.updated_count, imp.skipped_count,
            imp.rejected_count) == ("done", 4, 1, 0, 2, 1)
    assert imp.processed_bytes == imp.size_bytes and count(ImportChunk) == 0
    grace = db.session.scalar(select(Lead).where(Lead.email == "grace@example.com"))
    assert (grace.stage_id, grace.owner_id, grace.source, grace.utm_campaign) == \
        (stages["Contacted"].id, member.id, "Trade show", "spring")
    db.session.refresh(existing)
    assert existing.company is None  # skipped: left as it was
    created = db.session.scalar(select(TimelineEntry).where(TimelineEntry.lead_id == grace.id))
    assert created.kind == "created" and created.data["via"] == "CSV import"
    # The owner hears once, when it is done, how many new leads are theirs (not once per lead).
    [notice] = db.session.scalars(select(Notification).where(Notification.user_id == member.id)).all()
    assert (notice.kind, notice.message, notice.url) == (
        "assigned", "Someone imported 1 lead for you from test.csv.", "/leads?owner=me")


def test_update_mode_overwrites_the_known_lead_with_the_rows_values(stages, existing):
    imp = run_import(queued(HUBSPOT.encode(), duplicates="update", strict=True).id)
    assert (imp.created_count, imp.updated_count, imp.skipped_count, imp.rejected_count) == (1, 2, 0, 1)
    db.session.refresh(existing)
    # The file's last Ada row wins; the row's own source beats the default.
    assert (existing.company, existing.last_name, existing.job_title) == ("Analytical Engines Ltd", "L.", "Countess")
    assert existing.phone == "+14155550101" and str(existing.value) == "2500.00" and existing.source == "Referral"


def test_keep_mode_adds_every_row_as_a_new_lead(stages, existing):
    imp = run_import(queued(HUBSPOT.encode(), duplicates="keep", strict=True).id)
    assert (imp.created_count, imp.updated_count, imp.skipped_count, imp.rejected_count) == (3, 0, 0, 1)
    assert count(Lead, Lead.email == "ada@example.com") == 3


def test_a_second_run_of_the_same_import_does_nothing(stages):
    imp = queued(HUBSPOT.encode(), strict=True)
    run_import(imp.id)
    assert run_import(imp.id) is None
    assert count(Lead) == 2 and count(ImportRow, ImportRow.outcome == "rejected") == 1


def test_a_full_name_column_and_a_semicolon_windows_1252_file_import_cleanly(stages):
    data = "Name;E-mail;Organisation;Deal Value\nZoë Müller;zoe@example.com;Café GmbH;1.234,50\n".encode("cp1252")
    imp = queued(data)
    assert (imp.encoding, imp.delimiter) == ("cp1252", ";")
    run_import(imp.id)
    lead = db.session.scalar(select(Lead))
    assert (lead.first_name, lead.last_name, lead.company, str(lead.value)) == ("Zoë", "Müller", "Café GmbH", "1234.50")


def test_a_row_with_broken_bytes_is_rejected_and_the_rows_around_it_are_kept(stages):
    data = ("Email,Company\nzoe@example.com,Café\n".encode("utf-8") + b"bad@example.com,Caf\xe9\n"
            + "ana@example.com,Señor\n".encode("utf-8"))
    imp = run_import(queued(data).id)
    assert (imp.created_count, imp.rejected_count) == (2, 1)
    rejection = db.session.scalar(select(ImportRow).where(ImportRow.outcome == "rejected"))
    assert rejection.row_number == 3 and "not valid text" in rejection.reason
    assert rejection.values == ["bad@example.com", "Caf\ufffd"]


def test_rows_with_too_many_values_are_rejected_not_shifted(stages):
    data = b"Email,Company\nada@example.com,Acme, Inc\ngrace@example.com,Navy\n"
    imp = run_import(queued(data).id)
    assert (imp.created_count, imp.rejected_count) == (1, 1)
    assert "has 3 values but the header has 2 columns" in db.session.scalar(select(ImportRow.reason).where(ImportRow.outcome == "rejected")).lower()


def test_the_rejected_rows_download_gives_row_reason_and_values_with_formulas_defused(as_member, member, stages):
    data = csv_bytes([["Email", "Company"], ["ok@example.com", "Fine"], ["=HYPERLINK(\"x\")", "-Evil"],
                      ["", "N/A"]])
    imp = run_import(queued(data, strict=True, created_by_id=member.id).id)
    response = as_member.get(f"/leads/import/{imp.id}/rejected.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = read_csv(response)
    assert rows[0] == ["Row", "Reason", "Email", "Company"]
    assert rows[1][0] == "3" and rows[1][1].startswith("Email: Enter a valid email address")
    assert rows[1][2:] == ["'=HYPERLINK(\"x\")", "'-Evil"]
    assert rows[2][0] == "4" and "no name, company, email or phone" in rows[2][1]


def test_the_finished_progress_fragment_shows_the_counts_and_stops_polling(as_member, member, stages, existing):
    imp = run_import(queued(HUBSPOT.encode(), strict=True, created_by_id=member.id).id)
    response = as_member.get(f"/leads/import/{imp.id}/progress", htmx=True)
    fragment = response.get_data(as_text=True)
    assert "<html" not in fragment and 'id="import-progress"' in fragment and "hx-trigger" not in fragment
    assert re.search(r'id="count-created">1<', fragment) and re.search(r'id="count-skipped">2<', fragment)
    assert re.search(r'id="count-rejected">1<', fragment) and f"/leads/import/{imp.id}/rejected.csv" in fragment
    assert 'id="flash"' in fragment and 'hx-swap-oob' in fragment and "Import finished: 1 created" in fragment


def test_a_running_import_polls_every_second_and_its_page_survives_a_reload(as_member, stages):
    imp = queued(HUBSPOT.encode())
    imp.status, imp.rows_done, imp.processed_bytes = "running", 2, imp.size_bytes // 2
    db.session.commit()
    page = as_member.get(f"/leads/import/{imp.id}/progress").get_data(as_text=True)
    assert "<html" in page and 'hx-trigger="every 1s"' in page
    value = re.search(r'<progress id="import-bar" max="100" value="(\d+)"', page).group(1)
    assert value == str(imports.percent_done(imp)) and 45 <= int(value) <= 50
    assert f"2 of {imp.row_count} rows so far" in page and imp.row_count > 2


def test_a_crash_mid_way_leaves_counts_that_match_the_saved_leads(stages, monkeypatch):
    # Batches end by rows here, not by the clock: on a busy machine 25 captures can take a second.
    monkeypatch.setattr(imports, "BATCH_SECONDS", 60.0)
    rows = [["Email", "First Name"]] + [[f"p{i}@example.com", f"P{i}"] for i in range(400)]
    imp = queued(csv_bytes(rows), chunk_bytes=1024)
    chunks = count(ImportChunk, ImportChunk.import_id == imp.id)
    db.session.execute(ImportChunk.__table__.delete().where(ImportChunk.import_id == imp.id,
                                                            ImportChunk.seq == chunks // 2))
    db.session.commit()
    imp = run_import(imp.id, batch_rows=25)
    assert imp.status == "failed" and "Part of the uploaded file is missing" in imp.error
    assert 0 < imp.created_count < 400 and imp.created_count % 25 == 0
    assert count(Lead) == imp.created_count == imp.rows_done
    assert 0 < imp.processed_bytes < imp.size_bytes


# --- export ---------------------------------------------------------------------------------------------

def test_the_export_streams_the_pools_current_filter_in_its_order(as_member, member, stages, make_lead):
    make_lead(first_name="Ada", last_name="Alpha", company="Acme", source="Web", value="10")
    make_lead(first_name="Bea", last_name="Beta", company="Acme", source="Web", value="30", owner=member)
    make_lead(first_name="Cy", last_name="Gamma", company="Acme", source="Fair", value="20")
    make_lead(first_name="Dee", last_name="Delta", company="Other", source="Web", value="40", stage="Won")

    response = as_member.get(f"/leads/export.csv?q=acme&source=Web&sort=value&dir=desc&stage={stages['New'].id}")
    assert response.status_code == 200 and response.is_streamed
    rows = read_csv(response)
    assert rows[0][:3] == ["ID", "First name", "Last name"]
    assert [r[1] for r in rows[1:]] == ["Bea", "Ada"]
    assert rows[1][9:11] == ["New", "Max Member"] and rows[2][10] == ""

    mine = read_csv(as_member.get("/leads/export.csv?owner=me"))
    assert [r[1] for r in mine[1:]] == ["Bea"]
    everyone = read_csv(as_member.get("/leads/export.csv?sort=name&dir=asc"))
    assert [r[2] for r in everyone[1:]] == ["Alpha", "Beta", "Delta", "Gamma"]


def test_exported_cells_never_start_a_formula(as_member, stages, make_lead):
    make_lead(first_name="=cmd|' /C calc'!A0", last_name="@SUM(1)", phone="+1 415 555 0199", company="-1+1")
    rows = read_csv(as_member.get("/leads/export.csv"))
    lead = dict(zip(rows[0], rows[1]))
    assert lead["First name"] == "'=cmd|' /C calc'!A0" and lead["Last name"] == "'@SUM(1)"
    assert lead["Phone"] == "'+14155550199" and lead["Company"] == "'-1+1"


def test_an_exported_file_imports_back_without_losing_the_defused_values(as_member, stages, make_lead):
    make_lead(first_name="Ada", last_name="Lovelace", email="ada@example.com", phone="+1 415 555 0101",
              company="=Engines", value="1500")
    exported = as_member.get("/leads/export.csv").get_data()
    db.session.execute(Lead.__table__.delete())
    db.session.commit()
    imp = run_import(queued(exported).id)
    assert (imp.encoding, imp.created_count, imp.rejected_count) == ("utf-8-sig", 1, 0)
    lead = db.session.scalar(select(Lead))
    assert (lead.phone, lead.company, str(lead.value)) == ("+14155550101", "=Engines", "1500.00")


def test_a_bad_export_filter_is_a_400_not_a_500(as_member, stages):
    response = as_member.get("/leads/export.csv?owner=somebody")
    assert response.status_code == 400


def test_utf16_exports_from_spreadsheets_import_too(stages):
    data = codecs.BOM_UTF16_LE + "Email\tFirst Name\r\nzoe@example.com\tZoë\r\n".encode("utf-16-le")
    imp = queued(data)
    assert (imp.encoding, imp.delimiter) == ("utf-16", "\t")
    run_import(imp.id)
    assert db.session.scalar(select(Lead.first_name)) == "Zoë"


def test_a_stopped_import_can_be_undone_and_removes_what_it_saved(stages, admin, monkeypatch):
    from app.services import import_ledger
    monkeypatch.setattr(imports, "BATCH_SECONDS", 60.0)
    rows = [["Email", "First Name"]] + [[f"p{i}@example.com", f"P{i}"] for i in range(200)]
    imp = queued(csv_bytes(rows), chunk_bytes=1024)
    db.session.execute(ImportChunk.__table__.delete().where(ImportChunk.import_id == imp.id, ImportChunk.seq == 3))
    db.session.commit()
    imp = run_import(imp.id, batch_rows=25)
    assert imp.status == "failed" and imp.created_count > 0 and count(Lead) == imp.created_count
    assert import_ledger.undo_refusal(imp, admin) is None
    undone = import_ledger.undo_import(imp.id, admin.id)
    assert undone.removed == imp.created_count and count(Lead) == 0
