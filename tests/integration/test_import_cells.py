"""Messy real-world files: each class of problem in a file of its own, with the leads it makes and
what the import says about each row (its outcome, its reason, the notes kept on the lead's timeline)."""
import codecs
import re
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import ImportRow, Lead, LeadImport, TimelineEntry
from app.services import custom_fields as cf
from app.services import imports
from app.services.custom_fields import FieldSettings
from app.services.imports import run_import
from tests.integration.test_import import csv_bytes, latest_import, queued, upload


@pytest.fixture
def outcomes(monkeypatch):
    """Every RowOutcome the import hands to _write_outcomes, by row number (the writer still runs)."""
    seen = {}
    write = imports._write_outcomes

    def keep(plan, batch):
        seen.update({o.row_number: o for o in batch})
        return write(plan, batch)

    monkeypatch.setattr(imports, "_write_outcomes", keep)
    return seen


def lead_by(email: str) -> Lead:
    return db.session.scalar(select(Lead).where(Lead.email == email))


def notes_of(lead: Lead) -> list[str]:
    entries = db.session.scalars(select(TimelineEntry).where(TimelineEntry.lead_id == lead.id,
                                                             TimelineEntry.kind == "import_notes")).all()
    return [note for entry in entries for note in entry.data["notes"]]


def rejections() -> dict[int, str]:
    return dict(db.session.execute(select(ImportRow.row_number, ImportRow.reason).where(ImportRow.outcome == "rejected")).all())


# --- the file's shape ---------------------------------------------------------------------------------

def test_multi_line_cells_are_kept_as_written_crlf_and_all(app, stages):
    notes = cf.create_field(FieldSettings("Meeting notes", kind="long_text"))
    data = (b'Email,First name,Meeting notes\r\n'
            b'ada@example.com,Ada,"Met at the fair.\r\nWants a demo\r\n\r\nin May"\r\n'
            b'"grace@example.com","Grace","one\nline ""quoted""\n"\r\n')
    imp = queued(data)
    assert imp.row_count == 2
    imp = run_import(imp.id)
    assert (imp.created_count, imp.rejected_count) == (2, 0)
    values = cf.values_for([lead_by("ada@example.com").id, lead_by("grace@example.com").id])
    assert values[lead_by("ada@example.com").id][notes.key] == "Met at the fair.\r\nWants a demo\r\n\r\nin May"
    assert values[lead_by("grace@example.com").id][notes.key] == 'one\nline "quoted"'


def test_a_utf8_bom_does_not_hide_the_first_header(stages):
    data = codecs.BOM_UTF8 + "Email,First name,Last name\nzoe@example.com,Zoë,Müller\n".encode("utf-8")
    imp = queued(data)
    assert imp.encoding == "utf-8-sig" and imp.headers[0] == "Email" and imp.mapping["0"] == "email"
    run_import(imp.id)
    assert lead_by("zoe@example.com").first_name == "Zoë"


def test_a_latin1_file_with_crlf_line_ends_imports_its_accents_and_line_breaks(stages):
    data = ('Name,E-mail,Company\r\n"Zoë Müller",zoe@example.com,"Café Crème\r\nSàrl"\r\n'
            "José Núñez,jose@example.com,Señor Ltd\r\n").encode("cp1252")
    imp = queued(data)
    assert imp.encoding == "cp1252" and imp.row_count == 2
    imp = run_import(imp.id)
    assert (imp.created_count, imp.rejected_count) == (2, 0)
    zoe, jose = lead_by("zoe@example.com"), lead_by("jose@example.com")
    assert (zoe.first_name, zoe.last_name, zoe.company) == ("Zoë", "Müller", "Café Crème\r\nSàrl")
    assert (jose.first_name, jose.last_name) == ("José", "Núñez")


def test_a_semicolon_file_with_decimal_commas_and_dot_thousands(stages):
    data = "E-Mail;First name;Amount\nanna@example.de;Anna;1.234.567,89\nben@example.de;Ben;1.200 €\n".encode()
    imp = queued(data)
    assert imp.delimiter == ";" and imp.mapping == {"0": "email", "1": "first_name", "2": "value"}
    run_import(imp.id)
    assert lead_by("anna@example.de").value == Decimal("1234567.89")
    assert lead_by("ben@example.de").value == Decimal("1200.00")


PREAMBLE = (
    "Contacts export\n"
    "Exported by: Jane Doe\n"
    "Exported on:,2024-07-11\n"
    "\n"
    "First Name,Last Name,Email,Phone,Signed up\n"
    "Ada,Lovelace,ada@example.com,+1 415 555 0101,03/04/2024\n"
    "Grace,Hopper,grace@example.com,,05/06/2024\n"
    "\n"
    "Total: 2\n"
    "Exported from HubSpot on 2024-07-11\n"
).encode()


