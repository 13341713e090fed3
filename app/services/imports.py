"""CSV import and export.

An upload is stored in ~1 MB chunks so any worker on any host can stream it back; its encoding,
delimiter and headers are guessed on the way in. The import job then reads it record by record
through capture_lead (the one way in), and commits every few dozen rows together with the
progress counters, so a crash leaves counts that match what was saved. Exports hold at most a
batch of leads in memory, and no cell they write can start a spreadsheet formula."""
from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import DataError, IntegrityError

from app.extensions import db
from app.models import ImportChunk, ImportRejection, Lead, LeadImport, Stage, User
from app.queue import QueueUnavailable, enqueue
from app.services import Conflict, NotFound, ServiceError, atomic, utcnow
from app.services.capture import OnDuplicate, capture_lead
from app.services.csv_headers import FIELDS, guess_field, guess_mapping
from app.services.lead_queries import SORTS, PoolFilters, filtered
from app.services.leads import active_user
from app.services.stages import get_stage

MAX_FILE_BYTES = 50 * 1024 * 1024
CHUNK_BYTES = 1024 * 1024
PREVIEW_ROWS = 5
MAX_COLUMNS = 200
# Rows per transaction. Each row is a savepoint inside it, and PostgreSQL caches only 64
# subtransactions per transaction before every other session's snapshots get slower; past ~50
# rows a batch saves nothing anyway (measured: bench/IMPORT.md). A batch also ends after
# BATCH_SECONDS, so progress shows and SQLite's write lock is released often.
BATCH_ROWS = 50
BATCH_SECONDS = 1.0
EXPORT_BATCH = 1000
JOB_TIMEOUT = 6 * 3600

DUPLICATE_MODES = {"skip": OnDuplicate.skip, "update": OnDuplicate.update, "keep": OnDuplicate.keep}
ORIGIN = ("utm_source", "utm_medium", "utm_campaign")
IDENTIFYING = {"first_name", "last_name", "full_name", "email", "phone"}
BOM = "\ufeff"


class NotACsv(ServiceError):
    status = 422

    def __init__(self, message: str):
        super().__init__(message, field="file")


class FileTooLarge(ServiceError):
    status = 413

    def __init__(self):
        super().__init__(f"That file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB. "
                         "Split it into smaller files and import each one.", field="file")


class ImportNotFound(NotFound):
    def __init__(self):
        super().__init__("That import does not exist.")


class ImportStarted(Conflict):
    def __init__(self):
        super().__init__("This import has already started, so its choices can no longer change.")


class QueueDown(ServiceError):
    status = 503

    def __init__(self, detail: str):
        super().__init__(f"The import could not start: {detail}. Your file and choices are kept, "
                         "so you can start it again in a minute.")


class ImportDamaged(ServiceError):
    def __init__(self):
        super().__init__("Part of the uploaded file is missing from the database, so the import stopped. "
                         "The rows counted here were saved; upload the file again to import the rest.")


