from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, Numeric, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.stage import LostReason, Stage
from app.models.user import User

# Fields a person edits on the lead form; the timeline records changes to these.
EDITABLE_FIELDS = ("first_name", "last_name", "email", "phone", "company", "job_title", "source", "value",
                   "country", "region", "street", "city", "postal_code", "website", "description",
                   "expected_close_on")


class Lead(db.Model):
    __tablename__ = "leads"
    __table_args__ = (
        Index("ix_leads_stage_position", "stage_id", "position"),
        # "My leads" board columns page by keyset over this one (the owner's cards in position order).
        Index("ix_leads_stage_owner_position", "stage_id", "owner_id", "position"),
        # The pool filtered by stage and owner, sorted by value, reads this index in order.
        Index("ix_leads_stage_owner_value", "stage_id", "owner_id", "value"),
        # The pool and board sorted and filtered by score (a band is a score range), keyset by id.
        Index("ix_leads_score_id", "score", "id"),
        Index("ix_leads_stage_score_id", "stage_id", "score", "id"),
        # The board's "My leads" by score: one range of (stage_id, owner_id) in (score, id) order.
        Index("ix_leads_stage_owner_score_id", "stage_id", "owner_id", "score", "id"),
        Index("ix_leads_stage_id_closed_on", "stage_id", "closed_on"),
        # The source pickers of a member who sees only their own leads and the pool (lead_queries.sources).
        Index("ix_leads_owner_source", "owner_id", "source"),
        # Reports (services/reports.py): the leads stuck longest in a stage; and the leads captured in
        # a date range with every column a report groups or sums, so a report reads this index alone
        # (SQLite otherwise looks each row up in the wide table: four times slower at 100,000 leads).
        Index("ix_leads_stage_entered", "stage_id", "stage_entered_at"),
        Index("ix_leads_reports", "created_at", "stage_id", "owner_id", "source", "value", "stage_entered_at",
              "first_response_seconds", "first_response_by_id", "first_response_at", "sla_due_at", "closed_on",
              "capture_form_id", "utm_campaign", "deleted_at",  # reports leave out the trash: covered too
              "reached_stage_id"),  # the funnel's "Reached" (migration e1f2a3b4c5d6)
        # The forecast: open leads by expected close day (or none), with what it sums, read alone.
        Index("ix_leads_forecast", "expected_close_on", "stage_id", "owner_id", "source", "value", "deleted_at"),
        # The pool filtered by country, newest first, keyset by id; its prefix serves territory rules.
        Index("ix_leads_country_created_id", "country", "created_at", "id"),
        # The pool's "no next step" and "overdue" filters and the board card's due time.
        Index("ix_leads_next_task_due_id", "next_task_due_at", "id"),
        # The stale filter: per stage, leads untouched since a cutoff (and in the stage since before
        # it) are one index range each (services/touches.stale_clause).
        Index("ix_leads_stage_touch", "stage_id", "last_touch_at", "stage_entered_at"),
        # The SLA: "breached" and "due soon" read the due instant; the escalation sweep reads only the
        # leads with an escalation pending (services/sla.sweep), so it grows with due items.
        Index("ix_leads_sla_due", "sla_due_at"),
        # The pool's first-response filter and the breached counts: only leads whose clock runs.
        Index("ix_leads_sla_unanswered", "sla_due_at",
              postgresql_where=text("sla_due_at IS NOT NULL AND first_response_at IS NULL AND closed_on IS NULL"),
              sqlite_where=text("sla_due_at IS NOT NULL AND first_response_at IS NULL AND closed_on IS NULL")),
        Index("ix_leads_sla_next", "sla_next_at", postgresql_where=text("sla_next_at IS NOT NULL"),
              sqlite_where=text("sla_next_at IS NOT NULL")),
        # The trash page and the purge (services/trash.py) read only the deleted leads.
        Index("ix_leads_deleted_at", "deleted_at", postgresql_where=text("deleted_at IS NOT NULL"),
              sqlite_where=text("deleted_at IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100), default="", index=True)
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    phone: Mapped[str | None] = mapped_column(String(32), index=True)
    company: Mapped[str | None] = mapped_column(String(200), index=True)
    job_title: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str | None] = mapped_column(String(100), index=True)
    value: Mapped[Decimal | None] = mapped_column(Numeric(14, 2), index=True)
    # Territory: an ISO 3166-1 alpha-2 code ("DE") and a free-text region (state, province).
    country: Mapped[str | None] = mapped_column(String(2))  # indexed by ix_leads_country_created_id
    region: Mapped[str | None] = mapped_column(String(100))
    # The rest of the address, as files carry it and routing may read it; a street may hold several lines.
    street: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str | None] = mapped_column(String(100))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    # A web address as services/leads.normalize_website keeps it ("acme.com" -> "https://acme.com").
    website: Mapped[str | None] = mapped_column(String(500))
    # Free text about the lead (a CRM's "Description" or "Notes" column), line breaks kept.
    description: Mapped[str | None] = mapped_column(Text)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    stage_id: Mapped[int] = mapped_column(ForeignKey("stages.id"))
    # The furthest open stage (by the pipeline's current order) the lead has ever been in, so a lead
    # lost or moved back still counts as having reached it in the funnel (services/reports.funnel).
    # Kept by services/leads.note_reached in the same transaction as every stage move; never lowered
    # by a move back. None: no further than the stage it is in now (no open stage at all, for a lead
    # added straight into a closed one); leads from before the column that never went further keep
    # None. A stage being deleted hands its place to the open stage before it (stages.delete_stage).
    reached_stage_id: Mapped[int | None] = mapped_column(ForeignKey("stages.id"), index=True)
    position: Mapped[int] = mapped_column(BigInteger, default=0)
    # Raised on every change; a move or edit based on an older version is refused as stale.
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime] = mapped_column(index=True)
    stage_entered_at: Mapped[datetime]
    # Touches (services/touches.py): the last time a person did something toward the lead, and its
    # first response (the owner's first touch): when, by whom, and how long after capture (seconds).
    last_touch_at: Mapped[datetime | None]
    first_response_at: Mapped[datetime | None]
    # A user id, without a foreign key: SQLite could add one only by rebuilding the table (and
    # losing its triggers); users are deactivated, not deleted, and a missing one reads as nobody.
    first_response_by_id: Mapped[int | None]
    first_response_seconds: Mapped[int | None]
    # Where it came from: UTM tags, the referring page, and the capture form if any.
    utm_source: Mapped[str | None] = mapped_column(String(100))
    utm_medium: Mapped[str | None] = mapped_column(String(100))
    utm_campaign: Mapped[str | None] = mapped_column(String(100))
    referrer: Mapped[str | None] = mapped_column(String(500))
    capture_form_id: Mapped[int | None] = mapped_column(ForeignKey("capture_forms.id", ondelete="SET NULL"), index=True)
    # The latest appointment's answer and time, kept here so the board shows badges without a join.
    appointment_status: Mapped[str | None] = mapped_column(String(20))
    appointment_starts_at: Mapped[datetime | None]
    # Scoring (services/scoring.py): the points, why ([{"rule_id", "label", "points"}...]), and when
    # the clock alone changes them next (points fading, a lead going idle), for the worker's sweep.
    score: Mapped[int] = mapped_column(default=0, server_default="0")
    score_reasons: Mapped[list | None] = mapped_column(JSON, default=list)
    score_changes_at: Mapped[datetime | None] = mapped_column(index=True)
    # Set when the lead moves to a won or lost stage, cleared when it is reopened (services/closing.py).
    closed_on: Mapped[date | None]
    # When the lead is expected to close (won or lost): the forecast's month (services/reports.py).
    expected_close_on: Mapped[date | None]
    lost_reason_id: Mapped[int | None] = mapped_column(ForeignKey("lost_reasons.id"), index=True)  # archived, never deleted
    lost_note: Mapped[str | None] = mapped_column(String(500))
    lost_reason: Mapped[LostReason | None] = relationship(lazy="select")
    # The soonest open task's due time (None: no next step), kept by services/tasks.py in the same
    # transaction as every task change, so cards and pool filters read it without an aggregate.
    next_task_due_at: Mapped[datetime | None]
    # Set when a relay refused this lead's address for good (a 5xx bounce, services/bounces.py), with
    # the relay's words; shown on the lead page.
    email_undeliverable_at: Mapped[datetime | None]
    email_undeliverable_reason: Mapped[str | None] = mapped_column(String(300))
    # First-response SLA (services/sla.py): the rule that set the target (no foreign key, as for
    # first_response_by_id), when the clock started, when the first response is due (computed once),
    # the next escalation instant (the 80% warning, then the breach; None once answered or done),
    # and when the warning and breach happened.
    sla_rule_id: Mapped[int | None]
    sla_started_at: Mapped[datetime | None]
    sla_due_at: Mapped[datetime | None]
    sla_next_at: Mapped[datetime | None]
    sla_warned_at: Mapped[datetime | None]
    sla_breached_at: Mapped[datetime | None]
    # The trash (services/trash.py): set when someone deleted the lead, which every list, count, search
    # and way in then leaves out; restored (cleared) or purged for good after trash.KEEP_DAYS.
    # deleted_by_id has no foreign key, as first_response_by_id.
    deleted_at: Mapped[datetime | None]
    deleted_by_id: Mapped[int | None]
    # Marketing consent (services/consent.py): when the person agreed, the words they agreed to, and the
    # capture form they ticked it on (no foreign key: the record outlives the form). No IP address.
    consent_at: Mapped[datetime | None]
    consent_text: Mapped[str | None] = mapped_column(String(1000))
    consent_form_id: Mapped[int | None]

    owner: Mapped[User | None] = relationship()
    stage: Mapped[Stage] = relationship(foreign_keys=[stage_id])

    @property
    def full_name(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return name or self.email or self.company or "Unnamed lead"

    def __repr__(self) -> str:
        return f"<Lead {self.id} {self.full_name}>"


# A phone as people type it ("(415) 555-0123 ext. 9") is longer than the E.164 the column stores.
PHONE_INPUT_MAX = 40
# A country is typed as a name ("Saint Vincent and the Grenadines") and stored as two letters.
COUNTRY_INPUT_MAX = 100
# Text columns have no length of their own; the most a person may put in them.
TEXT_LIMITS = {"description": 10_000}


def max_length(name: str, *, typed: bool = False) -> int:
    """The most characters a lead's text column holds: the one home of every lead field's limit.

    typed=True: the most a person may type into the field (a phone is stored shorter than typed)."""
    if typed and name == "phone":
        return PHONE_INPUT_MAX
    if typed and name == "country":
        return COUNTRY_INPUT_MAX
    return TEXT_LIMITS.get(name) or Lead.__table__.c[name].type.length


class StageTotal(db.Model):
    """How many leads, and their value in cents, per stage and owner (owner_key 0: the pool).

    Kept by triggers on `leads` (migration c4f1a7e2b9d3) in the same transaction as every change:
    on SQLite in place; on PostgreSQL as StageTotalDelta rows, added in when read and folded in by
    the worker. Only the database and services/totals.py write these rows."""

    __tablename__ = "stage_totals"

    stage_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    owner_key: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    lead_count: Mapped[int] = mapped_column(BigInteger, default=0)
    value_cents: Mapped[int] = mapped_column(BigInteger, default=0)


class StageTotalDelta(db.Model):
    """A change to a StageTotal not yet folded into it (PostgreSQL): appending these instead of
    updating the totals row means concurrent lead changes never wait for each other on it."""

    __tablename__ = "stage_total_deltas"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    stage_id: Mapped[int]
    owner_key: Mapped[int]
    lead_count: Mapped[int] = mapped_column(BigInteger)
    value_cents: Mapped[int] = mapped_column(BigInteger)


# Capture's identity rule looks people without an email or phone up by name (services/identity.py).
Index("ix_leads_lower_last_name", func.lower(Lead.last_name))
# ...and a business with no person by its company name, in any case (identity.same_company).
Index("ix_leads_lower_company", func.lower(Lead.company))
# Automations' "no activity for N days" sweep (services/automations.py): open leads by the time of
# their last activity (the last touch, or the capture when nobody touched them yet), a keyset
# range per sweep, so the sweep reads the leads falling idle in its window, not every idle lead.
Index("ix_leads_idle_open", func.coalesce(Lead.last_touch_at, Lead.created_at), Lead.id,
      postgresql_where=text("closed_on IS NULL AND deleted_at IS NULL"),
      sqlite_where=text("closed_on IS NULL AND deleted_at IS NULL"))


class Note(db.Model):
    __tablename__ = "notes"
    # The lead page's notes: a lead's newest first, a keyset page at a time.
    __table_args__ = (Index("ix_notes_lead_created", "lead_id", "created_at"),
                      Index("ix_notes_author_created", "author_id", "created_at"))  # reports: touches per person

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    author: Mapped[User | None] = relationship()


class Activity(db.Model):
    """A call, an email sent outside Leadboard, or a meeting, logged by a person (services/activities.py)."""

    __tablename__ = "activities"
    __table_args__ = (Index("ix_activities_lead_created", "lead_id", "created_at"),
                      Index("ix_activities_user_created", "user_id", "created_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16))  # call, email, meeting, reply
    outcome: Mapped[str | None] = mapped_column(String(16))  # calls: reached, voicemail, no_answer, wrong_number
    duration_minutes: Mapped[int | None]
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]

    user: Mapped[User | None] = relationship()


class TimelineEntry(db.Model):
    """One thing that happened to a lead: written in the same transaction as the change itself."""

    __tablename__ = "timeline_entries"
    __table_args__ = (Index("ix_timeline_entries_lead_created", "lead_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]

    actor: Mapped[User | None] = relationship()
