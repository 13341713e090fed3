"""CSV import runs.

An upload is stored in ~1 MB chunks so any worker on any host can stream it back; its encoding,
delimiter and headers are guessed on the way in (csv_reading). The import job then reads it record
by record and commits a batch at a time (up to BATCH_ROWS, or about a second's work) together with
the progress counters, so a crash leaves counts that match what was saved. Each committed batch is a
heartbeat too: an import whose worker died (or whose job Redis lost) is queued again by the sweep
(requeue_lost) and carries on after the last record of its last committed batch, nothing doubled.
Rows that are surely new leads are written set-based per batch (capture.NewLeads), the rest
through capture_lead (the one way in) one at a time: the outcome is the same either way."""
from __future__ import annotations

import codecs
import itertools
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import BinaryIO

from flask import current_app
from redis import RedisError
from sqlalchemy import delete, func, insert, or_, select, text, update
from sqlalchemy.exc import DataError, IntegrityError

from app.extensions import db
from app.models import ImportChunk, ImportRow, LeadImport, Stage, User
from app.queue import QueueUnavailable, enqueue
from app.services import Conflict, NotFound, ServiceError, atomic, utcnow
from app.services.capture import NewLeads, OnDuplicate, Prepared, capture_lead, prepare
from app.services.assignment import holds_turn
from app.services import custom_fields, permissions
from app.services.csv_headers import FIELDS, guess_mapping, normal_form
from app.services.csv_reading import (BOM, BROKEN, CODECS, HEADER_SCAN, IDENTIFYING, CsvLines, Record,
                                      RecordCounter, Utf8Evidence, data_records, detect_encoding, header_cells,
                                      inspect_sample, printable, read_records)
from app.services.bulk import insert_many
from app.services.export import EXPORT_BATCH, streamed
from app.services import import_cells
from app.services.identity import IDENTIFYING_FIELDS, Batch as IdentityBatch, Known, hold_many, identifies
from app.services.leads import active_user, clean_field, default_phone_region, phone_region
from app.models.lead import EDITABLE_FIELDS
from app.services.stages import get_stage
from app.services.timeline import record as record_entry

MAX_FILE_BYTES = 50 * 1024 * 1024
CHUNK_BYTES = 1024 * 1024
PREVIEW_ROWS = 5
SAMPLE_ROWS = 200  # rows read to see how a date column orders day and month
DATE_ORDERS = (import_cells.MONTH_FIRST, import_cells.DAY_FIRST)
# Records per transaction (a batch, _BatchRun): the surely new leads among them are written
# set-based, so a batch of a thousand costs a few statements; fewer rows through capture_lead (its
# savepoints, see _BatchRun.SAVEPOINTS). A batch also stops taking rows after BATCH_SECONDS, so
# the progress bar (polled every second) moves at each poll and SQLite's write lock is released
# often: its last write and commit come on top (bench_import's "gap s": the longest wait measured).
BATCH_ROWS = 1000
BATCH_SECONDS = 0.5
JOB_TIMEOUT = 6 * 3600
# A running import commits a batch about every BATCH_SECONDS (its heartbeat); one silent for
# IMPORT_STALE_SECONDS (config) lost its worker. A queued one not started this long after queueing
# lost its job (Redis).
QUEUED_STALE = timedelta(minutes=1)


def run_stale() -> timedelta:
    return timedelta(seconds=current_app.config["IMPORT_STALE_SECONDS"])


class _Overtaken(Exception):
    """Another run took this import over (this one was silent too long): this batch is undone."""

EMPTY_ROW = "Every cell of this row is empty."
VIA = "CSV import"
DUPLICATE_MODES = {"skip": OnDuplicate.skip, "update": OnDuplicate.update, "keep": OnDuplicate.keep}
ORIGIN = ("utm_source", "utm_medium", "utm_campaign")


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


# --- uploading ------------------------------------------------------------------------------------

def create_import(stream: BinaryIO, filename: str, actor_id: int | None, *,
                  chunk_bytes: int = CHUNK_BYTES, max_bytes: int = MAX_FILE_BYTES) -> LeadImport:
    """Store an uploaded CSV in chunks, with its encoding, delimiter, headers and a guessed mapping.

    Raises NotACsv or FileTooLarge (nothing is stored then)."""
    first = stream.read(chunk_bytes)
    second = stream.read(chunk_bytes) if first else b""
    evidence = Utf8Evidence().feed(first)
    shape = inspect_sample(first, not second, detect_encoding(first, evidence))  # refuse early, store nothing
    rows = RecordCounter(shape.encoding)  # UTF-16 or not is settled by the first chunk
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
            rows.feed(chunk)
            db.session.execute(insert(ImportChunk).values(import_id=imp.id, seq=seq, data=chunk))
            chunk, second = (second, b"") if second else (stream.read(chunk_bytes), b"")
            if not chunk:
                break
        evidence.feed(b"", final=True)
        counted = rows.feed(b"", final=True)
        encoding = detect_encoding(first, evidence)
        if encoding != shape.encoding:  # a later chunk showed UTF-8 that the first one did not
            shape = inspect_sample(first, size == len(first), encoding)
        imp.size_bytes, imp.encoding, imp.delimiter = size, shape.encoding, shape.delimiter
        imp.headers, imp.mapping = shape.headers, guess_mapping(shape.headers, custom_header_targets())
        imp.header_row = shape.header_row  # title and metadata lines above it are not data rows
        imp.row_count = max(counted.records - shape.before_header - 1, 0)
    return imp


def get_import(import_id: int, *, lock: bool = False) -> LeadImport:
    """The import; lock=True (inside atomic()) reads it afresh and locks its row, so a start, a
    header change, a discard and an undo of the same import happen one after the other."""
    if lock:
        imp = db.session.scalar(select(LeadImport).where(LeadImport.id == import_id).with_for_update()
                                .execution_options(populate_existing=True))
    else:
        imp = db.session.get(LeadImport, import_id)
    if imp is None:
        raise ImportNotFound()
    return imp


def recent_imports(limit: int = 10, created_by: int | None = None) -> list[LeadImport]:
    """The latest imports, newest first; only those `created_by` started, when given
    (permissions.imports_visible_to)."""
    query = select(LeadImport).order_by(LeadImport.id.desc()).limit(limit)
    if created_by is not None:
        query = query.where(LeadImport.created_by_id == created_by)
    return list(db.session.scalars(query))