# --- spreadsheet safety -----------------------------------------------------------------------

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value) -> str:
    """A cell no spreadsheet will run as a formula: a leading = + - @ tab or CR gets a quote first."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class _CsvLines:
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
_BROKEN = re.compile("[\ud800-\udfff]")
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
        invalid = len(_BROKEN.findall(text))
        self.invalid += invalid
        self.multibyte += len(text) - len(text.encode("ascii", "ignore")) - invalid
        return self

    @property
    def utf8(self) -> bool:
        return self.invalid == 0 or self.multibyte > 0


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
        self._lines, self.bytes = lines, 0

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line, size = next(self._lines)
        self.bytes += size
        return line


def read_records(chunks: Iterable[bytes], encoding: str, delimiter: str) -> Iterator[Record]:
    """Every CSV record of the file, blank ones included, streaming: memory holds one chunk."""
    return parse_records(decode_lines(chunks, encoding), delimiter)


def parse_records(lines: Iterator[tuple[str, int]], delimiter: str) -> Iterator[Record]:
    counted = _Counted(lines)
    reader = csv.reader(counted, delimiter=delimiter or ",")
    for number in itertools.count(1):
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield Record(number, [], counted.bytes, error=f"This row could not be read as CSV ({exc}).")
            continue
        yield Record(number, cells, counted.bytes)


def data_records(records: Iterator[Record]) -> Iterator[Record]:
    """The records after the header (the first record that is not blank)."""
    for record in records:
        if not record.blank:
            break
    yield from records


def printable(text: str) -> str:
    """Broken bytes and NULs as U+FFFD: safe for JSON columns, PostgreSQL and people."""
    return _BROKEN.sub("\ufffd", text).replace("\x00", "\ufffd")


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


@dataclass(frozen=True)
class Shape:
    encoding: str
    delimiter: str
    headers: list[str]


def inspect_sample(sample: bytes, whole: bool, encoding: str) -> Shape:
    """The delimiter and headers from the file's first chunk; raises NotACsv saying what is wrong."""
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
    delimiter = sniff_delimiter(lines)
    records = [r for r in itertools.islice(parse_records(((line, 0) for line in lines), delimiter), 200)
               if not r.blank]
    if not records:
        raise NotACsv("The file has no rows.")
    header = [printable(cell).strip() for cell in records[0].cells]
    if len(records) < 2:
        raise NotACsv("The file has a header row but no data rows, so there is nothing to import."
                      if whole else "No data rows were found in the file's first megabyte.")
    if not delimiter and len(header) == 1 and guess_field(header[0]) not in IDENTIFYING:
        raise NotACsv("We could not find the columns: no comma, semicolon, tab or pipe separates the values "
                      "in the first rows. Check that this is a CSV file.")
    if len(header) > MAX_COLUMNS:
        raise NotACsv(f"The file has {len(header)} columns; we can map at most {MAX_COLUMNS}. "
                      "Remove the columns you don't need and upload it again.")
    headers = [(cell or f"Column {i + 1}")[:100] for i, cell in enumerate(header)]
    return Shape(encoding=encoding, delimiter=delimiter or ",", headers=headers)


# --- uploading ------------------------------------------------------------------------------------

def create_import(stream: BinaryIO, filename: str, actor_id: int | None, *,
                  chunk_bytes: int = CHUNK_BYTES, max_bytes: int = MAX_FILE_BYTES) -> LeadImport:
    """Store an uploaded CSV in chunks, with its encoding, delimiter, headers and a guessed mapping.

    Raises NotACsv or FileTooLarge (nothing is stored then)."""
    first = stream.read(chunk_bytes)
    second = stream.read(chunk_bytes) if first else b""
    evidence = Utf8Evidence().feed(first)
    shape = inspect_sample(first, not second, detect_encoding(first, evidence))  # refuse early, store nothing
    with atomic():
        name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip() or "upload.csv"
        imp = LeadImport(filename=name[-255:], created_by_id=actor_id, status="uploaded",
                         created_at=utcnow())
        db.session.add(imp)
        db.session.flush()
        size, chunk = 0, first
        for seq in itertools.count():
            size += len(chunk)
            if size > max_bytes:
                raise FileTooLarge()
            if seq:
                evidence.feed(chunk)
            db.session.execute(insert(ImportChunk).values(import_id=imp.id, seq=seq, data=chunk))
            chunk, second = (second, b"") if second else (stream.read(chunk_bytes), b"")
            if not chunk:
                break
        evidence.feed(b"", final=True)
        encoding = detect_encoding(first, evidence)
        if encoding != shape.encoding:  # a later chunk showed UTF-8 that the first one did not
            shape = inspect_sample(first, size == len(first), encoding)
        imp.size_bytes, imp.encoding, imp.delimiter = size, shape.encoding, shape.delimiter
        imp.headers, imp.mapping = shape.headers, guess_mapping(shape.headers)
    return imp


def get_import(import_id: int) -> LeadImport:
    imp = db.session.get(LeadImport, import_id)
    if imp is None:
        raise ImportNotFound()
    return imp


def recent_imports(limit: int = 10) -> list[LeadImport]:
    return list(db.session.scalars(select(LeadImport).order_by(LeadImport.id.desc()).limit(limit)))


