"""The pool as a CSV download: the leads the pool shows for a filter, in its order, streamed a
batch at a time, with no cell that can start a spreadsheet formula."""
from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select

from app.extensions import db
from app.models import Lead, LostReason, Stage, User
from app.services import atomic, audit, custom_fields
from app.services.csv_reading import BOM, CsvLines
from app.services.lead_queries import PoolFilters, filtered, ordered
from app.services.tags import tags_for

EXPORT_BATCH = 1000
TAG_SEPARATOR = "; "  # the import splits a Tags cell on ; or , so an export reads back in

EXPORT_COLUMNS = (
    ("ID", Lead.id), ("First name", Lead.first_name), ("Last name", Lead.last_name), ("Email", Lead.email),
    ("Phone", Lead.phone), ("Company", Lead.company), ("Job title", Lead.job_title), ("Source", Lead.source),
    ("Deal value", Lead.value), ("Stage", Stage.name), ("Owner", User.name), ("UTM source", Lead.utm_source),
    ("UTM medium", Lead.utm_medium), ("UTM campaign", Lead.utm_campaign), ("Country", Lead.country),
    ("Region", Lead.region), ("Street", Lead.street), ("City", Lead.city), ("Postal code", Lead.postal_code),
    ("Website", Lead.website), ("Description", Lead.description), ("Expected close date", Lead.expected_close_on),
    # Won and lost: the deal value above is the won value; the reason by its name, as people chose it.
    ("Closed on", Lead.closed_on), ("Lost reason", LostReason.name), ("Lost note", Lead.lost_note),
    ("Created (UTC)", Lead.created_at),  # last: lines() formats it
)


def export_leads(filters: PoolFilters, acting_user_id: int | None) -> Iterator[str]:
    """Every lead the pool shows for `filters`, in its order, as CSV text; a batch of rows in memory
    at a time. The query runs now, and the first batch is read when the first piece is taken. The
    export is on the audit log (who, which filters) before the first row goes out."""
    with atomic():
        args = {name: str(value) for name, value in filters.as_args().items()}
        audit.record(acting_user_id, "leads.exported", "Leads the pool showed" + (" (filtered)" if args else ""),
                     {"filters": args})
    query = (ordered(filtered(select(*(c for _, c in EXPORT_COLUMNS)).select_from(Lead)
                              .join(Stage, Lead.stage_id == Stage.id).outerjoin(User, Lead.owner_id == User.id)
                              .outerjoin(LostReason, Lead.lost_reason_id == LostReason.id),
                              filters, acting_user_id), filters))
    line = CsvLines()
    fields = custom_fields.active_fields()

    def lines(rows) -> str:
        # A batch's custom values and tags in one query each per batch (the first column is the lead's id).
        ids = [row[0] for row in rows]
        custom = custom_fields.values_for(ids) if fields else {}
        tags = tags_for(ids)
        return "".join(line([*cells, created.isoformat(sep=" ", timespec="seconds") if created else "",
                             TAG_SEPARATOR.join(tags[cells[0]]),
                             *(custom_fields.csv_value(custom[cells[0]].get(f.key)) for f in fields)])
                       for *cells, created in rows)

    # Tags, then the custom fields headed by their labels (an import of this file maps them back).
    header = [*(name for name, _ in EXPORT_COLUMNS), "Tags", *(f.label for f in fields)]
    return csv_stream(BOM + line(header), (lines(rows) for rows in streamed(query, EXPORT_BATCH)))


def streamed(query, size: int) -> Iterator[list]:
    """The query's rows, `size` at a time, read through a connection of their own. A download goes on
    streaming after the view has returned, when Flask has already torn the app context down and
    closed the request's session, and a server-side cursor (PostgreSQL) with it: on that session
    the rows after the first batch were lost."""
    with db.engine.connect() as connection:
        yield from connection.execution_options(stream_results=True).execute(query).partitions(size)


EXPORT_FAILED = "The export stopped part way because of an error on our side; this file is incomplete. Download it again."


def csv_stream(header: str, batches: Iterator[str]) -> Iterator[str]:
    """The header with the first batch, then the rest. The caller takes the first piece before
    sending anything (so a failing query is an error page, not a cut file); a failure after that
    ends the file with a line saying it is incomplete, then breaks off the download."""
    yield header + next(batches, "")
    try:
        yield from batches
    except Exception:
        yield CsvLines()([EXPORT_FAILED])
        raise