def _chunks(import_id: int) -> Iterator[bytes]:
    """The stored file, one chunk at a time; raises ImportDamaged if a chunk is missing."""
    count = db.session.scalar(select(func.count()).select_from(ImportChunk).where(ImportChunk.import_id == import_id))
    for seq in range(count):
        data = db.session.scalar(select(ImportChunk.data).where(ImportChunk.import_id == import_id,
                                                                ImportChunk.seq == seq))
        if data is None:
            raise ImportDamaged()
        yield bytes(data)


@dataclass
class Stripped:
    records: int  # data records taken out of the file
    still_there: bool  # the text is in the file yet (its header, a line above it, an unreadable line)


def _stored_chunks(import_id: int) -> Iterator[bytes]:
    """The stored file's chunks in order, one read each, whatever is missing (a search's reading:
    _chunks refuses a damaged file, which an import must)."""
    seqs = list(db.session.scalars(select(ImportChunk.seq).where(ImportChunk.import_id == import_id)
                                   .order_by(ImportChunk.seq)))
    for seq in seqs:
        data = db.session.scalar(select(ImportChunk.data).where(ImportChunk.import_id == import_id,
                                                                ImportChunk.seq == seq))
        if data is not None:
            yield data if isinstance(data, bytes) else bytes(data)


def file_holds(import_id: int, needles: list[str]) -> bool:
    """Whether an import's stored file holds any of these strings anywhere, in any case: read a
    chunk at a time in the file's encoding and compared case-folded (so "Ann@X.org" is found for
    "ann@x.org", in UTF-16 too), each chunk's text searched together with the end of the one before,
    as long as the longest needle, so that a value split across two stored chunks is found as well.
    Never holds more than about two chunks."""
    wanted = [needle.casefold() for needle in needles if needle]
    imp = db.session.get(LeadImport, import_id)
    if not wanted or imp is None:
        return False
    spec = CODECS.get(imp.encoding or "utf-8", CODECS["utf-8"])
    decoder = codecs.getincrementaldecoder(spec.codec)(errors="replace")
    overlap = max(len(needle) for needle in wanted) - 1
    tail = ""
    for chunk in itertools.chain(_stored_chunks(import_id), [None]):
        text = (decoder.decode(chunk) if chunk is not None else decoder.decode(b"", final=True)).casefold()
        del chunk
        seam = tail + text[:overlap]  # a needle across the chunk end (text itself is not copied)
        if any(needle in seam or needle in text for needle in wanted):
            return True
        if overlap:
            tail = seam[-overlap:] if len(text) < overlap else text[-overlap:]
    return False


def strip_records(import_id: int, needle: str, chunk_bytes: int | None = None) -> Stripped:
    """Take out of an upload never started every data record holding `needle` in a cell (in any
    case), inside the caller's transaction: every other byte stays as uploaded (the other rows, the
    header, the lines above it), so the upload still starts as it would have. Streams: the file is
    read a chunk at a time and the new one written as it goes (beside the old, which then goes), in
    chunks as large as the upload's (`chunk_bytes` to choose), so a large upload is never held whole.
    Raises ImportStarted."""
    imp = get_import(import_id, lock=True)
    if imp.status != "uploaded":
        raise ImportStarted()
    wanted = needle.casefold()
    drop: list[tuple[int, int]] = []  # byte ranges [start, end) of the records that go
    start = 0
    for record in read_records(_chunks(imp.id), imp.encoding, imp.delimiter):
        if record.number > imp.header_row and any(wanted in cell.casefold() for cell in record.cells):
            drop.append((start, record.end))
        start = record.end
    if not drop:
        return Stripped(0, file_holds(imp.id, [needle]))
    # The new file goes in after the old one's numbers (seq >= old), then takes their place.
    old = db.session.scalar(select(func.count()).select_from(ImportChunk).where(ImportChunk.import_id == imp.id))
    pending, written, size = bytearray(), 0, 0

    def put(data: bytes) -> None:
        nonlocal written, size
        db.session.execute(insert(ImportChunk).values(import_id=imp.id, seq=old + written, data=data))
        written, size = written + 1, size + len(data)

    offset, cut = 0, 0
    for chunk in _chunks(imp.id):
        chunk_bytes = chunk_bytes or len(chunk) or CHUNK_BYTES
        end = offset + len(chunk)
        position = offset
        while position < end:
            while cut < len(drop) and drop[cut][1] <= position:
                cut += 1
            if cut < len(drop) and drop[cut][0] <= position:
                position = min(drop[cut][1], end)
                continue
            upto = min(drop[cut][0], end) if cut < len(drop) else end
            pending += chunk[position - offset:upto - offset]
            position = upto
        offset = end
        while len(pending) >= chunk_bytes:
            put(bytes(pending[:chunk_bytes]))
            del pending[:chunk_bytes]
    if pending or not written:
        put(bytes(pending))
    db.session.execute(delete(ImportChunk).where(ImportChunk.import_id == imp.id, ImportChunk.seq < old)
                       .execution_options(synchronize_session=False))
    db.session.execute(update(ImportChunk).where(ImportChunk.import_id == imp.id)
                       .values(seq=ImportChunk.seq - old).execution_options(synchronize_session=False))
    imp.size_bytes = size
    if imp.row_count is not None:
        imp.row_count = max(imp.row_count - len(drop), 0)
    return Stripped(len(drop), file_holds(imp.id, [needle]))


def opening_records(imp: LeadImport) -> list[Record]:
    """The file's first non-blank records: the lines the header may be chosen from."""
    records = read_records(_chunks(imp.id), imp.encoding, imp.delimiter)
    return list(itertools.islice((r for r in records if not r.blank), HEADER_SCAN))


def header_choices(imp: LeadImport) -> list[tuple[int, str]]:
    """(record number, the line as text) for each line the header may be on."""
    return [(r.number, printable(" · ".join(c.strip() for c in r.cells if c.strip()))[:120] or "(empty)")
            for r in opening_records(imp) if r.error is None]


