"""Every row of an import accounted for: the ledger (import_rows), the result page and its CSV, the
pool filtered to an import, undoing an import within a day, discarding an upload never started."""
import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import ImportChunk, ImportRow, Lead, LeadImport, TimelineEntry
from app.services import import_ledger, utcnow
from app.services.imports import create_import, run_import
from app.services.merge import merge_leads
from tests.integration.test_import import csv_bytes, queued

FILE = csv_bytes([
    ["Email", "First name", "Last name", "Company"],
    ["ada@example.com", "Ada", "Lovelace", "Engines"],        # row 2: created
    ["grace@example.com", "Grace", "", "Navy Yard"],          # row 3: updated (company overwritten) or skipped
    ["not-an-email", "", "", ""],                             # row 4: rejected (nothing readable identifies a lead)
    ["linus@example.com", "Linus", "Torvalds", "Kernel"],     # row 5: merged (company filled) or skipped
])


def lead(email: str) -> Lead | None:
    return db.session.scalar(select(Lead).where(Lead.email == email))


def ledger(import_id: int) -> dict[int, tuple]:
    rows = db.session.execute(select(ImportRow.row_number, ImportRow.outcome, ImportRow.lead_id, ImportRow.reason)
                              .where(ImportRow.import_id == import_id)).all()
    return {r.row_number: (r.outcome, r.lead_id, r.reason) for r in rows}


@pytest.fixture
def known(make_lead):
    """Grace with another company, and Linus without one: the file updates one and fills the other."""
    grace = make_lead(first_name="Grace", last_name="Hopper", email="grace@example.com", company="Navy")
    linus = make_lead(first_name="Linus", last_name="Torvalds", email="linus@example.com")
    db.session.commit()
    return grace, linus


def imported(member=None, duplicates="update", data=FILE) -> LeadImport:
    imp = queued(data, duplicates=duplicates)
    if member is not None:
        imp.created_by_id = member.id
        db.session.commit()
    return run_import(imp.id)


def test_every_row_is_in_the_ledger_with_its_outcome_lead_and_reason(stages, known):
    grace, linus = known
    imp = imported()
    rows = ledger(imp.id)
    ada = lead("ada@example.com")
    assert rows[2][:2] == ("created", ada.id)
    assert rows[3][:2] == ("updated", grace.id)
    assert rows[4][0] == "rejected" and rows[4][1] is None and "no name, company, email or phone" in rows[4][2]
    assert rows[5][:2] == ("merged", linus.id)
    changes = db.session.scalar(select(ImportRow.changes).where(ImportRow.import_id == imp.id, ImportRow.row_number == 3))
    assert changes["company"] == ["Navy", "Navy Yard"]
    assert import_ledger.outcome_counts(imp.id) == {"created": 1, "updated": 1, "merged": 1, "skipped": 0,
                                                    "rejected": 1}


def test_importing_the_same_file_twice_creates_nothing_new(stages):
    first = imported(duplicates="skip")
    leads_after_first = db.session.scalar(select(func.count()).select_from(Lead))
    second = imported(duplicates="skip")
    assert first.created_count == 3 and second.created_count == 0
    assert db.session.scalar(select(func.count()).select_from(Lead)) == leads_after_first == 3
    rows = ledger(second.id)
    assert [rows[n][0] for n in (2, 3, 5)] == ["skipped"] * 3
    assert rows[2][1] == lead("ada@example.com").id and rows[2][2] == "Already a lead (same email)."


def test_the_result_page_lists_rows_by_outcome_with_lead_names_and_pages_by_row_number(as_member, member, stages, known):
    imp = imported(member)
    page = as_member.get(f"/leads/import/{imp.id}/progress").get_data(as_text=True)
    assert 'id="ledger-count-created">1<' in page and 'id="ledger-count-rejected">1<' in page
    ada = lead("ada@example.com")
    assert f'<a href="/leads/{ada.id}">Ada Lovelace</a>' in page
    assert "Merged into" in page and "Grace Hopper" in page
    assert f'href="/leads?import={imp.id}"' in page and "Download the row report (CSV)" in page

    rejected = as_member.get(f"/leads/import/{imp.id}/progress?outcome=rejected", htmx=True).get_data(as_text=True)
    assert "<html" not in rejected and 'id="ledger-row-4"' in rejected and 'id="ledger-row-2"' not in rejected

    small = import_ledger.rows_page(imp.id, limit=2)
    assert [line.row_number for line in small.lines] == [2, 3] and small.next_after == 3
    rest = import_ledger.rows_page(imp.id, after=small.next_after, limit=2)
    assert [line.row_number for line in rest.lines] == [4, 5] and rest.next_after is None