def _chunks(import_id: int) -> Iterator[bytes]:
    """The stored file, one chunk at a time; raises ImportDamaged if a chunk is missing."""
    count = db.session.scalar(select(func.count()).select_from(ImportChunk).where(ImportChunk.import_id == import_id))
    for seq in range(count):
        data = db.session.scalar(select(ImportChunk.data).where(ImportChunk.import_id == import_id,
                                                                ImportChunk.seq == seq))
        if data is None:
            raise ImportDamaged()
        yield bytes(data)


def preview_rows(import_id: int, limit: int = PREVIEW_ROWS) -> list[list[str]]:
    """The first data rows as the import will read them (broken characters shown as U+FFFD)."""
    imp = get_import(import_id)
    records = data_records(read_records(_chunks(imp.id), imp.encoding, imp.delimiter))
    rows = []
    for record in records:
        if not record.blank:
            rows.append([printable(cell) for cell in record.cells])
        if len(rows) >= limit:
            break
    return rows


# --- choosing and starting --------------------------------------------------------------------------

def start_import(import_id: int, *, mapping: dict[str, str], source: str | None, stage_id: int | None,
                 owner_id: int | None, duplicates: str, actor_id: int | None) -> LeadImport:
    """Save the mapping and options, then queue the import job.

    Raises ImportStarted, ServiceError naming a bad choice, or QueueDown (the import is kept, ready to start)."""
    with atomic():
        imp = get_import(import_id)
        if imp.status != "uploaded":
            raise ImportStarted()
        mapping = _checked_mapping(imp.headers, mapping)
        if duplicates not in DUPLICATE_MODES:
            raise ServiceError("Choose what to do with duplicates.", field="duplicates")
        source = (source or "").strip() or None
        if source and len(source) > 100:
            raise ServiceError("Source must be at most 100 characters.", field="source")
        if stage_id is not None:
            get_stage(stage_id)
        if owner_id is not None:
            active_user(owner_id)
        imp.mapping, imp.default_source, imp.duplicates = mapping, source, duplicates
        imp.default_stage_id, imp.default_owner_id = stage_id, owner_id
        imp.status = "queued"
    try:
        enqueue("app.jobs.imports.run_import", imp.id, job_id=f"import-{imp.id}", job_timeout=JOB_TIMEOUT)
    except QueueUnavailable as exc:
        with atomic():
            db.session.execute(update(LeadImport).where(LeadImport.id == imp.id, LeadImport.status == "queued")
                               .values(status="uploaded"))
        raise QueueDown(str(exc).rstrip(".")) from exc
    return imp


def _checked_mapping(headers: list[str], mapping: dict[str, str]) -> dict[str, str]:
    checked, used = {}, {}
    for index, header in enumerate(headers):
        name = mapping.get(str(index), "ignore")
        if name not in FIELDS:
            raise ServiceError("Pick a lead field from the list.", field=f"col_{index}")
        if name != "ignore" and name in used:
            raise ServiceError(f"“{headers[used[name]]}” is already mapped to {FIELDS[name]}; map only one column "
                               "to each field.", field=f"col_{index}")
        used.setdefault(name, index)
        checked[str(index)] = name
    if not IDENTIFYING & set(used):
        raise ServiceError("Map at least one column to a name, an email or a phone number, so each lead can be "
                           "recognised.")
    if "full_name" in used and used.keys() & {"first_name", "last_name"}:
        raise ServiceError("Map either Full name or First/Last name, not both.", field=f"col_{used['full_name']}")
    return checked


# --- running --------------------------------------------------------------------------------------

@dataclass
class Tally:
    rows_done: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    rejected: int = 0
    processed_bytes: int = 0

    def values(self) -> dict:
        return {"rows_done": self.rows_done, "created_count": self.created, "updated_count": self.updated,
                "skipped_count": self.skipped, "rejected_count": self.rejected,
                "processed_bytes": self.processed_bytes}