def choose_header_row(import_id: int, header_row: int) -> LeadImport:
    """Read the headers from another line of the file and guess the mapping again.

    Raises ImportStarted, or ServiceError(field="header_row") for a line that is not offered."""
    with atomic():
        imp = get_import(import_id, lock=True)
        if imp.status != "uploaded":
            raise ImportStarted()
        records = opening_records(imp)
        chosen = next((r for r in records if r.number == header_row and r.error is None), None)
        if chosen is None:
            raise ServiceError(f"Choose one of the first {HEADER_SCAN} lines of the file.", field="header_row")
        headers = header_cells(chosen)
        before = {r.number: index for index, r in enumerate(records)}
        if imp.row_count is not None and imp.header_row in before:
            imp.row_count = max(imp.row_count + before[imp.header_row] - before[header_row], 0)
        imp.header_row, imp.headers = header_row, headers
        imp.mapping = guess_mapping(headers, custom_header_targets())
    return imp


def date_orders(imp: LeadImport, mapping: dict[str, str], rows: list[list[str]] | None = None) -> dict[int, str]:
    """Column index -> how its dates order day and month ("dmy", "mdy", or "" when the rows do not
    say), for the columns mapped to a date (a date custom field, the expected close date); `rows`
    (default: the file's first SAMPLE_ROWS) are read only when there is such a column."""
    dates = {CUSTOM_TARGET + f.key for f in custom_fields.definitions() if f.kind == "date"} | {"expected_close_on"}
    columns = [int(key) for key, target in mapping.items() if target in dates]
    if columns and rows is None:
        rows = preview_rows(imp.id, SAMPLE_ROWS)
    orders = {}
    for index in columns:
        order = import_cells.date_order_of([r[index] for r in rows if index < len(r) and r[index].strip()])
        if order is not None:
            orders[index] = order
    return orders


def preview_rows(import_id: int, limit: int = PREVIEW_ROWS) -> list[list[str]]:
    """The first data rows as the import will read them (broken characters shown as U+FFFD)."""
    imp = get_import(import_id)
    records = data_records(read_records(_chunks(imp.id), imp.encoding, imp.delimiter), imp.header_row)
    rows = []
    for record in records:
        if not record.blank and record.error is None:
            rows.append([printable(cell) for cell in record.cells])
        if len(rows) >= limit:
            break
    return rows


# --- choosing and starting --------------------------------------------------------------------------

def start_import(import_id: int, *, mapping: dict[str, str], source: str | None, stage_id: int | None,
                 owner_id: int | None, duplicates: str, actor_id: int | None,
                 apply_rules: bool = False, strict: bool = False, date_order: str | None = None) -> LeadImport:
    """Save the mapping and options, then queue the import job.

    Raises ImportStarted, ServiceError naming a bad choice, or QueueDown (the import is kept, ready to start)."""
    with atomic():
        imp = get_import(import_id, lock=True)
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
        imp.apply_rules = bool(apply_rules)
        if date_order not in (None, "", *DATE_ORDERS):
            raise ServiceError("Choose whether the day or the month comes first.", field="date_order")
        if not date_order:  # not asked: a date column whose values show it decides
            decided = [o for o in date_orders(imp, mapping).values() if o]
            date_order = decided[0] if decided else None
        imp.strict, imp.date_order = bool(strict), date_order or None
        imp.status, imp.heartbeat_at = "queued", utcnow()
    try:
        enqueue("app.jobs.imports.run_import", imp.id, job_id=f"import-{imp.id}", job_timeout=JOB_TIMEOUT)
    except QueueUnavailable as exc:
        with atomic():
            db.session.execute(update(LeadImport).where(LeadImport.id == imp.id, LeadImport.status == "queued")
                               .values(status="uploaded"))
        raise QueueDown(str(exc).rstrip(".")) from exc
    return imp


CUSTOM_TARGET = "custom:"  # a mapping target naming a custom field: "custom:<key>"


def mapping_targets() -> dict[str, str]:
    """What a column can be mapped to, in menu order: the lead fields, the custom fields, "Don't import"."""
    targets = {name: label for name, label in FIELDS.items() if name != "ignore"}
    for custom in custom_fields.active_fields():
        targets[CUSTOM_TARGET + custom.key] = f"{custom.label} (custom field)"
    targets["ignore"] = FIELDS["ignore"]
    return targets


def custom_header_targets() -> dict[str, str]:
    """A header naming a custom field, by its label or key (in csv_headers' normal form) -> its target."""
    targets = {}
    for custom in custom_fields.active_fields():
        for name in (custom.key, custom.label):
            targets.setdefault(normal_form(name), CUSTOM_TARGET + custom.key)
    return targets


