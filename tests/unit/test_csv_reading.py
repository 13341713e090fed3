"""Reading CSV files from other tools: encodings, delimiters, headers, and cells spreadsheets won't run."""
import codecs
import csv
import io

import pytest

from app.services.csv_headers import guess_field, guess_mapping
from app.services.csv_reading import (
    BINARY, NotACsv, Utf8Evidence, decode_lines, detect_encoding, inspect_sample, neutralise, read_records,
    sniff_delimiter,
)
from app.services.imports import Plan, RowRejected, lead_fields, money_text, split_name
from app.services.capture import OnDuplicate


def chunked(data: bytes, size: int = 7):
    """Bytes in small pieces, so characters and lines straddle chunk boundaries."""
    return [data[i:i + size] for i in range(0, len(data), size)]


def rows(data: bytes, encoding: str, delimiter: str = ",", size: int = 7):
    return [r.cells for r in read_records(chunked(data, size), encoding, delimiter)]


TEXT = "First Name,Last Name,Company\nZoë,Müller,Café Ñandú\nJosé,O’Brien,Straße & Söhne\n"


# --- encodings -------------------------------------------------------------------------------------

def test_plain_utf8_is_read_as_utf8_even_when_characters_straddle_chunks():
    data = TEXT.encode("utf-8")
    assert detect_encoding(data) == "utf-8"
    assert rows(data, "utf-8", size=3)[1] == ["Zoë", "Müller", "Café Ñandú"]


def test_utf8_with_a_byte_order_mark_loses_the_mark_not_the_first_header():
    data = codecs.BOM_UTF8 + TEXT.encode("utf-8")
    assert detect_encoding(data) == "utf-8-sig"
    assert rows(data, "utf-8-sig")[0] == ["First Name", "Last Name", "Company"]


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_is_recognised_by_its_byte_order_mark_or_its_zero_bytes(codec):
    data = TEXT.encode(codec)
    encoding = detect_encoding(data)
    assert encoding == ("utf-16" if codec == "utf-16" else codec)
    assert rows(data, encoding, size=5)[2] == ["José", "O’Brien", "Straße & Söhne"]


def test_windows_1252_is_used_when_the_file_is_not_utf8():
    data = TEXT.encode("cp1252")
    assert detect_encoding(data) == "cp1252"
    assert rows(data, "cp1252")[1] == ["Zoë", "Müller", "Café Ñandú"]
    assert rows(data, "cp1252")[2][1] == "O’Brien"  # the curly quote is 0x92 in Windows-1252, not Latin-1


def test_a_broken_row_in_a_utf8_file_keeps_the_file_utf8_and_marks_only_that_row():
    data = TEXT.encode("utf-8") + b"Bad,Caf\xe9,Row\n" + "Åsa,Öberg,Ltd\n".encode("utf-8")
    evidence = Utf8Evidence().feed(data, final=True)
    assert evidence.invalid == 1 and evidence.multibyte > 0
    assert detect_encoding(data, evidence) == "utf-8"
    records = list(read_records(chunked(data), "utf-8", ","))
    assert records[3].cells[1] == "Caf\udce9"  # the undecodable byte survives as a marker, not a guess
    assert records[4].cells == ["Åsa", "Öberg", "Ltd"]


def test_line_byte_counts_add_up_to_the_file_size_in_every_encoding():
    for codec, encoding in [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("utf-16", "utf-16"),
                            ("cp1252", "cp1252")]:
        data = TEXT.encode(codec)
        assert sum(size for _, size in decode_lines(chunked(data), encoding)) == len(data), codec
    broken = b"a,b\nCaf\xe9,x\n"
    assert sum(size for _, size in decode_lines(chunked(broken, 3), "utf-8")) == len(broken)


def test_old_mac_line_endings_and_quoted_newlines_are_records_not_lines():
    assert rows(b"a,b\r1,2\r3,4\r", "utf-8") == [["a", "b"], ["1", "2"], ["3", "4"]]
    assert rows(b'a,b\r\n"two\r\nlines",2\r\n', "utf-8") == [["a", "b"], ["two\r\nlines", "2"]]


# --- delimiters and file checks ----------------------------------------------------------------------

@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_the_delimiter_is_sniffed(delimiter):
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(["First Name", "Email", "Amount"])
    writer.writerow(["Ada", "ada@example.com", "1,5" if delimiter == ";" else "1500"])
    writer.writerow(["Grace, the Admiral", "grace@example.com", "2000"])
    lines = buffer.getvalue().splitlines(keepends=True)
    assert sniff_delimiter(lines) == delimiter


def test_a_single_column_of_emails_is_a_csv_but_a_paragraph_of_prose_is_not():
    shape = inspect_sample(b"Email\nada@example.com\ngrace@example.com\n", True, "utf-8")
    assert shape.headers == ["Email"] and shape.delimiter == ","
    with pytest.raises(NotACsv) as err:
        inspect_sample(b"Dear team\nplease find attached\nthe leads\n", True, "utf-8")
    assert "could not find the columns" in err.value.message


