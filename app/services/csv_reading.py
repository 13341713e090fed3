"""CSV files as other tools write them, and as spreadsheets read ours.

Reading: the encoding (byte-order mark, UTF-16's zero bytes, else UTF-8 or Windows-1252), the
delimiter and the header are guessed from the first chunk; records then stream from any number of
chunks, each knowing how many bytes of the file it has read. Writing: no cell we write can start a
spreadsheet formula."""
from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from app.services import ServiceError

# Python's csv refuses a cell over 128 KiB and, read on past the refusal, restarts inside the quoted
# cell, turning its lines into rows. A cell may be as long as an upload may be (its field then says
# whether it takes it, and the timeline keeps what it does not).
csv.field_size_limit(max(csv.field_size_limit(), 128 * 1024 * 1024))
from app.services.csv_headers import guess_field

MAX_COLUMNS = 200
IDENTIFYING = {"first_name", "last_name", "full_name", "company", "email", "phone"}  # identity.IDENTIFYING_FIELDS, and a full name
BOM = "\ufeff"


class NotACsv(ServiceError):
    status = 422

    def __init__(self, message: str):
        super().__init__(message, field="file")


# --- spreadsheet safety -----------------------------------------------------------------------

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value) -> str:
    """A cell no spreadsheet will run as a formula: a leading = + - @ tab or CR gets a quote first."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class CsvLines:
    """Rows in, CSV text out, one row at a time, every cell neutralised."""

    def __init__(self):
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer)

    def __call__(self, cells: Iterable) -> str:
        self._buffer.seek(0)
        self._buffer.truncate()
        self._writer.writerow([neutralise(cell) for cell in cells])
        return self._buffer.getvalue()


# --- reading bytes as text ----------------------------------------------------------------------

@dataclass(frozen=True)
class Codec:
    codec: str  # what decodes the bytes
    errors: str  # how undecodable bytes survive: as lone surrogates, so a row can name them
    sized_as: str  # what re-encodes a line to count its bytes exactly
    bom: int  # bytes of byte-order mark before the first line
    label: str


CODECS = {
    "utf-8": Codec("utf-8", "surrogateescape", "utf-8", 0, "UTF-8"),
    "utf-8-sig": Codec("utf-8-sig", "surrogateescape", "utf-8", 3, "UTF-8"),
    "utf-16": Codec("utf-16", "surrogatepass", "utf-16-le", 2, "UTF-16"),
    "utf-16-le": Codec("utf-16-le", "surrogatepass", "utf-16-le", 0, "UTF-16"),
    "utf-16-be": Codec("utf-16-be", "surrogatepass", "utf-16-be", 0, "UTF-16"),
    "cp1252": Codec("cp1252", "surrogateescape", "cp1252", 0, "Windows-1252 (Latin-1)"),
}
# Bytes the encoding could not decode, kept as lone surrogates (see Codec.errors).
BROKEN = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


class Utf8Evidence:
    """Over a whole upload: bytes that are not UTF-8, and characters only UTF-8 explains.

    Genuine Windows-1252 text almost never forms a valid UTF-8 multi-byte sequence, so one such
    character means UTF-8 with a few broken rows, not Windows-1252."""

    def __init__(self):
        self._decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
        self.invalid = 0
        self.multibyte = 0

    def feed(self, chunk: bytes, final: bool = False) -> Utf8Evidence:
        text = self._decoder.decode(chunk, final)
        invalid = len(BROKEN.findall(text))
        self.invalid += invalid
        self.multibyte += len(text) - len(text.encode("ascii", "ignore")) - invalid
        return self

    @property
    def utf8(self) -> bool:
        return self.invalid == 0 or self.multibyte > 0


class RecordCounter:
    """Counts a CSV file's non-blank records as its bytes stream past, without parsing cells: a line
    break ends a record unless it is inside quotes (after an odd number of quote characters; an
    escaped "" keeps the count even). Splits run in C, so a 50 MB upload costs a fraction of a second.

    UTF-16 is decoded first; every other encoding here keeps '"' and '\\n' as single ASCII bytes."""

    def __init__(self, encoding: str):
        spec = CODECS[encoding]
        self._decoder = (codecs.getincrementaldecoder(spec.codec)(errors=spec.errors)
                         if spec.codec.startswith("utf-16") else None)
        text = self._decoder is not None
        self._quote, self._newline, self._blank = ('"', "\n", ("", "\r")) if text else (b'"', b"\n", (b"", b"\r"))
        self.records = 0
        self._quoted = False  # inside a quoted cell
        self._content = False  # the record being read has something in it

    def feed(self, chunk: bytes, final: bool = False) -> RecordCounter:
        data = self._decoder.decode(chunk, final) if self._decoder else chunk
        for index, part in enumerate(data.split(self._quote)):
            if index:
                self._quoted, self._content = not self._quoted, True
            if self._quoted:
                continue
            lines = part.split(self._newline)
            if len(lines) == 1:
                self._content = self._content or part not in self._blank
                continue
            middle = lines[1:-1]
            self.records += (self._content or lines[0] not in self._blank) + len(middle) - sum(
                middle.count(blank) for blank in self._blank)
            self._content = lines[-1] not in self._blank
        if final and self._content:
            self.records, self._content = self.records + 1, False
        return self

    @property
    def data_rows(self) -> int:
        """The records after the header."""
        return max(self.records - 1, 0)


def detect_encoding(sample: bytes, evidence: Utf8Evidence | None = None) -> str:
    """A key of CODECS: from the byte-order mark, else UTF-16's zero bytes, else UTF-8 or Windows-1252."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    head = sample[:4096]
    half = len(head) // 2
    if half and head.count(0) > half // 2:  # ASCII as UTF-16 without a BOM: every other byte is zero
        odd, even = head[1::2].count(0), head[0::2].count(0)
        if odd > half // 2 and even < odd // 8:
            return "utf-16-le"
        if even > half // 2 and odd < even // 8:
            return "utf-16-be"
    return "utf-8" if (evidence or Utf8Evidence().feed(sample)).utf8 else "cp1252"