def _checked_mapping(headers: list[str], mapping: dict[str, str]) -> dict[str, str]:
    checked, used = {}, {}
    targets = mapping_targets()
    for index, header in enumerate(headers):
        name = mapping.get(str(index), "ignore")
        if name not in targets:
            raise ServiceError("Pick a lead field from the list.", field=f"col_{index}")
        if name != "ignore" and name in used:
            raise ServiceError(f"“{headers[used[name]]}” is already mapped to {targets[name]}; map only one column "
                               "to each field.", field=f"col_{index}")
        used.setdefault(name, index)
        checked[str(index)] = name
    if not IDENTIFYING & set(used):
        raise ServiceError("Map at least one column to a name, a company, an email or a phone number, so each "
                           "lead can be recognised.")
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

    def count(self, outcome: RowOutcome) -> None:
        name = {"merged": "updated"}.get(outcome.outcome, outcome.outcome)
        setattr(self, name, getattr(self, name) + 1)

    def values(self) -> dict:
        return {"rows_done": self.rows_done, "created_count": self.created, "updated_count": self.updated,
                "skipped_count": self.skipped, "rejected_count": self.rejected,
                "processed_bytes": self.processed_bytes}

    @classmethod
    def so_far(cls, imp: LeadImport) -> Tally:
        """The counts of the batches already committed (all zero for an import not yet started)."""
        return cls(rows_done=imp.rows_done, created=imp.created_count, updated=imp.updated_count,
                   skipped=imp.skipped_count, rejected=imp.rejected_count, processed_bytes=imp.processed_bytes)


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
    apply_rules: bool = False  # new leads without an owner go where the assignment rules say
    header_of: dict[str, str] = field(default_factory=dict)
    strict: bool = False  # a value a field cannot take rejects the row (else: left out, kept on the timeline)
    date_order: str = import_cells.MONTH_FIRST  # how 03/04/2024 reads in a date column (custom or expected close)
    custom: dict[str, custom_fields.FieldDef] = field(default_factory=dict)  # definitions by the mapping's key
    filename: str = ""
    header_row: int | None = None  # the header's record number; None: the file's first non-blank record
    custom_ids: dict[str, int] = field(default_factory=dict)  # the mapping's key -> the field's id
    owner_gone: str | None = None  # the default owner's name, once deactivated during the import
    # Whose leads the importer may see (permissions.visible_to; None: everyone's): a row matching a
    # lead outside it leaves that lead as it is (permissions.hidden_lead), whatever the duplicates choice.
    visible_to: int | None = None

    def pool_note(self) -> str:
        return f"In the pool: {self.owner_gone}, the import's owner, was deactivated during the import"

    def refresh(self) -> None:
        """At each batch, the settings as they are now: a custom field renamed during the import
        keeps its column (under its new key), one deleted is left out and noted on each row; new
        leads go to the pool once the default owner has been deactivated; what the importer may see
        follows the team settings."""
        by_id = {f.id: f for f in custom_fields.definitions()}
        self.custom = {key: by_id[i] for key, i in self.custom_ids.items() if i in by_id}
        for key, custom in self.custom.items():
            header = self.header_of.get(custom_fields.form_name(key))
            if header is not None:
                self.header_of[custom_fields.form_name(custom.key)] = header
        importer = db.session.get(User, self.actor_id) if self.actor_id is not None else None
        self.visible_to = permissions.visible_to(importer) if importer is not None else None
        if self.owner_id is not None:
            owner = db.session.get(User, self.owner_id)
            if owner is None or not owner.active:
                self.owner_gone, self.owner_id = owner.name if owner else "the chosen owner", None

    @classmethod
    def of(cls, imp: LeadImport, region: str) -> Plan:
        columns = sorted(((int(i), f) for i, f in imp.mapping.items() if f != "ignore"),
                         key=lambda c: (c[1] == "full_name", c[0]))
        header_of = {f: imp.headers[i] for i, f in columns if i < len(imp.headers)}
        for target, header in list(header_of.items()):  # a custom field's error names custom_<key>
            if target.startswith(CUSTOM_TARGET):
                header_of[custom_fields.form_name(target.removeprefix(CUSTOM_TARGET))] = header
        for part in ("first_name", "last_name"):
            if "full_name" in header_of:
                header_of.setdefault(part, header_of["full_name"])
        # No stage chosen (or it was deleted since): the pipeline's first, looked up once, not per row.
        stage_id = imp.default_stage_id or db.session.scalar(select(Stage.id).order_by(Stage.position, Stage.id))
        return cls(import_id=imp.id, columns=columns, headers=list(imp.headers), source=imp.default_source,
                   stage_id=stage_id, owner_id=imp.default_owner_id,
                   on_duplicate=DUPLICATE_MODES.get(imp.duplicates, OnDuplicate.skip), actor_id=imp.created_by_id,
                   region=region, header_of=header_of, apply_rules=bool(imp.apply_rules), strict=bool(imp.strict),
                   date_order=imp.date_order or import_cells.default_date_order(region or default_phone_region()),
                   custom={f.key: f for f in custom_fields.definitions()}, filename=imp.filename,
                   header_row=imp.header_row, custom_ids={f.key: f.id for f in custom_fields.definitions()})


@dataclass
class Row:
    """One data row read for import: the lead fields, its UTM origin, and notes for its timeline
    (values the lead could not take, kept as they were in the file)."""

    data: dict
    origin: dict
    notes: list[str] = field(default_factory=list)
    # The values already checked, as the lead form's normalisers returned them (field -> value; custom
    # fields as "custom:<key>"): a batch path may take them instead of normalising the row again.
    cleaned: dict = field(default_factory=dict)


@dataclass
class RowOutcome:
    """What became of one row of the file: the ledger of an import is a list of these.

    outcome: "created", "updated" (an existing lead's fields changed), "merged" (an existing lead's
    empty fields filled), "skipped" (a duplicate of lead_id, left alone) or "rejected" (reason says
    why, values holds the row as it was). changes: field -> [old, new] on an existing lead (undo)."""

    row_number: int
    outcome: str
    lead_id: int | None = None
    reason: str | None = None
    values: list[str] | None = None
    changes: dict | None = None
    lead: object = field(default=None, repr=False, compare=False)  # the Lead it became or found, if any


class RowRejected(Exception):
    def __init__(self, reason: str, *, keep_values: bool = True):
        super().__init__(reason)
        self.reason = reason
        # False: the report must not keep the row's cells (an erased person's, services/erasure.py).
        self.keep_values = keep_values


_SALUTATION = re.compile(r"^(mr|mrs|ms|miss|mx|dr|prof)\.?\s+", re.IGNORECASE)
_CURRENCY_CODE = re.compile(r"^[A-Za-z]{3}(?=[\s\d.$€£¥])|(?<=[\s\d.])[A-Za-z]{3}$")
_MONEY_JUNK = re.compile(r"[\s\u00a0$€£¥]")
_ENGLISH_GROUPS = re.compile(r"^\d{1,3}(,\d{3})+(\.\d+)?$")  # 1,234,567.89: the normaliser drops the commas


def money_text(value: str) -> str:
    """'$1,200.50' -> '1,200.50'; '1.234,56 EUR' -> '1234.56'; '1 234 567,89', "1'234.50", '1.200 €' too
    (import_cells.number_text: a decimal comma has 1-2 digits after it, a lone '.' or ',' before
    exactly three digits groups thousands)."""
    plain = _MONEY_JUNK.sub("", _CURRENCY_CODE.sub("", value.strip()))
    return plain if _ENGLISH_GROUPS.match(plain) else import_cells.number_text(value)


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


MULTI_VALUED = ("email", "phone")  # a cell may hold several: the first that reads is the lead's
# What a value that does not read was meant to be, for the note that keeps it.
MEANT_AS = {"email": "an email address", "phone": "a phone number", "value": "a number", "country": "a country",
            "website": "a web address", "expected_close_on": "a date between 2000 and 2100"}