def test_title_metadata_and_blank_lines_above_the_header_are_skipped(stages, outcomes):
    imp = queued(PREAMBLE)
    assert (imp.header_row, imp.headers[:3]) == (5, ["First Name", "Last Name", "Email"])
    assert imp.mapping["2"] == "email" and imp.row_count == 4  # two leads and two notes below the table
    imp = run_import(imp.id)
    assert (imp.rows_done, imp.created_count, imp.rejected_count) == (4, 2, 2)
    assert {lead.email for lead in db.session.scalars(select(Lead))} == {"ada@example.com", "grace@example.com"}
    assert [o.outcome for _, o in sorted(outcomes.items())] == ["created", "created", "rejected", "rejected"]


def test_notes_below_the_table_are_rejected_with_a_reason_never_imported(stages):
    data = csv_bytes([["Name", "Email", "Company"], ["Ada Lovelace", "ada@example.com", "Engines"],
                      ["Grace Hopper", "grace@example.com", "Navy"], [], ["Bob Builder", "", ""],
                      ["Generated by Salesforce", "", ""], ["© 2024 Acme Inc.", "", ""], ["Total", "2", ""]])
    imp = run_import(queued(data).id)
    assert (imp.created_count, imp.rejected_count) == (2, 4)
    assert set(rejections()) == {5, 6, 7, 8}
    assert all(reason.startswith("Looks like a note below the table, not a lead") for reason in rejections().values())
    assert db.session.scalar(select(Lead).where(Lead.first_name == "Bob")) is None


def test_lone_first_cells_after_a_blank_line_are_leads_when_the_table_goes_on(stages):
    """A blank line in the middle of a table, then businesses with only a company: leads, since rows
    of leads follow them; the same rows at the very end of the file are notes."""
    data = csv_bytes([["Company", "Email", "Phone"], ["Engines Ltd", "ada@example.com", ""], [],
                      ["Generated Power Inc", "", ""], ["Total 4 Fitness", "", ""],
                      ["Navy Yard", "grace@example.com", ""], [], ["Kernel Works", "", ""]])
    imp = run_import(queued(data).id)
    assert (imp.created_count, imp.rejected_count) == (4, 1)
    assert set(db.session.scalars(select(Lead.company))) == {"Engines Ltd", "Generated Power Inc", "Total 4 Fitness",
                                                            "Navy Yard"}
    assert list(rejections()) == [8] and rejections()[8].startswith("Looks like a note below the table")


def test_a_list_of_companies_keeps_its_lone_names_after_a_blank_line(stages):
    data = csv_bytes([["Company", "Website", "Phone"], ["Engines Ltd", "", ""], ["Navy Yard", "", ""], [],
                      ["Kernel Works", "", ""], ["Acme Corp", "", ""]])
    imp = run_import(queued(data).id)
    assert (imp.created_count, imp.rejected_count) == (4, 0)


def test_a_row_with_only_its_first_cell_in_the_middle_of_the_table_is_still_a_lead(stages):
    data = csv_bytes([["Name", "Email"], ["Ada Lovelace", "ada@example.com"], ["Grace Hopper", ""],
                      ["Linus Torvalds", "linus@example.com"]])
    imp = run_import(queued(data).id)
    assert (imp.created_count, imp.rejected_count) == (3, 0)


def test_choosing_another_header_line_reads_its_names_and_guesses_the_mapping_again(as_member, stages):
    upload(as_member, PREAMBLE)
    imp = latest_import()
    page = as_member.get(f"/leads/import/{imp.id}").get_data(as_text=True)
    assert "Column names on line 5" in page
    assert re.search(r'<option value="5" selected>Line 5: First Name · Last Name · Email', page)
    assert '<option value="1">Line 1: Contacts export</option>' in page

    response = as_member.post(f"/leads/import/{imp.id}/header", data={"header_row": "6"})
    assert response.status_code == 302
    db.session.refresh(imp)
    assert imp.header_row == 6 and imp.headers[0] == "Ada" and imp.row_count == 3
    assert set(imp.mapping.values()) == {"ignore"}  # "Ada", "ada@example.com" name no field

    as_member.post(f"/leads/import/{imp.id}/header", data={"header_row": "5"})
    db.session.refresh(imp)
    assert (imp.header_row, imp.row_count, imp.mapping["2"]) == (5, 4, "email")