def decode_lines(chunks: Iterable[bytes], encoding: str) -> Iterator[tuple[str, int]]:
    """(line with its line ending, the bytes it took in the file), decoding incrementally."""
    spec = CODECS[encoding]
    decoder = codecs.getincrementaldecoder(spec.codec)(errors=spec.errors)
    bom, newline, pending = spec.bom, None, ""
    chunks = iter(chunks)
    while True:
        chunk = next(chunks, None)
        if chunk is None:
            try:
                pending += decoder.decode(b"", final=True)
            except UnicodeDecodeError:  # a UTF-16 file cut in the middle of a character
                pending += "\udcff"
            lines, pending = [pending] if pending else [], ""
        else:
            pending += decoder.decode(chunk)
            if newline is None and pending:
                # Old Mac files end lines with CR alone; everything else has LF (CR LF stays together).
                newline = "\r" if "\n" not in pending and "\r" in pending[:-1] else "\n"
            lines = pending.split(newline or "\n")
            pending = lines.pop()
            lines = [line + (newline or "\n") for line in lines]
        for line in lines:
            yield line, len(line.encode(spec.sized_as, spec.errors)) + bom
            bom = 0
        if chunk is None:
            return


@dataclass
class Record:
    number: int  # as a spreadsheet numbers it: the header is row 1
    cells: list[str]
    end: int  # bytes of the file read through this record
    error: str | None = None

    @property
    def blank(self) -> bool:
        return self.error is None and not any(cell.strip() for cell in self.cells)


class _Counted:
    def __init__(self, lines: Iterator[tuple[str, int]]):
        self._lines, self.bytes, self.quotes = lines, 0, 0

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line, size = next(self._lines)
        self.bytes += size
        self.quotes += line.count('"')
        return line


UNCLOSED = ("A quote opened in this row is never closed, so every line after it was read into one cell; "
            "nothing of it was imported. Close the quote in the file and import the rows from here again.")


def read_records(chunks: Iterable[bytes], encoding: str, delimiter: str) -> Iterator[Record]:
    """Every CSV record of the file, blank ones included, streaming: memory holds one chunk."""
    return parse_records(decode_lines(chunks, encoding), delimiter)


def parse_records(lines: Iterator[tuple[str, int]], delimiter: str) -> Iterator[Record]:
    """The records, one behind the reader: the file's last record is told apart, so that one whose
    quote is never closed (an odd number of quote characters, lines swallowed into a cell up to the
    end of the file) comes with an error instead of as one lead holding the rest of the file."""
    counted = _Counted(lines)
    reader = csv.reader(counted, delimiter=delimiter or ",")
    pending, quotes = None, 0
    for number in itertools.count(1):
        try:
            cells = next(reader)
        except StopIteration:
            if pending is not None:
                if quotes % 2 and any("\n" in cell for cell in pending.cells):
                    pending.error = UNCLOSED
                yield pending
            return
        except csv.Error as exc:
            cells, error = [], f"This row could not be read as CSV ({exc})."
        else:
            error = None
        if pending is not None:
            yield pending
        pending, quotes, counted.quotes = Record(number, cells, counted.bytes, error=error), counted.quotes, 0


NOTES_AHEAD = 50  # records read past a lone first cell to see whether the table goes on