class _Cells:
    """One row's cells read into lead fields by the lead form's own normalisers: a value that does
    not read is left out and noted (or kept for capture_lead to refuse, on a strict import)."""

    def __init__(self, plan: Plan, region: str | None = None):
        self.plan, self.notes, self.dropped, self.cleaned = plan, [], [], {}
        self.region = region or plan.region  # where a phone without +code is from (leads.phone_region)
        self._last = None

    def _error(self, name: str, value: str) -> ServiceError | None:
        try:
            if name.startswith(CUSTOM_TARGET):
                custom = self.plan.custom.get(name.removeprefix(CUSTOM_TARGET))
                if custom is not None:
                    self._last = custom_fields.clean_value(custom, value)
            elif name in EDITABLE_FIELDS:
                self._last = clean_field(name, value, self.region)
        except ServiceError as exc:
            return exc
        return None

    def _header(self, name: str, index: int) -> str:
        return self.plan.headers[index] if index < len(self.plan.headers) else name

    def _bad(self, name: str, index: int, value: str, exc: ServiceError) -> None:
        header = self._header(name, index)
        if name in MEANT_AS:
            said = f"{header} “{value}” could not be read as {MEANT_AS[name]}"
        else:
            said = f"{header} “{value}” could not be read ({exc.message.removeprefix(header + ': ')})"
        self.notes.append(said + "; kept on the lead's timeline")  # the whole value: the file is not kept after the import
        if name in IDENTIFYING_FIELDS:
            self.dropped.append(brief(said))

    def readable(self, name: str, index: int, value: str) -> str | None:
        """`value` if the field takes it, else None (noted); a strict import keeps it, to be refused."""
        self._last = None
        error = self._error(name, value)
        if error is None:
            self.cleaned[name] = self._last
        if error is None or self.plan.strict:
            return value
        self._bad(name, index, value, error)
        return None

    def first_readable(self, name: str, index: int, value: str) -> str | None:
        """The first of a cell's several values that the field takes; the others are noted."""
        values = import_cells.several(value)
        if len(values) == 1:
            return self.readable(name, index, values[0])
        errors = [self._error(name, v) for v in values]
        kept = next((v for v, e in zip(values, errors) if e is None), None)
        if kept is not None:
            self._error(name, kept)
            self.cleaned[name] = self._last
        if kept is None and self.plan.strict:
            return values[0]  # capture_lead refuses it, naming the field
        for candidate, error in zip(values, errors):
            if candidate is kept or (kept is not None and candidate.casefold() == kept.casefold()):
                continue
            if error is None:
                self.notes.append(f"{self._header(name, index)} also held “{candidate}”; kept on the lead's timeline")
            elif kept is None or not self.plan.strict:
                before = len(self.dropped)
                self._bad(name, index, candidate, error)
                if kept is not None:
                    del self.dropped[before:]  # the lead got one that reads
        return kept


_LONG_QUOTE = re.compile(r"“([^”]{200})[^”]+”")


def brief(note: str) -> str:
    """A note with each quoted value cut to 200 characters, for a row's reason in the ledger."""
    return _LONG_QUOTE.sub(r"“\1…”", note)


def _listed(value: str) -> str:
    """A JSON list cell ('["VIP", "Customer"]') as the '; '-separated text tags and multiple choices take."""
    return "; ".join(import_cells.several(value))


def lead_fields(cells: list[str], plan: Plan) -> Row:
    """The lead fields, UTM origin and timeline notes of one row; raises RowRejected.

    Placeholder cells (NULL, N/A, -) are empty; an email or phone cell holding several gives the
    first that reads; a value a field cannot take is left out and noted, unless plan.strict."""
    data, origin = {}, {}
    country = next((cells[index] for index, name in plan.columns if name == "country" and index < len(cells)), None)
    read = _Cells(plan, phone_region(import_cells.blank_or_value(country.strip()) if country else None, plan.region))
    for index, name in plan.columns:
        value = import_cells.blank_or_value(_unneutralise(cells[index].strip())) if index < len(cells) else ""
        if not value:
            continue
        if name == "full_name":
            first, last = split_name(value)
            data.setdefault("first_name", first)
            data.setdefault("last_name", last)
            continue
        if name in ORIGIN:
            origin[name] = value
            continue
        if name == "tags":
            # capture_lead splits it on ; or , (tags.clean_tags); Mailchimp quotes each tag: "VIP","Customer".
            data["tags"] = _listed(value) if value.startswith("[") else value.replace('"', "")
            continue
        if name == "value":
            value = money_text(value)
        elif name == "expected_close_on":  # as a date custom field reads it: 03/04/2024 by the import's order
            value = import_cells.date_text(value, plan.date_order)
        elif name.startswith(CUSTOM_TARGET):
            custom = plan.custom.get(name.removeprefix(CUSTOM_TARGET))
            if custom is None:  # deleted since the import started
                read.notes.append(f"{read._header(name, index)} “{value}”: its custom field was deleted during the "
                                  "import; kept on the lead's timeline")
                continue
            if custom.kind == "date":
                value = import_cells.date_text(value, plan.date_order)
            elif custom.kind in ("number", "money"):
                value = import_cells.number_text(value, money=custom.kind == "money")
            elif custom.kind == "multi_choice" and value.startswith("["):
                value = _listed(value)
        value = read.first_readable(name, index, value) if name in MULTI_VALUED else read.readable(name, index, value)
        if value is None:
            continue
        if name.startswith(CUSTOM_TARGET):  # under the field's key now (renamed during the import)
            data.setdefault("custom", {})[plan.custom[name.removeprefix(CUSTOM_TARGET)].key] = value
        else:
            data[name] = value

    try:
        if not identifies(data):
            raise RowRejected("Has no name, company, email or phone number, so there is no lead to import.")
    except RowRejected as exc:
        if read.dropped:  # say which value would have named the lead
            raise RowRejected(f"{'; '.join(read.dropped)}. {exc.reason}") from None
        raise
    return Row(data, origin, read.notes, read.cleaned)


def _read_record(record: Record, plan: Plan) -> Row:
    """One record as lead fields (lead_fields), after the checks on the record itself; raises RowRejected."""
    if record.error:
        raise RowRejected(record.error)
    text = "".join(record.cells)
    if BROKEN.search(text):
        raise RowRejected("Has bytes that are not valid text in this file's encoding (a broken character), "
                          "so it was not imported. Fix the characters shown as \ufffd and import this row again.")
    if "\x00" in text:
        raise RowRejected("Contains a NUL character (binary data), which no lead field can hold.")
    extra = [cell for cell in record.cells[len(plan.headers):] if cell.strip()]
    if extra:
        raise RowRejected(f"Has {len(record.cells)} values but the header has {len(plan.headers)} columns "
                          "(is a value with a comma or semicolon missing its quotes?).")
    return lead_fields(record.cells, plan)