@pytest.mark.parametrize("value", ["99", "", "x"])
def test_a_header_line_not_offered_is_refused_beside_the_choice(as_member, stages, value):
    upload(as_member, PREAMBLE)
    imp = latest_import()
    response = as_member.post(f"/leads/import/{imp.id}/header", data={"header_row": value})
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="header_row-error"' in page and 'aria-invalid="true"' in page
    db.session.refresh(imp)
    assert imp.header_row == 5


# --- cells -------------------------------------------------------------------------------------------

def test_placeholder_cells_are_empty(stages, outcomes):
    data = csv_bytes([["First name", "Last name", "Email", "Phone", "Company", "Country"],
                      ["Ada", "NULL", "ada@example.com", "N/A", "-", "n/a"],
                      ["Grace", "\u00a0\u2003", "grace@example.com", "#N/A", "(none)", "None"],
                      ["None", "null", "--", "NA", " ", "-"]])
    imp = run_import(queued(data).id)
    assert (imp.created_count, imp.rejected_count) == (2, 1)
    ada, grace = lead_by("ada@example.com"), lead_by("grace@example.com")
    assert (ada.last_name, ada.phone, ada.company, ada.country) == ("", None, None, None)
    assert (grace.last_name, grace.phone, grace.company, grace.country) == ("", None, None, None)
    assert notes_of(ada) == [] and outcomes[2].reason is None
    assert "no name, company, email or phone" in rejections()[4]


def test_a_cell_with_several_emails_gives_the_first_that_reads_and_keeps_the_rest(stages, outcomes):
    data = csv_bytes([["Name", "Email", "Phone"],
                      ["Ada Lovelace", "ada@example.com; ada.l@example.org, countess@example.net", ""],
                      ["Grace Hopper", "not-an-email\ngrace@example.com", "+1 415 555 0101, +1 415 555 0102"]])
    imp = run_import(queued(data, default_stage_id=None).id)
    assert (imp.created_count, imp.rejected_count) == (2, 0)
    ada, grace = lead_by("ada@example.com"), lead_by("grace@example.com")
    assert notes_of(ada) == ["Email also held “ada.l@example.org”; kept on the lead's timeline",
                             "Email also held “countess@example.net”; kept on the lead's timeline"]
    assert grace.phone == "+14155550101"
    assert notes_of(grace) == ["Email “not-an-email” could not be read as an email address; kept on the lead's timeline",
                               "Phone also held “+1 415 555 0102”; kept on the lead's timeline"]
    assert outcomes[3].outcome == "created" and outcomes[3].reason == "; ".join(notes_of(grace))


def test_json_cells_from_pipedrive_give_the_primary_value(stages, outcomes):
    emails = '[{"label":"home","value":"ada@home.example.com","primary":false},' \
             '{"label":"work","value":"ada@example.com","primary":true}]'
    phones = '["+44 20 7946 0018", "+44 20 7946 0019"]'
    data = csv_bytes([["Person - Name", "Person - Email", "Person - Phone"], ["Ada Lovelace", emails, phones]])
    imp = run_import(queued(data).id)
    assert (imp.created_count, imp.rejected_count) == (1, 0)
    ada = lead_by("ada@example.com")
    assert (ada.first_name, ada.phone) == ("Ada", "+442079460018")
    assert notes_of(ada) == ["Person - Email also held “ada@home.example.com”; kept on the lead's timeline",
                             "Person - Phone also held “+44 20 7946 0019”; kept on the lead's timeline"]


def test_a_bad_optional_value_is_left_out_kept_on_the_timeline_and_reported(stages, outcomes):
    data = csv_bytes([["Email", "First name", "Phone", "Amount", "Country"],
                      ["ada@example.com", "Ada", "12", "lots", "Atlantis"],
                      ["grace@example.invalid", "Grace", "+1 415 555 0101", "", ""]])
    imp = run_import(queued(data).id)
    assert (imp.created_count, imp.rejected_count) == (2, 0)
    ada = lead_by("ada@example.com")
    assert (ada.phone, ada.value, ada.country) == (None, None, None)
    assert notes_of(ada) == ["Phone “12” could not be read as a phone number; kept on the lead's timeline",
                             "Amount “lots” could not be read as a number; kept on the lead's timeline",
                             "Country “Atlantis” could not be read as a country; kept on the lead's timeline"]
    assert outcomes[2].reason == "; ".join(notes_of(ada))
    grace = db.session.scalar(select(Lead).where(Lead.first_name == "Grace"))
    assert (grace.email, grace.phone) == (None, "+14155550101")
    assert outcomes[3].reason == "Email “grace@example.invalid” could not be read as an email address; kept on the lead's timeline"