def data_records(records: Iterator[Record], header_row: int | None = None) -> Iterator[Record]:
    """The records after the header: the first non-blank record from number `header_row` on (None:
    the file's first non-blank record). A note below the table ("Total: 1,234", "Exported from ... on
    ...") comes with an error, so it is rejected, never a lead; so does a lone first cell after a
    blank line or a note, when nothing but such rows follows it to the end of the file: a table that
    goes on after it (rows of leads within the next NOTES_AHEAD records), or whose leads above had
    only a first cell too (a list of companies), keeps it as a lead."""
    width = 0
    for record in records:
        if not record.blank and (header_row is None or record.number >= header_row):
            width = len(record.cells)
            break
    after_blank = in_notes = lone_leads = False
    held: list[tuple[Record, bool]] = []  # from the first lone cell on, each with "is a lone cell"

    def release(notes: bool) -> Iterator[Record]:
        for kept, lone in held:
            if lone and notes:
                kept.error = FOOTNOTE
            yield kept
        held.clear()

    for record in records:
        lone = False
        if record.blank:
            after_blank = True
        elif record.error is None:
            if is_footnote(record.cells, width, False):
                record.error, in_notes = FOOTNOTE, True
            elif not lone_leads and is_footnote(record.cells, width, after_blank or in_notes or bool(held)):
                lone = True
            else:
                yield from release(notes=False)  # the table goes on: what looked like notes were leads
                lone_leads = lone_leads or _first_cell_only(record.cells)
                in_notes = False
            after_blank = False
        if held or lone:
            held.append((record, lone))
            if len(held) > NOTES_AHEAD:
                yield from release(notes=False)  # notes below a table are a few lines, not a list
        else:
            yield record
    yield from release(notes=True)


def _first_cell_only(cells: list[str]) -> bool:
    return bool(cells) and bool(cells[0].strip()) and not any(cell.strip() for cell in cells[1:])


FOOTNOTE = "Looks like a note below the table, not a lead, so it was not imported."
_NUMBERS = r"[\d.,' \u00a0]*"
_FOOTNOTE_TEXT = re.compile(
    # "Total", "Total: 1,234", "Total 12", "Total leads: 12" (not "Total 4 Fitness")
    r"^(?:grand\s+)?(?:total|totals|sum|count|rows|records|summe|gesamt|somme|suma)"
    r"(?:\s*[:=#]?\s*" + _NUMBERS + r"|(?:\s+[^\W\d]+){1,2}\s*[:=#]\s*" + _NUMBERS + r")$"
    # "Exported from HubSpot on ...", "Generated by Zoho", "Export date: ..." (not "Generated Power Inc")
    r"|^(?:exported|generated|created|downloaded|printed|produced|report\s+generated)\s*(?:[:=]|\s(?:by|on|at|from|"
    r"with|via|using|in|for)\b)"
    r"|^export(?:ed)?\s+(?:date|on|at)\b"
    r"|^(?:©|\(c\)\s|copyright\b|all rights reserved|page\s+\d+\s+of\s+\d+|end of (?:report|file|export))"
    r"|^confidential\s*(?:[:.\-–]|$)",
    re.IGNORECASE)
_NUMBERISH = re.compile(r"^[\s$€£¥+-]*[\d.,' \u00a0]+[\s%$€£¥]*$")


def is_footnote(cells: list[str], width: int, after_gap: bool) -> bool:
    """A row below a table that annotates it: a known note ("Total: 12", "Generated by ...", "©
    2024 ...") with at most numbers beside it, or (`after_gap`: after a blank line or a note) only a
    first cell, not an email or a number."""
    filled = [index for index, cell in enumerate(cells) if cell.strip()]
    if not filled or filled[0] != 0:
        return False
    first = cells[0].strip()
    if _FOOTNOTE_TEXT.match(first) and all(_NUMBERISH.match(cells[i]) for i in filled[1:]):
        return True
    return width > 1 and filled == [0] and after_gap and "@" not in first and not _NUMBERISH.match(first)


def printable(text: str) -> str:
    """Broken bytes and NULs as U+FFFD: safe for JSON columns, PostgreSQL and people."""
    return BROKEN.sub("\ufffd", text).replace("\x00", "\ufffd")


def sniff_delimiter(lines: list[str]) -> str:
    """, ; tab or |, from csv.Sniffer over the first lines, else the most frequent in the header; '' if none."""
    sample = "".join(lines[:20])[:32_768]
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        header = lines[0] if lines else ""
        counts = {d: header.count(d) for d in ",;\t|"}
        best = max(counts, key=counts.get)
        return best if counts[best] else ""