def _refused(exc: ServiceError, plan: Plan) -> RowRejected:
    """A service's refusal of a row, naming the column as the file does."""
    header = plan.header_of.get(exc.field or "")
    named = header and exc.field != "first_name" and not exc.message.startswith(header)
    from app.services.erasure import AddressErased
    return RowRejected(f"{header}: {exc.message}" if named else exc.message,
                       keep_values=not isinstance(exc, AddressErased))


def _import_record(record: Record, plan: Plan) -> RowOutcome:
    """What became of one row, through capture_lead; raises RowRejected with the reason."""
    return _capture_row(record.number, _read_record(record, plan), plan)


def _capture_row(number: int, row: Row, plan: Plan) -> RowOutcome:
    try:
        captured = capture_lead(row.data, via=VIA, actor_id=plan.actor_id, stage_id=plan.stage_id,
                                owner_id=plan.owner_id, source=plan.source, origin=row.origin,
                                on_duplicate=plan.on_duplicate, region=plan.region, apply_rules=plan.apply_rules,
                                sla_clock=False,  # rows from elsewhere: no first-response clock
                                visible_to=plan.visible_to)
    except ServiceError as exc:
        raise _refused(exc, plan) from None
    except (DataError, IntegrityError) as exc:  # the database refused the row; its savepoint is undone
        raise RowRejected(f"Could not be saved ({type(exc.orig).__name__}).")
    if captured.hidden:  # no link to it, nor its name: the importer may not see it
        return RowOutcome(number, "skipped", None, permissions.hidden_lead(captured.matched_on),
                          lead=captured.lead)
    lead_id = captured.lead.id
    if not (captured.created or captured.changed or captured.custom_changed):
        # Left alone, notes included: a value it could not take is no news about this lead.
        return RowOutcome(number, "skipped", lead_id, f"Already a lead (same {captured.matched_on}).",
                          lead=captured.lead)
    if captured.created and plan.owner_gone:
        row.notes.append(plan.pool_note())
    _record_notes(lead_id, row, plan)
    reason = "; ".join(brief(note) for note in row.notes) or None  # in full on its timeline
    if captured.created:
        return RowOutcome(number, "created", lead_id, reason, lead=captured.lead)
    # Only empty fields filled: the row merged into the lead; any value overwritten: updated.
    filled = all(old in (None, "") for old, _ in (*captured.changed.values(), *captured.custom_changed.values()))
    return RowOutcome(number, "merged" if filled else "updated", lead_id, reason, lead=captured.lead,
                      changes={**captured.changed, **({"custom": captured.custom_changed}
                                                      if captured.custom_changed else {})})


def _record_notes(lead_id: int, row: Row, plan: Plan) -> None:
    if row.notes:
        record_entry(lead_id, "import_notes", plan.actor_id, {"import_id": plan.import_id, "file": plan.filename,
                                                              "notes": row.notes})


def run_import(import_id: int, *, region: str | None = None, batch_rows: int = BATCH_ROWS,
               now: datetime | None = None, by_row: bool = False) -> LeadImport | None:
    """Import every row of a queued import, committing a batch at a time (_BatchRun: new leads
    set-based, everything else through capture_lead; by_row=True: every row through capture_lead,
    as the comparison test does); an import whose worker went silent (no batch for
    IMPORT_STALE_SECONDS) is taken over and carried on after its last committed batch.

    Returns None (doing nothing) when the import is neither queued nor stale: another run has it.
    Raises ImportDamaged when stored chunks are missing; the import is then marked failed."""
    now = now or utcnow()
    with atomic():
        claimed = db.session.execute(
            update(LeadImport).where(LeadImport.id == import_id, or_(
                LeadImport.status == "queued",
                (LeadImport.status == "running") & (LeadImport.heartbeat_at < now - run_stale()))
            ).values(status="running", started_at=func.coalesce(LeadImport.started_at, now), heartbeat_at=now)
            .execution_options(synchronize_session=False)).rowcount
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
        _import_rows(plan, encoding, delimiter, size, batch_rows, Tally.so_far(imp), by_row)
    except _Overtaken:
        return None
    except Exception as exc:
        message = exc.message if isinstance(exc, ServiceError) else \
            f"The import stopped unexpectedly ({type(exc).__name__}). The rows counted here were saved; " \
            "undo the import to remove them, or import the file again (rows already saved are skipped)."
        with atomic():
            db.session.execute(update(LeadImport).where(LeadImport.id == import_id, LeadImport.status == "running")
                               .values(status="failed", error=message, finished_at=utcnow())
                               .execution_options(synchronize_session=False))
        if not isinstance(exc, ServiceError):
            raise
    imp = get_import(import_id)
    db.session.refresh(imp)
    return imp


class _Records:
    """The file's records, with the ones a batch read but did not get to given back for the next."""

    def __init__(self, records: Iterator[Record]):
        self.records, self.back = records, []

    def take(self, limit: int, seconds: float) -> list[Record]:
        taken, started = self.back[:limit], time.monotonic()
        del self.back[:limit]
        for record in self.records if len(taken) < limit else ():
            taken.append(record)
            if len(taken) >= limit or time.monotonic() - started >= seconds / 4:
                break
        return taken

    def give_back(self, records: list[Record]) -> None:
        self.back[:0] = records


class _Statistics:
    """PostgreSQL plans a batch's lookups (the leads sharing an email or a phone) from its statistics
    of the leads table; a large import grows that table faster than autovacuum re-reads it, and a
    plan made for a small table scans the whole of a large one, once per batch (100,000 rows went
    from 3,700 to 1,700 rows/s). So the import analyses the table itself each time the leads it
    created double (from ANALYZE_AFTER on): a few times per import, each a sample, blocking no one."""

    ANALYZE_AFTER = 5_000

    def __init__(self):
        self.next = self.ANALYZE_AFTER

    def keep_up(self, created: int) -> None:
        if created < self.next or db.session.get_bind().dialect.name != "postgresql":
            return
        with atomic():
            db.session.execute(text("ANALYZE leads"))
        self.next = created * 2