def test_a_row_whose_only_identifying_value_is_bad_is_rejected_saying_so(stages):
    data = csv_bytes([["Email", "Job title"], ["not-an-email", "Buyer"], ["ok@example.com", "Fine"]])
    imp = run_import(queued(data).id)
    assert (imp.created_count, imp.rejected_count) == (1, 1)
    reason = rejections()[2]
    assert reason.startswith("Email “not-an-email” could not be read as an email address.") and "no name" in reason


def test_a_strict_import_rejects_the_row_instead(stages):
    data = csv_bytes([["Email", "First name", "Phone"], ["ada@example.com", "Ada", "12"],
                      ["grace@example.com", "Grace", "N/A"]])
    imp = run_import(queued(data, strict=True).id)
    assert (imp.created_count, imp.rejected_count) == (1, 1)
    assert rejections()[2].startswith("Phone: Enter a phone number")
    assert lead_by("grace@example.com").phone is None  # a placeholder is still just empty


def test_the_lead_page_shows_what_the_import_kept(as_member, stages):
    run_import(queued(csv_bytes([["Email", "Phone"], ["ada@example.com", "12"]])).id)
    page = as_member.get(f"/leads/{lead_by('ada@example.com').id}").get_data(as_text=True)
    assert "Imported from test.csv, with what the lead could not take kept here: " \
           "<span class=\"note-body\">Phone “12” could not be read as a phone number</span>." in page


# --- dates and numbers --------------------------------------------------------------------------------

@pytest.fixture
def signed_up(app):
    return cf.create_field(FieldSettings("Signed up", kind="date"))


@pytest.mark.parametrize("order, expected", [("dmy", date(2024, 4, 3)), ("mdy", date(2024, 3, 4))])
def test_ambiguous_dates_read_as_the_import_says(stages, signed_up, order, expected):
    imp = run_import(queued(PREAMBLE, date_order=order).id)
    assert imp.created_count == 2
    ada = lead_by("ada@example.com")
    assert cf.values_for([ada.id])[ada.id]["signed_up"] == expected


def test_dates_in_the_common_formats_fill_a_date_field(stages, signed_up):
    cells = ["2024-07-11T21:22:06.000+0000", "2024-07-11T21:22:06Z", "2024-07-11 21:22", "11/07/2024",
             "11.07.2024", "11 Jul 2024", "July 11, 2024", "2024/07/11"]
    data = csv_bytes([["Email", "Signed up"]] + [[f"p{i}@example.com", cell] for i, cell in enumerate(cells)])
    imp = run_import(queued(data, date_order="dmy").id)
    assert (imp.created_count, imp.rejected_count) == (len(cells), 0)
    leads = db.session.scalars(select(Lead)).all()
    assert {v["signed_up"] for v in cf.values_for([lead.id for lead in leads]).values()} == {date(2024, 7, 11)}


def test_a_date_column_whose_values_show_the_order_decides_for_itself(as_member, stages, signed_up):
    data = csv_bytes([["Email", "Signed up"], ["a@example.com", "03/04/2024"], ["b@example.com", "25/12/2024"]])
    upload(as_member, data)
    imp = latest_import()
    page = as_member.get(f"/leads/import/{imp.id}").get_data(as_text=True)
    assert "Dates like 03/04/2024" not in page
    form = {f"col_{i}": f for i, f in imp.mapping.items()} | {"stage": str(stages["New"].id), "owner": "",
                                                             "duplicates": "skip"}
    as_member.post(f"/leads/import/{imp.id}", data=form)
    db.session.refresh(imp)
    assert imp.date_order == "dmy"


def test_the_mapping_screen_asks_the_order_when_no_date_says_it(as_member, stages, signed_up):
    upload(as_member, PREAMBLE)
    imp = latest_import()
    page = as_member.get(f"/leads/import/{imp.id}").get_data(as_text=True)
    assert "Dates like 03/04/2024 in this file" in page
    assert re.search(r'<input checked id="date_order-0" name="date_order" type="radio" value="mdy">', page)
    form = {f"col_{i}": f for i, f in imp.mapping.items()} | {"stage": str(stages["New"].id), "owner": "",
                                                             "duplicates": "skip", "date_order": "dmy",
                                                             "strict": "y"}
    as_member.post(f"/leads/import/{imp.id}", data=form)
    db.session.refresh(imp)
    assert (imp.date_order, imp.strict) == ("dmy", True)