def test_the_row_report_csv_has_every_row_with_the_rejected_rows_values(as_member, member, stages, known):
    imp = imported(member)
    response = as_member.get(f"/leads/import/{imp.id}/rows.csv")
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["Row", "Outcome", "Lead", "Lead email", "Reason", "Email", "First name", "Last name", "Company"]
    assert [r[:3] for r in rows[1:]] == [["2", "Created", "Ada Lovelace"], ["3", "Updated", "Grace Hopper"],
                                         ["4", "Rejected", ""], ["5", "Merged", "Linus Torvalds"]]
    assert rows[3][5:] == ["not-an-email", "", "", ""]


def test_the_pool_filtered_to_an_import_shows_its_leads_and_a_chip_naming_the_file(as_member, stages, known,
                                                                                   make_lead):
    make_lead(first_name="Other", last_name="Person", email="other@example.com")
    db.session.commit()
    imp = imported()
    page = as_member.get(f"/leads?import={imp.id}").get_data(as_text=True)
    assert "Ada" in page and "Grace" in page and "Linus" in page and "other@example.com" not in page
    assert 'id="import-chip"' in page and "test.csv" in page
    assert 'href="/leads">Remove this filter' in page
    assert "other@example.com" in as_member.get("/leads").get_data(as_text=True)


def test_undoing_an_import_removes_its_leads_reverts_its_updates_and_says_so(as_member, member, stages, known):
    grace, linus = known
    imp = imported(member)
    ada_id = lead("ada@example.com").id
    confirm = as_member.get(f"/leads/import/{imp.id}/undo")
    assert confirm.status_code == 200 and "Undo the import of test.csv?" in confirm.get_data(as_text=True)
    assert lead("ada@example.com") is not None  # asking changed nothing

    response = as_member.post(f"/leads/import/{imp.id}/undo")
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Lead, ada_id) is None
    assert db.session.get(Lead, grace.id).company == "Navy"
    assert db.session.get(Lead, linus.id).company in (None, "")
    entries = db.session.scalars(select(TimelineEntry).where(TimelineEntry.kind == "import_undone")).all()
    assert {e.lead_id for e in entries} == {grace.id, linus.id}
    assert next(e for e in entries if e.lead_id == grace.id).data["reverted"] == {"company": ["Navy Yard", "Navy"]}
    assert db.session.get(LeadImport, imp.id).undone_at is not None
    shown = as_member.get(f"/leads/{grace.id}").get_data(as_text=True)
    assert "The import of test.csv was undone" in shown

    again = as_member.post(f"/leads/import/{imp.id}/undo")
    assert again.status_code == 409 and "already undone" in again.get_data(as_text=True)


def test_undo_keeps_a_created_lead_merged_into_since_and_a_field_changed_since(as_admin, admin, stages, known,
                                                                               make_lead):
    grace, _ = known
    imp = imported()
    ada = lead("ada@example.com")
    twin = make_lead(first_name="Ada", last_name="Lovelace", email="ada.l@example.com", phone="+14155550101")
    merge_leads(ada.id, twin.id, {"phone": "loser"}, admin.id)
    grace = db.session.get(Lead, grace.id)
    grace.company = "Navy Research"  # changed again after the import
    db.session.commit()

    undone = import_ledger.undo_import(imp.id, admin.id)
    assert undone.kept == [ada.id] and undone.removed == 0
    kept = db.session.get(Lead, ada.id)
    assert kept is not None and kept.phone == "+14155550101"
    assert db.session.get(Lead, grace.id).company == "Navy Research"
    entry = db.session.scalar(select(TimelineEntry).where(TimelineEntry.kind == "import_undone",
                                                          TimelineEntry.lead_id == grace.id))
    assert entry.data["left"] == ["company"] and entry.data["reverted"] == {}