def _import_rows(plan: Plan, encoding: str, delimiter: str, size: int, batch_rows: int, tally: Tally,
                 by_row: bool = False) -> None:
    records = data_records(read_records(_chunks(plan.import_id), encoding, delimiter), plan.header_row)
    if tally.processed_bytes:  # carried on: the committed batches' records are read, not imported again
        records = itertools.dropwhile(lambda record: record.end <= tally.processed_bytes, records)
    source = _Records(records)
    finished = False
    analyzed = _Statistics()
    while not finished:
        analyzed.keep_up(tally.created)
        before = tally.processed_bytes
        with atomic():  # one batch: its leads, rejections and progress counters commit together
            # Held for the batch so capture_lead's lookups of them hit the session, not the database
            # (the identity map keeps only what something references).
            plan.refresh()
            held = [db.session.get(Stage, plan.stage_id) if plan.stage_id else None,
                    db.session.get(User, plan.owner_id) if plan.owner_id else None]
            taken = source.take(batch_rows, BATCH_SECONDS)
            done, outcomes = _BatchRun(plan, by_row).run(taken, tally)
            source.give_back(taken[done:])
            finished = not taken  # the last batch with rows commits before the end is known: one more says so
            _write_outcomes(plan, outcomes)
            values = {**tally.values(), "heartbeat_at": utcnow()}
            if finished:
                values.update(status="done", finished_at=utcnow(), processed_bytes=size)
                db.session.execute(delete(ImportChunk).where(ImportChunk.import_id == plan.import_id))
                _tell_owner(plan, tally.created)
            # Only while this run still has the import: one that took it over (after this one was
            # silent too long) has moved processed_bytes on, and this batch is undone.
            if not db.session.execute(update(LeadImport).where(
                    LeadImport.id == plan.import_id, LeadImport.status == "running",
                    LeadImport.processed_bytes == before).values(**values)
                    .execution_options(synchronize_session=False)).rowcount:
                raise _Overtaken()
            del held, taken


class _BatchRun:
    """One batch of records: each read and checked, then the rows that are surely new leads (no
    tags, custom values or rules; identity.Batch finds no one they could be) written set-based by
    capture.NewLeads, the rest through capture_lead one at a time, each in its own savepoint (a
    rejected row leaves nothing behind). Outcomes are exact per row either way: a row that might be
    someone known goes through identify, after the batch's new leads so far are written.

    It stops early, giving the rest back for the next batch, after BATCH_SECONDS, after SAVEPOINTS
    rows through capture_lead (PostgreSQL caches 64 subtransactions per transaction), and right
    after a row that took a round-robin turn (assignment.holds_turn: form captures routed by that
    rule wait for the batch's commit)."""

    SAVEPOINTS = 50

    def __init__(self, plan: Plan, by_row: bool):
        self.plan, self.by_row = plan, by_row
        self.now = utcnow()
        self.outcomes: list[RowOutcome] = []
        self.waiting: list[tuple[Record, Row, object]] = []  # (record, row, Lead) added to new_leads
        self.tally = Tally()
        self.new_leads: NewLeads | None = None

    def run(self, taken: list[Record], tally: Tally) -> tuple[int, list[RowOutcome]]:
        """Import `taken` in order; returns how many records were done (the rest wait) and their outcomes."""
        plan, started, self.tally = self.plan, time.monotonic(), tally
        read = [self._read(record) for record in taken]
        fast = not self.by_row and not plan.apply_rules and self._start()
        identities = None
        if not self.by_row and plan.on_duplicate != OnDuplicate.keep:
            rows = [ready.cleaned for _, _, ready in read if ready is not None]
            # Every row's identity keys before any stage row is locked (a new lead's place), in the
            # order a single capture takes them: rows taking their keys one by one after an earlier
            # row locked the stage deadlocked against captures and other imports. Other captures of
            # these people commit first, and are found below.
            hold_many(rows)
            if fast:
                identities = IdentityBatch().load(rows)
        savepoints = done = 0
        for record, (row, outcome, ready) in zip(taken, read):
            if done and (savepoints >= self.SAVEPOINTS or time.monotonic() - started >= BATCH_SECONDS):
                break
            done += 1
            tally.processed_bytes = record.end
            if record.blank and not record.cells:  # an empty line: not a row (nor counted at upload)
                continue
            tally.rows_done += 1
            # Whom the row surely is: someone new (None), a lead written already (a Known with an id),
            # or, unsure (no email or phone, a lead not written yet): "unsure".
            known = None if identities is None or outcome is not None else self._known(identities, ready)
            if outcome is None and fast and known is None and NewLeads.takes(ready):
                lead = self.new_leads.add(ready)
                self.waiting.append((record, row, lead))
                if identities is not None:
                    identities.know(Known(None, lead.email, lead.phone, lead.first_name, lead.last_name))
                tally.created += 1
                continue
            if outcome is None:
                # capture_lead must see the batch's new leads unless the row is surely a lead written
                # already: then it neither matches one of them nor makes a lead (whose place on the
                # board is above theirs).
                if not isinstance(known, Known) or known.id is None:
                    self._write_new()
                savepoints += 1
                try:
                    outcome = _capture_row(record.number, row, plan)
                except RowRejected as exc:
                    outcome = self._rejected(record, exc)
                if identities is not None and outcome.lead is not None:
                    identities.know(outcome.lead)
            self.outcomes.append(outcome)
            tally.count(outcome)
            if holds_turn():
                break
        self._write_new()
        return done, self.outcomes

    @staticmethod
    def _known(identities: IdentityBatch, ready: Prepared | None) -> Known | str | None:
        if ready is None or not (ready.cleaned.get("email") or ready.cleaned.get("phone")):
            return "unsure"
        return identities.match(ready.cleaned)

    def _start(self) -> bool:
        """Whether new leads can be written set-based (else every row goes through capture_lead,
        which refuses each with the reason: a deleted stage, a deactivated owner)."""
        try:
            self.new_leads = NewLeads(via=VIA, actor_id=self.plan.actor_id, stage_id=self.plan.stage_id,
                                      owner_id=self.plan.owner_id, now=self.now)
        except ServiceError:
            return False
        return True

    def _read(self, record: Record) -> tuple[Row | None, RowOutcome | None, Prepared | None]:
        """(row, outcome if already decided, what capture_lead would write if it may be batched)."""
        if record.blank:  # a row of empty cells (",,,"): counted at upload, so accounted for
            return None, RowOutcome(record.number, "skipped", reason=EMPTY_ROW), None
        try:
            row = _read_record(record, self.plan)
        except RowRejected as exc:
            return None, self._rejected(record, exc), None
        if self.by_row:
            return row, None, None
        try:
            ready = prepare(row.data, source=self.plan.source, origin=row.origin, region=self.plan.region,
                            known=row.cleaned)
        except ServiceError as exc:
            return None, self._rejected(record, _refused(exc, self.plan)), None
        return row, None, ready

    @staticmethod
    def _rejected(record: Record, exc: RowRejected) -> RowOutcome:
        return RowOutcome(record.number, "rejected", reason=exc.reason,
                          values=[printable(c) for c in record.cells] if exc.keep_values else None)

    def _write_new(self) -> None:
        """Write the new leads added so far; if the database refuses the lot (a value no check
        foresaw), each goes through capture_lead instead, which rejects just the bad one."""
        waiting, self.waiting = self.waiting, []
        if not waiting:
            return
        try:
            with atomic():
                self.new_leads.write()
        except (DataError, IntegrityError):
            self.new_leads.pending = []
            for record, row, _ in waiting:
                try:
                    outcome = _capture_row(record.number, row, self.plan)
                except RowRejected as exc:
                    outcome = self._rejected(record, exc)
                self.tally.created -= 1  # counted as created when it was added
                self.tally.count(outcome)
                self.outcomes.append(outcome)
            return
        for record, row, lead in waiting:
            if self.plan.owner_gone:
                row.notes.append(self.plan.pool_note())
            _record_notes(lead.id, row, self.plan)
            self.outcomes.append(RowOutcome(record.number, "created", lead.id,
                                            "; ".join(brief(note) for note in row.notes) or None))