@dataclass
class Plan:
    """What one import does with each row, read once from its LeadImport."""

    import_id: int
    columns: list[tuple[int, str]]  # (column index, field), full name last so named columns win
    headers: list[str]
    source: str | None
    stage_id: int | None
    owner_id: int | None
    on_duplicate: OnDuplicate
    actor_id: int | None
    region: str
    header_of: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, imp: LeadImport, region: str) -> Plan:
        columns = sorted(((int(i), f) for i, f in imp.mapping.items() if f != "ignore"),
                         key=lambda c: (c[1] == "full_name", c[0]))
        header_of = {f: imp.headers[i] for i, f in columns if i < len(imp.headers)}
        for part in ("first_name", "last_name"):
            if "full_name" in header_of:
                header_of.setdefault(part, header_of["full_name"])
        # No stage chosen (or it was deleted since): the pipeline's first, looked up once, not per row.
        stage_id = imp.default_stage_id or db.session.scalar(select(Stage.id).order_by(Stage.position, Stage.id))
        return cls(import_id=imp.id, columns=columns, headers=list(imp.headers), source=imp.default_source,
                   stage_id=stage_id, owner_id=imp.default_owner_id,
                   on_duplicate=DUPLICATE_MODES.get(imp.duplicates, OnDuplicate.skip), actor_id=imp.created_by_id,
                   region=region, header_of=header_of)


