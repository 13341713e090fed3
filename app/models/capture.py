"""How leads come in: capture forms, API keys (with idempotency records), CSV imports, merges."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db


class CaptureForm(db.Model):
    """A web form admins publish at /f/<slug> or embed in their own site."""

    __tablename__ = "capture_forms"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    # [{"name": "email", "required": true}, ...] in display order.
    fields: Mapped[list] = mapped_column(JSON, default=list)
    # [{"field_id": 3, "required": false}, ...]: the custom fields (services/custom_fields) it asks, in order.
    custom_fields: Mapped[list] = mapped_column(JSON, default=list, server_default="[]")
    # ["webinar", ...]: tags (services/tags.py) every submission of this form receives.
    tags: Mapped[list] = mapped_column(JSON, default=list, server_default="[]")
    default_source: Mapped[str | None] = mapped_column(String(100))
    default_stage_id: Mapped[int | None] = mapped_column(ForeignKey("stages.id", ondelete="SET NULL"))
    thank_you_message: Mapped[str] = mapped_column(Text, default="Thanks! We'll be in touch soon.")
    redirect_url: Mapped[str | None] = mapped_column(String(500))
    # The marketing consent checkbox's words (None: the form does not ask); services/consent.py.
    consent_text: Mapped[str | None] = mapped_column(String(1000))
    active: Mapped[bool] = mapped_column(default=True)
    submissions: Mapped[int] = mapped_column(default=0)
    spam_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]


class ApiKey(db.Model):
    """A bearer key for /api/v1. Only its SHA-256 is stored; the key itself is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    # What the key may do: "member" follows the members' permissions (its own leads are its creator's),
    # "admin" may everything; read_only refuses every write. Keys made before roles were admin keys.
    role: Mapped[str] = mapped_column(String(16), default="admin", server_default="admin")
    read_only: Mapped[bool] = mapped_column(default=False, server_default=false())


class IdempotencyRecord(db.Model):
    """The first answer to a request with an Idempotency-Key, replayed for retries."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("api_key_id", "key", name="uq_idempotency_records_api_key_id_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int]
    response: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(index=True)


class LeadImport(db.Model):
    """One CSV upload: its bytes (in chunks), the column mapping, and the job's progress and results."""

    __tablename__ = "lead_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    filename: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(default=0)
    row_count: Mapped[int | None]  # data rows after the header, counted at upload (None: uploaded before counting)
    encoding: Mapped[str] = mapped_column(String(20), default="utf-8")
    delimiter: Mapped[str] = mapped_column(String(1), default=",")
    headers: Mapped[list] = mapped_column(JSON, default=list)
    mapping: Mapped[dict] = mapped_column(JSON, default=dict)  # column index (as text) -> lead field
    default_source: Mapped[str | None] = mapped_column(String(100))
    default_stage_id: Mapped[int | None] = mapped_column(ForeignKey("stages.id", ondelete="SET NULL"))
    default_owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    duplicates: Mapped[str] = mapped_column(String(10), default="skip")  # skip | update | keep
    apply_rules: Mapped[bool] = mapped_column(default=False, server_default=false())  # route new rows by the assignment rules
    header_row: Mapped[int] = mapped_column(default=1, server_default="1")  # record number of the header (1 = first)
    date_order: Mapped[str | None] = mapped_column(String(3))  # "mdy" | "dmy" for ambiguous dates; None: not chosen
    strict: Mapped[bool] = mapped_column(default=False, server_default=false())  # reject rows with an unreadable value
    status: Mapped[str] = mapped_column(String(12), default="uploaded", index=True)  # uploaded queued running done failed
    # When it was queued, then after every committed batch: the sweep (imports.requeue_lost) carries on
    # an import whose job Redis lost or whose worker died, from its last committed batch.
    heartbeat_at: Mapped[datetime | None]
    processed_bytes: Mapped[int] = mapped_column(default=0)
    rows_done: Mapped[int] = mapped_column(default=0)
    created_count: Mapped[int] = mapped_column(default=0)
    updated_count: Mapped[int] = mapped_column(default=0)
    skipped_count: Mapped[int] = mapped_column(default=0)
    rejected_count: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    undone_at: Mapped[datetime | None]  # the whole import was undone then (services/import_ledger)


class ImportChunk(db.Model):
    """A slice of an uploaded file, so any worker on any host can stream it back."""

    __tablename__ = "import_chunks"
    __table_args__ = (Index("ix_import_chunks_import_seq", "import_id", "seq", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("lead_imports.id", ondelete="CASCADE"))
    seq: Mapped[int]
    data: Mapped[bytes] = mapped_column(LargeBinary)


class ImportRow(db.Model):
    """What became of one row of an imported file: the import's ledger, one row per data row.

    outcome: created, updated (an existing lead's values overwritten), merged (an existing lead's
    empty fields filled), skipped (a duplicate of lead_id, left alone) or rejected (reason says why,
    `values` holds the row as it was). `changes` ({field: [before, after]}) is what an updated or
    merged row wrote on its lead, so undoing the import can put the before-values back."""

    __tablename__ = "import_rows"
    __table_args__ = (Index("ix_import_rows_import_row", "import_id", "row_number"),
                      # The report's per-outcome list, keyset-paged by row number.
                      Index("ix_import_rows_import_outcome_row", "import_id", "outcome", "row_number"),
                      # The pool's ?import= filter reads the leads of one import from here.
                      Index("ix_import_rows_import_lead", "import_id", "lead_id"),
                      # Deleting a lead sets its rows' lead_id to NULL through this.
                      Index("ix_import_rows_lead_id", "lead_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("lead_imports.id", ondelete="CASCADE"))
    row_number: Mapped[int]
    outcome: Mapped[str] = mapped_column(String(10))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"))
    reason: Mapped[str | None] = mapped_column(Text)
    values: Mapped[list | None] = mapped_column(JSON)
    changes: Mapped[dict | None] = mapped_column(JSON)


class LeadMerge(db.Model):
    """Everything needed to undo a merge: the loser as it was, the survivor's fields before, what moved."""

    __tablename__ = "lead_merges"

    id: Mapped[int] = mapped_column(primary_key=True)
    survivor_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    loser_id: Mapped[int] = mapped_column(index=True)  # the loser row is deleted; its id comes back on undo
    loser_snapshot: Mapped[dict] = mapped_column(JSON)
    survivor_before: Mapped[dict] = mapped_column(JSON)
    survivor_after: Mapped[dict] = mapped_column(JSON)
    moved_timeline_ids: Mapped[list] = mapped_column(JSON, default=list)
    moved_note_ids: Mapped[list] = mapped_column(JSON, default=list)
    # The other rows that moved with the loser, by table: {"appointments": [3], "outbox_emails": [7, 9]}.
    moved_ids: Mapped[dict] = mapped_column(JSON, default=dict, server_default="{}")
    merged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    merged_at: Mapped[datetime]
    undone_at: Mapped[datetime | None]
