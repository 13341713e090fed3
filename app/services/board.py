"""The Kanban board: one column per stage, its maintained totals (services/totals.py), the first cards of each.

A column pages by keyset: a page is the cards after one (position, id) in the column's order, fetched
as limit + 1 so that whether more follow is known without counting, and the cost of a page does not
grow with how far down the column it is."""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import Lead, Stage
from app.services import custom_fields, totals, utcnow
from app.services.touches import is_stale
from app.services.stages import get_stage, pipeline
from app.services.tags import tags_for


@dataclass(frozen=True)
class Cursor:
    """Where a column's next page starts: after the card that was at (position, id). The values, not
    the card, are the cursor, so a card moved or deleted since still marks the place."""
    position: int
    id: int


class Cards(list):
    """One page of a column's cards, and whether more follow it."""
    has_more: bool = False


@dataclass
class Column:
    stage: Stage
    count: int
    total_value: Decimal
    cards: list[Lead]
    shown_before: int = 0  # cards shown above this page: only for the "N left" label
    tags: dict[int, list[str]] = field(default_factory=dict)  # the cards' tags, by lead id
    # The custom fields admins show on cards, and the cards' values (read for all columns at once).
    card_fields: list = field(default_factory=list)
    card_values: dict = field(default_factory=dict)
    stale: set = field(default_factory=set)  # the ids of the cards shown that are stale

    @property
    def has_more(self) -> bool:
        return getattr(self.cards, "has_more", False)

    @property
    def next_cursor(self) -> Cursor | None:
        last = self.cards[-1] if self.has_more and self.cards else None
        return Cursor(last.position, last.id) if last else None

    @property
    def left(self) -> int:
        """How many cards are below this page, by the column's total (at least one if more follow)."""
        return max(self.count - self.shown_before - len(self.cards), 1 if self.has_more else 0)


def _owner_filter(query, owner_id: int | None):
    return query.where(Lead.owner_id == owner_id) if owner_id is not None else query


def _cards(stage_id: int, owner_id: int | None, after: Cursor | None, limit: int) -> Cards:
    query = select(Lead).options(joinedload(Lead.owner)).where(Lead.stage_id == stage_id)
    if after is not None:
        # (position, id) > after, written so an index on (stage_id[, owner_id], position) bounds the scan.
        query = query.where(Lead.position >= after.position,
                            or_(Lead.position > after.position, Lead.id > after.id))
    rows = list(db.session.scalars(_owner_filter(query, owner_id).order_by(Lead.position, Lead.id).limit(limit + 1)))
    cards = Cards(rows[:limit])
    cards.has_more = len(rows) > limit
    return cards


def _totals(owner_id: int | None, stage_id: int | None = None) -> dict[int, tuple[int, Decimal]]:
    return {sid: (t.count, t.value) for sid, t in totals.by_stage(owner_id, stage_id=stage_id).items()}


def columns(owner_id: int | None = None, per_column: int = 20) -> list[Column]:
    """Every stage in order; one read of the kept totals, then one bounded card query per stage."""
    kept = _totals(owner_id)
    board = [Column(stage=stage, count=kept.get(stage.id, (0, 0))[0], total_value=kept.get(stage.id, (0, Decimal(0)))[1],
                    cards=_cards(stage.id, owner_id, None, per_column))
             for stage in pipeline()]
    tags = tags_for([lead.id for col in board for lead in col.cards])  # one query for the whole board
    for col in board:
        col.tags = tags
    return with_card_fields(board)


def with_card_fields(cols: list[Column]) -> list[Column]:
    """The "show on card" custom fields and their values for every card shown, in one batch (no
    query per card; none at all beyond the definitions when no field is shown on cards), and which
    cards are stale (from the rows already read)."""
    now = utcnow()
    for col in cols:
        col.stale = {lead.id for lead in col.cards if is_stale(lead, col.stage, now)}
    fields = custom_fields.card_fields()
    if fields:
        values = custom_fields.values_for([lead.id for col in cols for lead in col.cards], fields)
        for col in cols:
            col.card_fields, col.card_values = fields, values
    return cols


def column(stage_id: int, owner_id: int | None = None, after: Cursor | None = None, limit: int = 20,
           shown_before: int = 0) -> Column:
    """One column (for refreshing it from the top, or loading the cards `after` a cursor)."""
    stage = get_stage(stage_id)
    count, total = _totals(owner_id, stage.id).get(stage.id, (0, Decimal(0)))
    cards = _cards(stage.id, owner_id, after, limit)
    return with_card_fields([Column(stage=stage, count=count, total_value=total, cards=cards,
                                    shown_before=shown_before, tags=tags_for([lead.id for lead in cards]))])[0]