@pytest.mark.parametrize("data, words", [
    (b"", "empty"),
    (b"First Name,Email\n", "header row but no data rows"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "binary data"),
    (b"PK\x03\x04\x14\x00\x06\x00", "Excel workbook"),
])
def test_files_that_are_not_csv_are_refused_with_the_reason(data, words):
    with pytest.raises(NotACsv) as err:
        inspect_sample(data, True, detect_encoding(data))
    assert words in err.value.message and err.value.field == "file"


def test_binary_message_tells_what_to_do():
    assert "Export your leads as CSV" in BINARY


# --- headers of other tools' exports --------------------------------------------------------------------

@pytest.mark.parametrize("tool, headers, expected", [
    ("Salesforce", ["Lead ID", "First Name", "Last Name", "Title", "Company", "Email", "Phone", "Mobile",
                    "Lead Source", "Lead Status", "Annual Revenue"],
     ["ignore", "first_name", "last_name", "job_title", "company", "email", "phone", "ignore", "source",
      "ignore", "ignore"]),
    ("Salesforce contacts", ["First Name", "Last Name", "Account Name", "Mobile Phone", "Email", "Amount"],
     ["first_name", "last_name", "company", "phone", "email", "value"]),
    ("HubSpot", ["Record ID", "First Name", "Last Name", "Email", "Phone Number", "Company Name", "Job Title",
                 "Original Source", "Contact owner", "UTM Source", "UTM Medium", "UTM Campaign"],
     ["ignore", "first_name", "last_name", "email", "phone", "company", "job_title", "source", "ignore",
      "utm_source", "utm_medium", "utm_campaign"]),
    ("Pipedrive", ["Person - Name", "Person - Email - Work", "Person - Phone - Mobile", "Person - Organization",
                   "Organization - Name", "Deal - Value", "Deal - Title", "Organization - Address"],
     ["full_name", "email", "phone", "company", "ignore", "value", "ignore", "ignore"]),
    ("Zoho", ["First Name", "Last Name", "Designation", "Email", "Secondary Email", "Mobile", "Company",
              "Lead Source", "Lead Owner"],
     ["first_name", "last_name", "job_title", "email", "ignore", "phone", "company", "source", "ignore"]),
    ("Mailchimp", ["Email Address", "First Name", "Last Name", "Address", "Phone Number", "MEMBER_RATING",
                   "OPTIN_TIME", "TAGS"],
     ["email", "first_name", "last_name", "ignore", "phone", "ignore", "ignore", "tags"]),
    ("Google contacts", ["Name", "Given Name", "Family Name", "E-mail 1 - Value", "Phone 1 - Value",
                         "Organization 1 - Name"],
     ["ignore", "first_name", "last_name", "email", "phone", "ignore"]),
    ("snake case", ["first_name", "last_name", "e_mail", "utm_source", "deal_value", "job_title"],
     ["first_name", "last_name", "email", "utm_source", "value", "job_title"]),
    ("Leadboard", ["ID", "First name", "Last name", "Email", "Phone", "Company", "Job title", "Source",
                   "Deal value", "Stage", "Owner", "UTM source", "UTM medium", "UTM campaign", "Country", "Region",
                   "Street", "City", "Postal code", "Website", "Description", "Expected close date",
                   "Closed on", "Lost reason", "Lost note", "Created (UTC)", "Tags"],
     ["ignore", "first_name", "last_name", "email", "phone", "company", "job_title", "source", "value", "ignore",
      "ignore", "utm_source", "utm_medium", "utm_campaign", "country", "region",
      "street", "city", "postal_code", "website", "description", "expected_close_on", "ignore", "ignore", "ignore",
      "ignore", "tags"]),
    ("HubSpot deals", ["Deal Name", "Amount", "Close Date", "Deal Stage"],
     ["ignore", "value", "expected_close_on", "ignore"]),
    ("Pipedrive deals", ["Person - Name", "Deal - Value", "Deal - Expected close date", "Deal - Won time"],
     ["full_name", "value", "expected_close_on", "ignore"]),
    ("close date spellings", ["Email", "Closing date", "Expected Close Date", "expected_close_on"],
     ["email", "expected_close_on", "ignore", "ignore"]),
    ("Salesforce address", ["Company", "Billing Street", "Billing City", "Billing Zip/Postal Code", "Website",
                            "Description"],
     ["company", "street", "city", "postal_code", "website", "description"]),
    ("German", ["Firma", "Straße", "PLZ", "Ort", "Webseite", "Beschreibung", "Notizen"],
     ["company", "street", "postal_code", "city", "website", "description", "ignore"]),
    ("French", ["Société", "Adresse", "Code postal", "Ville", "Site web", "Remarques"],
     ["company", "street", "postal_code", "city", "website", "description"]),
    ("Spanish", ["Empresa", "Dirección", "Código postal", "Ciudad", "Sitio web", "Descripción"],
     ["company", "street", "postal_code", "city", "website", "description"]),
    ("HubSpot companies", ["Company name", "Street Address", "City", "Postal Code", "Company Domain Name",
                           "Notes"],
     ["company", "street", "city", "postal_code", "website", "description"]),
    ("Salesforce territory", ["First Name", "Last Name", "Email", "Mailing Country", "Mailing State/Province"],
     ["first_name", "last_name", "email", "country", "region"]),
])
def test_the_mapping_is_guessed_from_each_tools_headers(tool, headers, expected):
    mapping = guess_mapping(headers)
    assert [mapping[str(i)] for i in range(len(headers))] == expected, tool