_SIGNATURES = {
    b"PK\x03\x04": "This is an Excel workbook or another zip file, not a CSV. In Excel choose "
                   "File > Save As > CSV UTF-8, then upload that file.",
    b"\xd0\xcf\x11\xe0": "This is an old Excel (.xls) workbook, not a CSV. In Excel choose "
                         "File > Save As > CSV UTF-8, then upload that file.",
    b"%PDF": "This is a PDF, not a CSV. Export your leads as CSV from the tool they are in.",
}
BINARY = "This is not a CSV file: it contains binary data. Export your leads as CSV (values separated by " \
         "commas, semicolons or tabs) and upload that."


HEADER_SCAN = 15  # the lines the mapping screen offers as the header, and the header is looked for in
_DATA_LIKE = re.compile(r"^[\s$€£¥+-]*[\d.,/:' -]+[\s%]*$|@|^https?://|^www\.", re.IGNORECASE)


@dataclass(frozen=True)
class Shape:
    encoding: str
    delimiter: str
    headers: list[str]
    header_row: int = 1  # the header's record number
    before_header: int = 0  # non-blank records above it (titles, metadata): not data rows


def header_cells(record: Record) -> list[str]:
    """A header record's cells as column names (an empty one named by its position); raises NotACsv."""
    header = [printable(cell).strip() for cell in record.cells]
    if len(header) > MAX_COLUMNS:
        raise NotACsv(f"The file has {len(header)} columns; we can map at most {MAX_COLUMNS}. "
                      "Remove the columns you don't need and upload it again.")
    return [(cell or f"Column {i + 1}")[:100] for i, cell in enumerate(header)]


def _looks_like_header(record: Record, following: list[Record]) -> bool:
    filled = [cell.strip() for cell in record.cells if cell.strip()]
    if len({cell.casefold() for cell in filled}) < 2 or any(cell.endswith(":") for cell in filled):
        return False  # a title, or `key: value` metadata
    if sum(1 for cell in filled if _DATA_LIKE.search(cell)) * 4 > len(filled):
        return False  # numbers, emails, dates: a data row
    if sum(1 for cell in filled if guess_field(cell) != "ignore") * 2 >= len(filled):
        return True
    width = len(record.cells)
    return (len(filled) * 2 >= width and bool(following)
            and all(len(r.cells) == width for r in following))


def find_header(records: list[Record]) -> int:
    """Which of the first non-blank records is the header (an index into them): the first that has
    several distinct text cells, mostly names we know or at least not data, with rows as wide as it
    below; else the first. Title lines, blank lines and `key: value` lines above it are skipped."""
    for index, record in enumerate(records[:HEADER_SCAN]):
        if record.error is None and _looks_like_header(record, records[index + 1:index + 4]):
            return index
    return 0


def inspect_sample(sample: bytes, whole: bool, encoding: str) -> Shape:
    """The delimiter, header row and headers from the file's first chunk; raises NotACsv saying what is wrong."""
    if not sample.strip():
        raise NotACsv("The file is empty.")
    for signature, message in _SIGNATURES.items():
        if sample.startswith(signature):
            raise NotACsv(message)
    lines = [line for line, _ in decode_lines([sample], encoding)]
    if not whole and lines and not lines[-1].endswith(("\n", "\r")):
        lines.pop()  # cut off mid-line by the chunk boundary
    text = "".join(lines)
    if "\x00" in text or len(_CONTROL.findall(text)) > len(text) // 100:
        raise NotACsv(BINARY)
    delimiter = sniff_delimiter(_without_preamble(lines))
    records = [r for r in itertools.islice(parse_records(((line, 0) for line in lines), delimiter), 200)
               if not r.blank]
    if not records:
        raise NotACsv("The file has no rows.")
    at = find_header(records)
    header = [printable(cell).strip() for cell in records[at].cells]
    if len(records) < at + 2:
        raise NotACsv("The file has a header row but no data rows, so there is nothing to import."
                      if whole else "No data rows were found in the file's first megabyte.")
    if not delimiter and len(header) == 1 and guess_field(header[0]) not in IDENTIFYING:
        raise NotACsv("We could not find the columns: no comma, semicolon, tab or pipe separates the values "
                      "in the first rows. Check that this is a CSV file.")
    return Shape(encoding=encoding, delimiter=delimiter or ",", headers=header_cells(records[at]),
                 header_row=records[at].number, before_header=at)


def _without_preamble(lines: list[str]) -> list[str]:
    """The lines from the first that has a delimiter in it: a title line above the table would make
    the sniffer see no delimiter at all."""
    for index, line in enumerate(lines[:HEADER_SCAN]):
        if any(d in line for d in ",;\t|"):
            return lines[index:]
    return lines