def test_undo_is_refused_after_a_day_to_other_members_and_for_unknown_ids(as_member, member, make_user, web,
                                                                          stages, known):
    imp = imported(make_user(name="Someone Else"))
    refused = as_member.post(f"/leads/import/{imp.id}/undo")
    assert refused.status_code == 403 and "Only an admin or the person who ran this import" in refused.get_data(as_text=True)
    assert lead("ada@example.com") is not None
    assert as_member.get("/leads/import/999999/undo").status_code == 404
    assert as_member.post("/leads/import/999999/discard").status_code == 404

    mine = imported(member)
    db.session.get(LeadImport, mine.id).finished_at = utcnow() - timedelta(hours=25)
    db.session.commit()
    page = as_member.get(f"/leads/import/{mine.id}/progress").get_data(as_text=True)
    assert "Undo this import" not in page
    late = as_member.post(f"/leads/import/{mine.id}/undo")
    assert late.status_code == 410 and "more than a day ago" in late.get_data(as_text=True)
    assert db.session.get(LeadImport, mine.id).undone_at is None


def test_undo_and_discard_need_a_csrf_token(as_member, member, stages):
    imp = imported(member)
    response = as_member.post(f"/leads/import/{imp.id}/undo", csrf=False)
    assert response.status_code == 400 and lead("ada@example.com") is not None
    upload = create_import(io.BytesIO(FILE), "never.csv", member.id)
    db.session.commit()
    assert as_member.post(f"/leads/import/{upload.id}/discard", csrf=False).status_code == 400
    assert db.session.get(LeadImport, upload.id) is not None


def test_discarding_an_upload_never_started_removes_it_and_its_file(as_member, member, stages):
    upload_id = create_import(io.BytesIO(FILE), "never.csv", member.id).id
    db.session.commit()
    confirm = as_member.get(f"/leads/import/{upload_id}/discard").get_data(as_text=True)
    assert "Discard the upload of never.csv?" in confirm
    response = as_member.post(f"/leads/import/{upload_id}/discard")
    assert response.status_code == 302 and response.headers["Location"].endswith("/leads/import")
    db.session.expire_all()
    assert db.session.get(LeadImport, upload_id) is None
    assert db.session.scalar(select(func.count()).select_from(ImportChunk)
                             .where(ImportChunk.import_id == upload_id)) == 0


def test_a_started_import_cannot_be_discarded(as_member, member, stages):
    imp = imported(member)
    response = as_member.post(f"/leads/import/{imp.id}/discard")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/leads/import/{imp.id}/progress")
    assert "already started, so there is no upload to discard" in as_member.get(response.headers["Location"]).get_data(as_text=True)
    assert db.session.get(LeadImport, imp.id) is not None
    with pytest.raises(import_ledger.ImportUndoRefused):
        import_ledger.discard_import(imp.id, member.id)


def test_undo_keeps_a_created_lead_someone_worked_on_since(as_member, member, stages):
    """A teammate's note, or the same person captured again with more details, is not the file's to take back."""
    from app.services.leads import add_note
    imp = imported(member)
    ada = lead("ada@example.com")
    add_note(ada.id, "Called: wants 500 seats", member.id)
    undone = import_ledger.undo_import(imp.id, member.id)
    assert lead("ada@example.com") is not None and undone.kept == [ada.id]
    entry = db.session.scalar(select(TimelineEntry).where(TimelineEntry.lead_id == ada.id,
                                                          TimelineEntry.kind == "import_undone"))
    assert entry.data["kept"] == "It was changed or added to since the import"


def test_a_second_undo_at_the_same_moment_is_refused_not_run_again(member, stages):
    """The second undo had read the import before the first committed; it must read it afresh."""
    from sqlalchemy.orm.attributes import set_committed_value
    imp = imported(member)
    import_ledger.undo_import(imp.id, member.id)
    entries = db.session.scalar(select(func.count()).select_from(TimelineEntry))
    stale = db.session.get(LeadImport, imp.id)
    set_committed_value(stale, "undone_at", None)  # what a request that loaded it a moment earlier holds
    with pytest.raises(import_ledger.ImportUndoRefused, match="already undone"):
        import_ledger.undo_import(imp.id, member.id)
    assert db.session.scalar(select(func.count()).select_from(TimelineEntry)) == entries  # nothing written twice