def requeue_lost(now: datetime | None = None) -> int:
    """Queue again each import whose job Redis lost (queued, its job not waiting, nothing heard for
    QUEUED_STALE) or whose worker died (running, no batch committed for run_stale()); run_import carries
    it on after its last committed batch. Housekeeping (worker.py); returns how many were queued.

    A requeued import's heartbeat is renewed, so a queue backed up for minutes gets at most one more
    (harmless: the claim lets one run through) job per import per QUEUED_STALE."""
    from rq.job import Job, JobStatus  # noqa: PLC0415
    from rq.serializers import JSONSerializer  # noqa: PLC0415
    from app.queue import connection  # noqa: PLC0415
    now = now or utcnow()
    lost = db.session.execute(select(LeadImport.id, LeadImport.status).where(or_(
        (LeadImport.status == "queued") & or_(LeadImport.heartbeat_at.is_(None),
                                              LeadImport.heartbeat_at < now - QUEUED_STALE),
        (LeadImport.status == "running") & or_(LeadImport.heartbeat_at.is_(None),
                                               LeadImport.heartbeat_at < now - run_stale())))).all()
    db.session.rollback()
    queued = 0
    for import_id, status in lost:
        try:
            if status == "queued":
                job = Job.fetch_many([f"import-{import_id}"], connection=connection(), serializer=JSONSerializer)[0]
                if job is not None and job.get_status(refresh=False) == JobStatus.QUEUED:
                    continue  # still waiting its turn behind other jobs
            # A job id of its own: the dead worker's job may still sit in RQ's registries under the first.
            enqueue("app.jobs.imports.run_import", import_id,
                    job_id=f"import-{import_id}-again-{int(now.timestamp())}", job_timeout=JOB_TIMEOUT)
        except (QueueUnavailable, RedisError):
            break  # Redis away: the next sweep tries again
        with atomic():
            db.session.execute(update(LeadImport).where(LeadImport.id == import_id, LeadImport.status == "queued")
                               .values(heartbeat_at=now).execution_options(synchronize_session=False))
        queued += 1
    return queued


def _write_outcomes(plan: Plan, outcomes: list[RowOutcome]) -> None:
    """Keep one batch's row outcomes (import_rows), in one executemany inside the batch's transaction."""
    if outcomes:
        insert_many(ImportRow.__table__, [
            {"import_id": plan.import_id, "row_number": o.row_number, "outcome": o.outcome, "lead_id": o.lead_id,
             "reason": o.reason, "values": o.values, "changes": o.changes or None} for o in outcomes])


def _tell_owner(plan: Plan, created: int) -> None:
    """One "assigned" notice for the person an import gave its new leads to, when it finishes
    (none for the pool, or for someone importing leads for themselves)."""
    if plan.owner_id is None or plan.owner_id == plan.actor_id or not created:
        return
    from app.services.notifications import app_path, notify  # noqa: PLC0415 (notifications -> outbox -> ...)
    actor = db.session.get(User, plan.actor_id) if plan.actor_id is not None else None
    filename = db.session.scalar(select(LeadImport.filename).where(LeadImport.id == plan.import_id))
    notify([plan.owner_id], "assigned",
           f"{actor.name if actor else 'Someone'} imported {created:,} lead{'s' if created != 1 else ''} "
           f"for you from {filename}.", url=app_path("leads.index", owner="me"))


def percent_done(imp: LeadImport) -> int:
    if imp.status == "done":
        return 100
    return min(99, imp.processed_bytes * 100 // imp.size_bytes) if imp.size_bytes else 0


# --- writing CSV ------------------------------------------------------------------------------------

def rejected_rows_csv(import_id: int) -> Iterator[str]:
    """The rejected rows as CSV: row number, reason, then the row as it was; streamed in batches."""
    imp = get_import(import_id)
    line = CsvLines()
    yield BOM + line(["Row", "Reason", *imp.headers])
    query = (select(ImportRow.row_number, ImportRow.reason, ImportRow.values)
             .where(ImportRow.import_id == imp.id, ImportRow.outcome == "rejected")
             .order_by(ImportRow.row_number, ImportRow.id))
    for rows in streamed(query, EXPORT_BATCH):  # its own connection: the download outlives the request's session
        yield "".join(line([number, reason, *(values or [])]) for number, reason, values in rows)