class RowRejected(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


_SALUTATION = re.compile(r"^(mr|mrs|ms|miss|mx|dr|prof)\.?\s+", re.IGNORECASE)
_CURRENCY_CODE = re.compile(r"^[A-Za-z]{3}(?=[\s\d.$€£¥])|(?<=[\s\d.])[A-Za-z]{3}$")
_MONEY_JUNK = re.compile(r"[\s\u00a0$€£¥]")
_DECIMAL_COMMA = re.compile(r"^\d{1,3}(\.\d{3})*,\d{1,2}$|^\d+,\d{1,2}$")  # 1.234,56 or 12,5


def money_text(value: str) -> str:
    """'$1,200.50' -> '1,200.50'; '1.234,56 EUR' -> '1234.56' (a decimal comma has 1-2 digits after it)."""
    value = _MONEY_JUNK.sub("", _CURRENCY_CODE.sub("", value.strip()))
    if _DECIMAL_COMMA.match(value):
        value = value.replace(".", "").replace(",", ".")
    return value


def split_name(full: str) -> tuple[str, str]:
    """'Ada Lovelace' -> ('Ada', 'Lovelace'); 'Lovelace, Ada' -> ('Ada', 'Lovelace'); 'Dr. Ada' -> ('Ada', '')."""
    full = _SALUTATION.sub("", " ".join(full.split()))
    if "," in full:
        last, _, first = full.partition(",")
        return first.strip(), last.strip()
    first, _, last = full.partition(" ")
    return first, last


def _unneutralise(value: str) -> str:
    """Our exports put a quote before a formula-like cell; importing such a file gets the value back."""
    return value[1:] if len(value) > 1 and value[0] == "'" and value[1] in "=+-@\t\r" else value


def lead_fields(cells: list[str], plan: Plan) -> tuple[dict, dict]:
    """(lead fields, UTM origin) from one row; raises RowRejected."""
    data, origin = {}, {}
    for index, name in plan.columns:
        value = _unneutralise(cells[index].strip()) if index < len(cells) else ""
        if not value:
            continue
        if name == "full_name":
            first, last = split_name(value)
            data.setdefault("first_name", first)
            data.setdefault("last_name", last)
        elif name in ORIGIN:
            origin[name] = value
        elif name == "value":
            data["value"] = money_text(value)
        else:
            data[name] = value
    if not any(data.get(name) for name in ("first_name", "last_name", "email", "phone")):
        raise RowRejected("Has no name, email or phone number, so there is no lead to import.")
    return data, origin


def _import_record(record: Record, plan: Plan) -> str:
    """'created', 'updated' or 'skipped'; raises RowRejected with the reason."""
    if record.error:
        raise RowRejected(record.error)
    text = "".join(record.cells)
    if _BROKEN.search(text):
        raise RowRejected("Has bytes that are not valid text in this file's encoding (a broken character), "
                          "so it was not imported. Fix the characters shown as \ufffd and import this row again.")
    if "\x00" in text:
        raise RowRejected("Contains a NUL character (binary data), which no lead field can hold.")
    extra = [cell for cell in record.cells[len(plan.headers):] if cell.strip()]
    if extra:
        raise RowRejected(f"Has {len(record.cells)} values but the header has {len(plan.headers)} columns "
                          "(is a value with a comma or semicolon missing its quotes?).")
    data, origin = lead_fields(record.cells, plan)
    try:
        captured = capture_lead(data, via="CSV import", actor_id=plan.actor_id, stage_id=plan.stage_id,
                                owner_id=plan.owner_id, source=plan.source, origin=origin,
                                on_duplicate=plan.on_duplicate, region=plan.region)
    except ServiceError as exc:
        header = plan.header_of.get(exc.field or "")
        raise RowRejected(f"{header}: {exc.message}" if header and exc.field != "first_name" else exc.message)
    except (DataError, IntegrityError) as exc:  # the database refused the row; its savepoint is undone
        raise RowRejected(f"Could not be saved ({type(exc.orig).__name__}).")
    if captured.created:
        return "created"
    return "updated" if captured.changed else "skipped"


def run_import(import_id: int, *, region: str | None = None, batch_rows: int = BATCH_ROWS) -> LeadImport | None:
    """Import every row of a queued import through capture_lead, committing a batch at a time.

    Returns None (doing nothing) when the import is not queued: another run claimed it first.
    Raises ImportDamaged when stored chunks are missing; the import is then marked failed."""
    with atomic():
        claimed = db.session.execute(
            update(LeadImport).where(LeadImport.id == import_id, LeadImport.status == "queued")
            .values(status="running", started_at=utcnow()).execution_options(synchronize_session=False)).rowcount
    if not claimed:
        return None
    imp = get_import(import_id)
    db.session.refresh(imp)
    try:
        if imp.default_owner_id is not None and not db.session.get(User, imp.default_owner_id).active:
            raise ServiceError("The owner chosen for this import is no longer an active teammate, so nothing was "
                               "imported. Upload the file again and choose another owner or the pool.")
        plan = Plan.of(imp, region)
        encoding, delimiter, size = imp.encoding, imp.delimiter, imp.size_bytes
        _import_rows(plan, encoding, delimiter, size, batch_rows)
    except Exception as exc:
        message = exc.message if isinstance(exc, ServiceError) else \
            f"The import stopped unexpectedly ({type(exc).__name__}). The rows counted here were saved."
        with atomic():
            db.session.execute(update(LeadImport).where(LeadImport.id == import_id, LeadImport.status == "running")
                               .values(status="failed", error=message, finished_at=utcnow())
                               .execution_options(synchronize_session=False))
        if not isinstance(exc, ServiceError):
            raise
    imp = get_import(import_id)
    db.session.refresh(imp)
    return imp


def _import_rows(plan: Plan, encoding: str, delimiter: str, size: int, batch_rows: int) -> None:
    tally = Tally()
    records = data_records(read_records(_chunks(plan.import_id), encoding, delimiter))
    finished = False
    while not finished:
        with atomic():  # one batch: its leads, rejections and progress counters commit together
            # Held for the batch so capture_lead's lookups of them hit the session, not the database
            # (the identity map keeps only what something references).
            held = [db.session.get(Stage, plan.stage_id) if plan.stage_id else None,
                    db.session.get(User, plan.owner_id) if plan.owner_id else None]
            started, rows, rejections = time.monotonic(), 0, []
            finished = True
            for record in records:
                tally.processed_bytes = record.end
                if record.blank:
                    continue
                tally.rows_done += 1
                try:
                    # capture_lead's atomic() is the row's savepoint (a rejected row leaves nothing of
                    # itself behind); another around it would cost two round trips and a second
                    # PostgreSQL subtransaction per row (see BATCH_ROWS).
                    outcome = _import_record(record, plan)
                except RowRejected as exc:
                    tally.rejected += 1
                    rejections.append({"import_id": plan.import_id, "row_number": record.number,
                                       "reason": exc.reason, "values": [printable(c) for c in record.cells]})
                else:
                    setattr(tally, outcome, getattr(tally, outcome) + 1)
                rows += 1
                if rows >= batch_rows or time.monotonic() - started >= BATCH_SECONDS:
                    finished = False
                    break
            if rejections:
                db.session.execute(insert(ImportRejection), rejections)
            values = tally.values()
            if finished:
                values.update(status="done", finished_at=utcnow(), processed_bytes=size)
                db.session.execute(delete(ImportChunk).where(ImportChunk.import_id == plan.import_id))
            db.session.execute(update(LeadImport).where(LeadImport.id == plan.import_id).values(**values)
                               .execution_options(synchronize_session=False))
            del held


def percent_done(imp: LeadImport) -> int:
    if imp.status == "done":
        return 100
    return min(99, imp.processed_bytes * 100 // imp.size_bytes) if imp.size_bytes else 0


# --- writing CSV ------------------------------------------------------------------------------------

def rejected_rows_csv(import_id: int) -> Iterator[str]:
    """The rejected rows as CSV: row number, reason, then the row as it was; streamed in batches."""
    imp = get_import(import_id)
    line = _CsvLines()
    yield BOM + line(["Row", "Reason", *imp.headers])
    query = (select(ImportRejection.row_number, ImportRejection.reason, ImportRejection.values)
             .where(ImportRejection.import_id == imp.id).order_by(ImportRejection.row_number, ImportRejection.id)
             .execution_options(yield_per=EXPORT_BATCH))
    buffer = []
    for number, reason, values in db.session.execute(query):
        buffer.append(line([number, reason, *values]))
        if len(buffer) >= EXPORT_BATCH:
            yield "".join(buffer)
            buffer = []
    if buffer:
        yield "".join(buffer)


EXPORT_COLUMNS = (
    ("ID", Lead.id), ("First name", Lead.first_name), ("Last name", Lead.last_name), ("Email", Lead.email),
    ("Phone", Lead.phone), ("Company", Lead.company), ("Job title", Lead.job_title), ("Source", Lead.source),
    ("Deal value", Lead.value), ("Stage", Stage.name), ("Owner", User.name), ("UTM source", Lead.utm_source),
    ("UTM medium", Lead.utm_medium), ("UTM campaign", Lead.utm_campaign), ("Created (UTC)", Lead.created_at),
)


def export_leads(filters: PoolFilters, acting_user_id: int | None) -> Iterator[str]:
    """Every lead the pool shows for `filters`, in its order, as CSV text; a batch of rows in memory
    at a time. The query runs now, and the first batch is read when the first piece is taken."""
    column = SORTS.get(filters.sort, Lead.created_at)
    ascending = filters.direction == "asc"
    query = (filtered(select(*(c for _, c in EXPORT_COLUMNS)).select_from(Lead)
                       .join(Stage, Lead.stage_id == Stage.id).outerjoin(User, Lead.owner_id == User.id),
                       filters, acting_user_id)
             .order_by(column.asc() if ascending else column.desc().nulls_last(),
                       Lead.id.asc() if ascending else Lead.id.desc())
             .execution_options(yield_per=EXPORT_BATCH))
    line = _CsvLines()

    def lines(rows) -> str:
        return "".join(line([*cells, created.isoformat(sep=" ", timespec="seconds") if created else ""])
                       for *cells, created in rows)

    return csv_stream(BOM + line(name for name, _ in EXPORT_COLUMNS),
                      (lines(rows) for rows in db.session.execute(query).partitions(EXPORT_BATCH)))


EXPORT_FAILED = "The export stopped part way because of an error on our side; this file is incomplete. Download it again."


def csv_stream(header: str, batches: Iterator[str]) -> Iterator[str]:
    """The header with the first batch, then the rest. The caller takes the first piece before
    sending anything (so a failing query is an error page, not a cut file); a failure after that
    ends the file with a line saying it is incomplete, then breaks off the download."""
    yield header + next(batches, "")
    try:
        yield from batches
    except Exception:
        yield _CsvLines()([EXPORT_FAILED])
        raise