def test_a_member_cannot_start_or_change_anothers_upload(as_member, make_user, stages):
    someone = make_user(name="Someone Else")
    upload = create_import(io.BytesIO(FILE), "theirs.csv", someone.id)
    db.session.commit()
    started = as_member.post(f"/leads/import/{upload.id}", {"col_0": "email", "duplicates": "skip", "stage": "",
                                                          "owner": ""})
    assert started.status_code == 403 and "Only an admin or the person who ran this import" in started.get_data(as_text=True)
    header = as_member.post(f"/leads/import/{upload.id}/header", {"header_row": "2"})
    assert header.status_code == 403
    db.session.expire_all()
    assert (db.session.get(LeadImport, upload.id).status, db.session.get(LeadImport, upload.id).header_row) == ("uploaded", 1)
    preview = as_member.get(f"/leads/import/{upload.id}")  # the file's rows are its uploader's until imported
    assert preview.status_code == 403 and "ada@example.com" not in preview.get_data(as_text=True)


def test_the_rows_of_anothers_import_are_for_them_and_admins(app, as_member, admin, make_user, stages):
    from tests.conftest import Web
    as_admin = Web(app.test_client())
    as_admin.login(admin)
    someone = make_user(name="Someone Else")
    imp = imported(someone)
    page = as_member.get(f"/leads/import/{imp.id}/progress").get_data(as_text=True)
    assert "Import finished" in page and f"/leads/import/{imp.id}/rows.csv" not in page
    for path in (f"/leads/import/{imp.id}/rows.csv", f"/leads/import/{imp.id}/rejected.csv"):
        refused = as_member.get(path)
        assert refused.status_code == 403 and "not-an-email" not in refused.get_data(as_text=True)
        allowed = as_admin.get(path)
        assert allowed.status_code == 200 and "not-an-email" in allowed.get_data(as_text=True)


def test_an_import_too_large_to_undo_offers_no_undo(as_member, member, stages, monkeypatch):
    monkeypatch.setattr(import_ledger, "UNDO_LIMIT", 1)
    imp = imported(member)
    page = as_member.get(f"/leads/import/{imp.id}/progress").get_data(as_text=True)
    assert f"/leads/import/{imp.id}/undo" not in page
    assert 'id="import-no-undo"' in page and "undoes at most 1 at once, so it cannot be undone" in page
    refused = as_member.get(f"/leads/import/{imp.id}/undo")
    assert refused.status_code == 409 and "undoes at most 1 at once" in refused.get_data(as_text=True)


def test_an_import_that_changed_nothing_says_so_and_offers_no_undo(as_member, member, stages):
    imported(member, duplicates="skip")
    again = imported(member, duplicates="skip")
    page = as_member.get(f"/leads/import/{again.id}/progress").get_data(as_text=True)
    assert 'id="import-nothing-new"' in page and "every row that named someone is already a lead" in page
    assert f"/leads/import/{again.id}/undo" not in page
    refused = as_member.get(f"/leads/import/{again.id}/undo")
    assert refused.status_code == 409 and "nothing to undo" in refused.get_data(as_text=True)
    first_page = as_member.get("/leads/import").get_data(as_text=True)
    assert "import-nothing-new" not in first_page


@pytest.mark.parametrize("bad", ["abc", "-1", "99999999999999999999"])
def test_a_pool_filtered_by_a_bad_import_says_so_and_shows_every_lead(as_member, make_lead, bad):
    make_lead(first_name="Shown", email="shown@example.com")
    db.session.commit()
    response = as_member.get(f"/leads?import={bad}")
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "That is not an import of this team" in page
    assert "shown@example.com" in page or "Shown" in page


def test_two_imported_leads_merge_and_their_ledger_rows_follow_and_come_back_on_undo(member, stages):
    from app.services.merge import merge_leads, undo_merge
    imp = imported(member)
    ada, linus = lead("ada@example.com"), lead("linus@example.com")
    merge = merge_leads(ada.id, linus.id, {}, member.id)
    assert ledger(imp.id)[5][1] == ada.id  # Linus's row now names the lead he is part of
    undo_merge(merge.id, member.id)
    assert ledger(imp.id)[5][1] == lead("linus@example.com").id


