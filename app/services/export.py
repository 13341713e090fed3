"""The pool as a CSV download: the leads the pool shows for a filter, in its order, streamed a
batch at a time, with no cell that can start a spreadsheet formula."""
from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select

from app.extensions import db
from app.models import Lead, Stage, User
from app.services.csv_reading import BOM, CsvLines
from app.services.lead_queries import PoolFilters, filtered, pool_order
from app.services.tags import tags_for

EXPORT_BATCH = 1000
TAG_SEPARATOR = "; "  # the import splits a Tags cell on ; or , so an export reads back in

EXPORT_COLUMNS = (
    ("ID", Lead.id), ("First name", Lead.first_name), ("Last name", Lead.last_name), ("Email", Lead.email),
    ("Phone", Lead.phone), ("Company", Lead.company), ("Job title", Lead.job_title), ("Source", Lead.source),
    ("Deal value", Lead.value), ("Stage", Stage.name), ("Owner", User.name), ("UTM source", Lead.utm_source),
    ("UTM medium", Lead.utm_medium), ("UTM campaign", Lead.utm_campaign), ("Created (UTC)", Lead.created_at),
)


def export_leads(filters: PoolFilters, acting_user_id: int | None) -> Iterator[str]:
    """Every lead the pool shows for `filters`, in its order, as CSV text; a batch of rows in memory
    at a time. The query runs now, and the first batch is read when the first piece is taken."""
    query = (filtered(select(*(c for _, c in EXPORT_COLUMNS)).select_from(Lead)
                       .join(Stage, Lead.stage_id == Stage.id).outerjoin(User, Lead.owner_id == User.id),
                       filters, acting_user_id)
             .order_by(*pool_order(filters))
             .execution_options(yield_per=EXPORT_BATCH))
    line = CsvLines()

    def lines(rows) -> str:
        tags = tags_for([row[0] for row in rows])  # one query per batch, not per lead
        return "".join(line([*cells, created.isoformat(sep=" ", timespec="seconds") if created else "",
                             TAG_SEPARATOR.join(tags[cells[0]])])
                       for *cells, created in rows)

    return csv_stream(BOM + line([*(name for name, _ in EXPORT_COLUMNS), "Tags"]),
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
        yield CsvLines()([EXPORT_FAILED])
        raise