def test_each_field_goes_to_its_first_column_only():
    mapping = guess_mapping(["Email", "E-mail", "Phone", "Mobile Phone"])
    assert mapping == {"0": "email", "1": "ignore", "2": "phone", "3": "ignore"}


def test_headers_are_compared_whatever_their_case_spacing_and_punctuation():
    assert guess_field("  EMAIL-ADDRESS ") == guess_field("\ufeffEmail Address") == "email"
    assert guess_field("Annual Revenue") == "ignore"  # a company's revenue is not a deal value
    assert guess_field("Expected Close Date") == guess_field("expected_close_on") == "expected_close_on"
    assert guess_field("Fecha de cierre") == guess_field("Abschlussdatum") == "expected_close_on"
    assert guess_field("Closed on") == "ignore"  # the day it closed (our export) is not the day expected


# --- rows to lead fields ---------------------------------------------------------------------------------

def plan(mapping: dict) -> Plan:
    return Plan(import_id=1, columns=sorted(((int(i), f) for i, f in mapping.items()),
                                            key=lambda c: (c[1] == "full_name", c[0])),
                headers=[f"h{i}" for i in range(len(mapping))], source=None, stage_id=None, owner_id=None,
                on_duplicate=OnDuplicate.skip, actor_id=None, region="US")


def test_a_full_name_column_is_split_into_first_and_last():
    assert split_name("Ada Lovelace") == ("Ada", "Lovelace")
    assert split_name("Lovelace, Ada") == ("Ada", "Lovelace")
    assert split_name("Dr. Ludwig van Beethoven") == ("Ludwig", "van Beethoven")
    data = lead_fields(["  Grace Hopper ", "g@example.com"], plan({"0": "full_name", "1": "email"})).data
    assert data == {"first_name": "Grace", "last_name": "Hopper", "email": "g@example.com"}


def test_utm_columns_become_origin_and_money_loses_its_currency():
    row = lead_fields(["Ada", "$1,200.50", "newsletter"], plan({"0": "first_name", "1": "value", "2": "utm_source"}))
    data, origin = row.data, row.origin
    assert data == {"first_name": "Ada", "value": "1,200.50"} and origin == {"utm_source": "newsletter"}
    assert money_text("1.234,56 EUR") == "1234.56" and money_text("12,5") == "12.5"
    assert money_text("1,500") == "1,500"  # three digits after a comma: thousands, left to the normaliser


def test_a_row_with_nothing_to_recognise_a_lead_by_is_rejected():
    with pytest.raises(RowRejected) as err:
        lead_fields(["Buyer", "", "N/A"], plan({"0": "job_title", "1": "email", "2": "company"}))
    assert "no name, company, email or phone" in err.value.reason


def test_a_business_with_no_person_is_a_lead_by_its_company_alone():
    data = lead_fields(["Acme GmbH", ""], plan({"0": "company", "1": "email"})).data
    assert data == {"company": "Acme GmbH"}


def test_a_cell_our_export_neutralised_comes_back_as_it_was():
    data = lead_fields(["'+14155550123", "'=not a formula"], plan({"0": "phone", "1": "company"})).data
    assert data["phone"] == "+14155550123" and "first_name" not in data


# --- cells spreadsheets won't run ----------------------------------------------------------------------

@pytest.mark.parametrize("cell", ['=HYPERLINK("http://evil.example","click")', "+1+2", "-2+3", "@SUM(A1)",
                                  "\t=1", "\r=1"])
def test_formula_like_cells_get_a_leading_quote(cell):
    assert neutralise(cell) == "'" + cell


@pytest.mark.parametrize("cell, expected", [("Ada", "Ada"), ("", ""), (None, ""), ("a=b", "a=b"), (12, "12")])
def test_other_cells_are_left_alone(cell, expected):
    assert neutralise(cell) == expected


@pytest.mark.parametrize("data", [
    b"a,b\n1,2\n3,4\n",
    b"a,b\r\n1,2\r\n\r\n3,4",
    b'a,b\n"x\ny",2\n"he said ""hi""\n",3\n\n\n',
    b"\n\na,b\n1,2\n",
    b"a,b\n",
    b"",
])
@pytest.mark.parametrize("chunk", [1, 2, 3, 1000])
def test_the_record_counter_agrees_with_the_csv_reader_however_the_bytes_are_cut(data, chunk):
    from app.services.csv_reading import RecordCounter, data_records, read_records
    counter = RecordCounter("utf-8")
    for start in range(0, len(data), chunk):
        counter.feed(data[start:start + chunk])
    counter.feed(b"", final=True)
    assert counter.data_rows == sum(1 for r in data_records(read_records([data], "utf-8", ",")) if not r.blank)