def test_numbers_with_thousands_separators_fill_value_and_number_fields(stages):
    seats = cf.create_field(FieldSettings("Seats", kind="number"))
    budget = cf.create_field(FieldSettings("Budget", kind="money"))
    rows = [("a", "1,234,567.89", "1,250", "$1,200"), ("b", "1.234.567,89", "3.5", "1.200 €"),
            ("c", "1 234 567,89", "1 250", "USD 1,200.00"), ("d", "1'234'567.89", "12,5", "1'200")]
    data = csv_bytes([["Email", "Deal value", "Seats", "Budget"]] + [[f"{k}@example.com", *v] for k, *v in rows])
    imp = run_import(queued(data).id)
    assert (imp.created_count, imp.rejected_count) == (4, 0)
    leads = {lead.email[0]: lead for lead in db.session.scalars(select(Lead))}
    assert {k: lead.value for k, lead in leads.items()} == {k: Decimal("1234567.89") for k in "abcd"}
    values = cf.values_for([lead.id for lead in leads.values()])
    assert [values[leads[k].id][seats.key] for k in "abcd"] == [1250, Decimal("3.5"), 1250, Decimal("12.5")]
    assert {values[leads[k].id][budget.key] for k in "abcd"} == {Decimal("1200.00")}


def test_the_upload_row_count_matches_what_the_import_reads_past_a_preamble(stages):
    imp = queued(PREAMBLE, chunk_bytes=200)
    assert imp.row_count == 4
    assert run_import(imp.id).rows_done == 4
    assert db.session.get(LeadImport, imp.id).rows_done == imp.row_count


def test_a_german_export_names_its_countries_in_german_and_its_phones_in_national_form(stages):
    data = csv_bytes([["Vorname", "E-Mail", "Telefon", "Land"],
                      ["Jürgen", "j@example.com", "030 12345678", "Deutschland"],
                      ["Anna", "a@example.com", "0043 1 2345678", "Österreich"],
                      ["Luca", "l@example.com", "044 668 18 00", "Schweiz"],
                      ["Ada", "ada@example.com", "(415) 555-0101", ""]], delimiter=";")
    imp = run_import(queued(data).id)
    assert (imp.created_count, imp.rejected_count) == (4, 0)
    found = {lead.first_name: (lead.country, lead.phone) for lead in db.session.scalars(select(Lead))}
    assert found == {"Jürgen": ("DE", "+493012345678"), "Anna": ("AT", "+4312345678"),
                     "Luca": ("CH", "+41446681800"), "Ada": ("US", "+14155550101")}  # no country: the default region
    assert all(notes_of(lead) == [] for lead in db.session.scalars(select(Lead)))


def test_the_lead_form_reads_a_national_phone_in_the_leads_country(stages):
    from app.services.leads import clean_fields
    assert clean_fields({"first_name": "Jo", "phone": "030 12345678", "country": "Germany"}, "US")["phone"] == "+493012345678"
    assert clean_fields({"first_name": "Jo", "phone": "(415) 555-0101"}, "US")["phone"] == "+14155550101"


def test_an_over_long_value_is_kept_whole_on_the_timeline_and_cut_in_the_report(stages, outcomes):
    long_street = "Hauptstraße " + "7" * 300
    data = csv_bytes([["Email", "First name", "Street"], ["ada@example.com", "Ada", long_street]])
    run_import(queued(data).id)
    ada = lead_by("ada@example.com")
    assert ada.street is None
    assert long_street in notes_of(ada)[0]  # the file is gone after the import: nothing of it is lost
    reason = outcomes[2].reason
    assert long_street not in reason and long_street[:200] + "…" in reason


def test_a_quote_never_closed_rejects_its_row_instead_of_swallowing_the_rest_of_the_file(stages, outcomes):
    data = ('Email,First name,Description\r\n'
            'ada@example.com,Ada,"fine"\r\n'
            'qo@example.com,Quoted,"never closed\r\n'
            + "".join(f'p{i}@example.com,P{i},ok\r\n' for i in range(5))).encode()
    imp = run_import(queued(data).id)
    assert (imp.created_count, imp.rejected_count) == (1, 1)
    assert outcomes[3].outcome == "rejected" and outcomes[3].reason.startswith("A quote opened in this row is never closed")
    assert lead_by("qo@example.com") is None


def test_an_inch_mark_in_the_last_row_is_just_a_character(stages):
    data = 'Email,First name,Job title\r\nada@example.com,Ada,Buys 55" screens\r\n'.encode()
    imp = run_import(queued(data).id)
    assert imp.created_count == 1 and lead_by("ada@example.com").job_title == 'Buys 55" screens'
