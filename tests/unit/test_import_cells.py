"""One cell of a messy file: placeholders, several values, numbers and dates as people write them,
and where a table starts and ends."""
from datetime import date

import pytest

from app.services.capture import OnDuplicate
from app.services.csv_reading import Record, find_header, inspect_sample, is_footnote
from app.services.import_cells import (blank_or_value, date_order_of, default_date_order, number_text, parse_date,
                                       several)
from app.services.imports import Plan, RowRejected, lead_fields


@pytest.mark.parametrize("cell", ["None", "NULL", "null", "N/A", "n/a", "NA", "-", "--", "#N/A", "(none)", "   ",
                                  "\u00a0", "\u2003\u00a0 ", "\u200b", " nan ", "[not provided]", "k.A."])
def test_placeholder_cells_are_empty(cell):
    assert blank_or_value(cell) == ""


@pytest.mark.parametrize("cell", ["Ada", "0", "Nadia", "N/A Corp", "- Ada"])
def test_other_cells_keep_their_text(cell):
    assert blank_or_value(cell) == cell


@pytest.mark.parametrize("cell, values", [
    ("a@x.com", ["a@x.com"]),
    ("a@x.com; b@x.com", ["a@x.com", "b@x.com"]),
    ("a@x.com,b@x.com\nc@x.com", ["a@x.com", "b@x.com", "c@x.com"]),
    ("a@x.com;;N/A; b@x.com", ["a@x.com", "b@x.com"]),
    ('[{"label":"home","value":"h@x.com","primary":false},{"label":"work","value":"w@x.com","primary":true}]',
     ["w@x.com", "h@x.com"]),
    ('["+1 415 555 0101", "+1 415 555 0102"]', ["+1 415 555 0101", "+1 415 555 0102"]),
    ("[not json]", ["[not json]"]),
    ("Lovelace, Ada <ada@x.com>; Bo <bo@x.com>", ["ada@x.com", "bo@x.com"]),
    ("mailto:ada@x.com", ["ada@x.com"]), ("tel:+14155550101", ["+14155550101"]),
])
def test_a_cell_may_hold_several_values(cell, values):
    assert several(cell) == values


@pytest.mark.parametrize("text, money, expected", [
    ("1,234,567.89", True, "1234567.89"), ("1.234.567,89", True, "1234567.89"), ("1 234 567,89", True, "1234567.89"),
    ("1\u202f234\u202f567,89", True, "1234567.89"), ("1'234.50", True, "1234.50"), ("$1,200", True, "1200"),
    ("1.200 €", True, "1200"), ("EUR 1.234,56", True, "1234.56"), ("12,5", True, "12.5"), ("2500", True, "2500"),
    ("3.125", False, "3.125"), ("3,125", False, "3125"), ("1.200", True, "1200"), ("0.125", True, "0.125"),
    ("lots", True, "lots"), ("1.2.3,4,5", True, "1.2.3,4,5"),
])
def test_numbers_are_read_in_every_common_locale(text, money, expected):
    assert number_text(text, money=money) == expected


@pytest.mark.parametrize("text, order, expected", [
    ("2024-07-11T21:22:06.000+0000", "mdy", date(2024, 7, 11)), ("2024-07-11T21:22:06Z", "mdy", date(2024, 7, 11)),
    ("2024-07-11 21:22", "mdy", date(2024, 7, 11)), ("2024-07-11T21:22:06+02:00", "dmy", date(2024, 7, 11)),
    ("07/11/2024", "mdy", date(2024, 7, 11)), ("11/07/2024", "dmy", date(2024, 7, 11)),
    ("11.07.2024", "dmy", date(2024, 7, 11)), ("11-07-2024", "dmy", date(2024, 7, 11)),
    ("25/12/2024", "mdy", date(2024, 12, 25)), ("12/25/2024", "dmy", date(2024, 12, 25)),
    ("11/07/24", "dmy", date(2024, 7, 11)), ("11 Jul 2024", "mdy", date(2024, 7, 11)),
    ("July 11, 2024", "dmy", date(2024, 7, 11)), ("Thu, 11 July 2024", "mdy", date(2024, 7, 11)),
    ("11. Juli 2024", "mdy", date(2024, 7, 11)), ("2024/07/11", "dmy", date(2024, 7, 11)),
    ("31/02/2024", "dmy", None), ("soon", "dmy", None), ("13/13/2024", "dmy", None),
])
def test_dates_are_read_as_files_write_them(text, order, expected):
    assert parse_date(text, order) == expected


def test_a_date_column_tells_its_order_when_a_value_shows_it():
    assert date_order_of(["03/04/2024", "25/06/2024"]) == "dmy"
    assert date_order_of(["03/04/2024", "06/25/2024"]) == "mdy"
    assert date_order_of(["03/04/2024", "05/06/2024"]) == ""
    assert date_order_of(["2024-03-04", "soon"]) is None
    assert (default_date_order("US"), default_date_order("DE"), default_date_order(None)) == ("mdy", "dmy", "mdy")


def records(*rows) -> list[Record]:
    return [Record(i + 1, list(row), 0) for i, row in enumerate(rows)]


def test_the_header_is_found_below_a_title_and_metadata():
    rows = records(["Leads for Q3", "", ""], ["Exported by:", "Jane", ""], ["Date", "2024-07-11", ""],
                   ["First Name", "Email", "Company"], ["Ada", "ada@example.com", "Engines"])
    assert find_header(rows) == 3


def test_a_header_of_names_no_tool_uses_is_found_by_the_rows_below_it():
    rows = records(["Report"], ["Kundennummer", "Ansprechpartner", "Firma"], ["1", "Ada", "Engines"],
                   ["2", "Grace", "Navy"])
    assert find_header(rows) == 1


