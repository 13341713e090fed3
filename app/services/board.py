"""The Kanban board: one column per stage, its maintained totals (services/totals.py), the first cards of each."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import Lead, Stage
from app.services import totals
from app.services.stages import get_stage, pipeline


@dataclass
class Column:
    stage: Stage
    count: int
    total_value: Decimal
    cards: list[Lead]
    offset: int = 0

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.cards) < self.count


def _owner_filter(query, owner_id: int | None):
    return query.where(Lead.owner_id == owner_id) if owner_id is not None else query


def _cards(stage_id: int, owner_id: int | None, offset: int, limit: int) -> list[Lead]:
    query = (select(Lead).options(joinedload(Lead.owner)).where(Lead.stage_id == stage_id)
             .order_by(Lead.position, Lead.id).offset(offset).limit(limit))
    return list(db.session.scalars(_owner_filter(query, owner_id)))


def _totals(owner_id: int | None, stage_id: int | None = None) -> dict[int, tuple[int, Decimal]]:
    return {sid: (t.count, t.value) for sid, t in totals.by_stage(owner_id, stage_id=stage_id).items()}


def columns(owner_id: int | None = None, per_column: int = 20) -> list[Column]:
    """Every stage in order; one read of the kept totals, then one bounded card query per stage."""
    totals = _totals(owner_id)
    return [Column(stage=stage, count=totals.get(stage.id, (0, 0))[0], total_value=totals.get(stage.id, (0, Decimal(0)))[1],
                   cards=_cards(stage.id, owner_id, 0, per_column))
            for stage in pipeline()]


def column(stage_id: int, owner_id: int | None = None, offset: int = 0, limit: int = 20) -> Column:
    """One column (for refreshing it, or loading more of its cards)."""
    stage = get_stage(stage_id)
    count, total = _totals(owner_id, stage.id).get(stage.id, (0, Decimal(0)))
    return Column(stage=stage, count=count, total_value=total, cards=_cards(stage.id, owner_id, offset, limit),
                  offset=offset)