def test_a_cell_over_128_kib_is_one_cell_and_the_rows_after_it_are_imported(stages):
    """Python's csv refuses cells over 128 KiB by default and then read the cell's lines as rows."""
    note = "\n".join(["Hi team", "Thanks", "Bob Builder"] * 8000)  # ~180 KB, line breaks inside quotes
    imp = run_import(queued(csv_bytes([["Email", "Name", "Description"],
                                       ["ada@example.com", "Ada", "short"],
                                       ["grace@example.com", "Grace", note],
                                       ["linus@example.com", "Linus", "after the long one"]]), duplicates="skip").id)
    assert imp.status == "done" and imp.rows_done == 3
    rows = ledger(imp.id)
    assert sorted(rows) == [2, 3, 4]
    assert rows[2][0] == rows[4][0] == "created"
    assert lead("linus@example.com").description == "after the long one"
    assert db.session.scalar(select(func.count()).select_from(Lead)) == 3


def test_undo_waits_for_a_capture_of_the_same_person_and_then_keeps_the_lead(app, database_url, member, stages):
    """An undo that read "nothing since" and then deleted used to remove a lead a capture was writing
    into at that moment (PostgreSQL): the undo now takes the capture's identity locks first."""
    import threading
    import time

    from app.services import atomic, identity
    from app.services.leads import add_note
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite writes one transaction at a time")
    imp = imported(member)
    ada_id, member_id, imp_id = lead("ada@example.com").id, member.id, imp.id
    held, go, outcome = threading.Event(), threading.Event(), {}

    def capture_meanwhile():
        with app.app_context():
            try:
                with atomic():
                    identity.hold({"email": "ada@example.com"})  # as capture_lead does, first
                    held.set()
                    go.wait(10)
                    add_note(ada_id, "Same person, sent the form again", member_id)
            finally:
                db.session.remove()

    def undo():
        with app.app_context():
            try:
                outcome["undone"] = import_ledger.undo_import(imp_id, member_id)
            except Exception as exc:  # the outcome under test
                outcome["undone"] = exc
            finally:
                db.session.remove()

    capturing = threading.Thread(target=capture_meanwhile)
    capturing.start()
    assert held.wait(10)
    undoing = threading.Thread(target=undo)
    undoing.start()
    time.sleep(0.5)
    assert undoing.is_alive(), "the undo went ahead while a capture of the same person was open"
    go.set()
    capturing.join(20)
    undoing.join(20)
    assert outcome["undone"].kept == [ada_id] and outcome["undone"].removed == 2  # Grace and Linus
    db.session.expire_all()
    assert lead("ada@example.com") is not None
    assert db.session.scalar(select(func.count()).select_from(TimelineEntry).where(
        TimelineEntry.lead_id == ada_id, TimelineEntry.kind == "note")) == 1


def test_a_change_to_something_removed_meanwhile_is_a_409_not_a_500(app):
    """What a request read was removed by another at the same moment (a lead an undo deleted): the
    database refuses the write; the person hears that, and nothing was saved."""
    from sqlalchemy.exc import IntegrityError
    from sqlalchemy.orm.exc import StaleDataError

    class Orig(Exception):
        sqlstate = "23503"

    for exc in (StaleDataError("UPDATE statement on table 'leads' expected to update 1 row(s); 0 were matched."),
                IntegrityError("INSERT INTO notes ...", {}, Orig("violates foreign key constraint"))):
        with app.test_request_context("/leads/1/notes", method="POST"):
            handler = app._find_error_handler(exc, [])
            page, status = handler(exc)
            assert status == 409 and "removed or changed this at the same moment" in page
    unique = IntegrityError("INSERT INTO tags ...", {}, Exception("UNIQUE constraint failed: tags.name"))
    with app.test_request_context("/leads/1/notes", method="POST"):
        assert app._find_error_handler(unique, [])(unique)[1] == 500  # a bug stays a bug


def test_a_large_undo_locks_the_table_instead_of_every_person(monkeypatch, member, stages):
    """Person-by-person locks of a 20,000-lead undo filled PostgreSQL's shared lock table; past a
    bound the undo locks the leads table instead (here the bound is lowered to reach that path)."""
    monkeypatch.setattr(import_ledger, "HOLD_ONE_BY_ONE_UP_TO", 0)
    imp = imported(member)
    undone = import_ledger.undo_import(imp.id, member.id)
    assert undone.removed == 3 and lead("ada@example.com") is None