def test_a_file_without_a_preamble_keeps_its_first_line_as_the_header():
    assert find_header(records(["Email"], ["a@example.com"])) == 0
    assert find_header(records(["Name", "Email"], ["Ada", "a@example.com"])) == 0


def test_inspect_sample_reports_the_header_line_and_the_lines_above_it():
    shape = inspect_sample(b"Contacts\n\nExported: 2024-07-11\n\nName,Email\nAda,a@example.com\n", True, "utf-8")
    assert (shape.header_row, shape.before_header, shape.headers, shape.delimiter) == (5, 2, ["Name", "Email"], ",")


@pytest.mark.parametrize("cells, after_gap, expected", [
    (["Total: 1,234", "", ""], False, True), (["Total", "1,234", ""], False, True),
    (["Exported from HubSpot on 2024-07-11", "", ""], False, True), (["Generated by Zoho", "", ""], False, True),
    (["© 2024 Acme", "", ""], False, True), (["Some note", "", ""], True, True),
    (["Some person", "", ""], False, False), (["ada@example.com", "", ""], True, False),
    (["Total Fitness", "gym@example.com", ""], False, False), (["", "Total: 3", ""], True, False),
    # companies whose names begin like a note
    (["Generated Power Inc", "", ""], False, False), (["Total 4 Fitness", "", ""], False, False),
    (["Created Edge Ltd", "", ""], False, False), (["Confidential Ventures", "", ""], False, False),
    (["Records Management Inc", "", ""], False, False), (["Total leads: 12", "", ""], False, True),
    (["Export date: 2024-07-11", "", ""], False, True),
])
def test_a_note_below_the_table_is_told_from_a_lead(cells, after_gap, expected):
    assert is_footnote(cells, 3, after_gap) is expected


def plan(mapping: dict, **options) -> Plan:
    return Plan(import_id=1, columns=[(int(i), f) for i, f in mapping.items()], headers=list(mapping.values()),
                source=None, stage_id=None, owner_id=None, on_duplicate=OnDuplicate.skip, actor_id=None,
                region="US", **options)


def test_lead_fields_drops_what_does_not_read_and_notes_it():
    row = lead_fields(["Ada", "ada@example.com; ada@example.org", "12", "N/A"],
                      plan({"0": "first_name", "1": "email", "2": "phone", "3": "country"}))
    assert row.data == {"first_name": "Ada", "email": "ada@example.com"}
    assert row.cleaned == {"first_name": "Ada", "email": "ada@example.com"}  # what the batch path may take as is
    assert row.notes == ["email also held “ada@example.org”; kept on the lead's timeline",
                         "phone “12” could not be read as a phone number; kept on the lead's timeline"]


def test_lead_fields_on_a_strict_import_keeps_the_bad_value_for_capture_to_refuse():
    row = lead_fields(["Ada", "12"], plan({"0": "first_name", "1": "phone"}, strict=True))
    assert row.data == {"first_name": "Ada", "phone": "12"} and row.notes == []


def test_a_row_named_only_by_a_bad_email_is_rejected_naming_it():
    with pytest.raises(RowRejected) as err:
        lead_fields(["nobody@invalid", "Buyer"], plan({"0": "email", "1": "job_title"}))
    assert err.value.reason.startswith("email “nobody@invalid” could not be read as an email address.")


def test_a_bad_email_beside_a_company_leaves_a_business_lead_and_a_note():
    row = lead_fields(["nobody@invalid", "Acme"], plan({"0": "email", "1": "company"}))
    assert row.data == {"company": "Acme"}
    assert row.notes == ["email “nobody@invalid” could not be read as an email address; kept on the lead's timeline"]


def test_a_website_that_is_not_a_web_address_is_noted_not_fatal_unless_strict():
    row = lead_fields(["Acme", "acme.com"], plan({"0": "company", "1": "website"}))
    assert row.data == {"company": "Acme", "website": "acme.com"} and row.cleaned["website"] == "https://acme.com"
    row = lead_fields(["Acme", "ftp://acme"], plan({"0": "company", "1": "website"}))
    assert row.data == {"company": "Acme"}
    assert row.notes == ["website “ftp://acme” could not be read as a web address; kept on the lead's timeline"]
    strict = lead_fields(["Acme", "ftp://acme"], plan({"0": "company", "1": "website"}, strict=True))
    assert strict.data == {"company": "Acme", "website": "ftp://acme"}  # capture_lead refuses it


def test_a_multi_line_description_cell_is_kept_as_it_is():
    row = lead_fields(["Acme", "Line one\nLine two\n\n- a list"], plan({"0": "company", "1": "description"}))
    assert row.data["description"] == "Line one\nLine two\n\n- a list"


def test_a_json_list_of_tags_becomes_a_list_of_tags():
    row = lead_fields(["Ada", '["VIP", "Customer"]'], plan({"0": "first_name", "1": "tags"}))
    assert row.data["tags"] == "VIP; Customer"
    row = lead_fields(["Ada", '"VIP","Customer"'], plan({"0": "first_name", "1": "tags"}))
    assert row.data["tags"] == "VIP,Customer"  # Mailchimp's quoted tags, as before


@pytest.mark.parametrize("size, shown", [(0, "0 bytes"), (1, "1 byte"), (927, "927 bytes"), (14_200, "14 KB"),
                                         (3_240_000, "3.2 MB"), (52_000_000, "52 MB"), (2_500_000_000, "2.5 GB")])
def test_a_file_size_reads_as_people_say_it(size, shown):
    from app.filters import file_size
    assert file_size(size) == shown
