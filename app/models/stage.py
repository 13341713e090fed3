from __future__ import annotations

import enum

from sqlalchemy import Boolean, Index, String, false, func
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db


class StageKind(str, enum.Enum):
    open = "open"
    won = "won"
    lost = "lost"


class Stage(db.Model):
    __tablename__ = "stages"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60))
    colour: Mapped[str] = mapped_column(String(7), default="#64748b")
    position: Mapped[int] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(8), default=StageKind.open.value)
    # A lead in this stage with no touch for this many days is stale (None: never).
    stale_days: Mapped[int | None]
    # How likely an open lead here is to be won, in percent (None: not set); the forecast weights
    # open value by it (services/reports.forecast).
    probability: Mapped[int | None]

    def __repr__(self) -> str:
        return f"<Stage {self.name}>"


# Two stages never share a name in any case ("Won" and "won"): the database refuses the second
# even when two admins save at once (services.stages checks first, for a message beside the field).
Index("ix_stages_lower_name", func.lower(Stage.name), unique=True)


class LostReason(db.Model):
    """A reason a lead was lost, from the list admins keep (archived ones stay on the leads that had them)."""
    __tablename__ = "lost_reasons"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    position: Mapped[int] = mapped_column(default=0)
    archived: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


# Two reasons never share a name in any case ("Price" and "PRICE"): the database refuses the second
# even when two admins add them at the same moment (services/closing.py turns that into a 422).
Index("ix_lost_reasons_lower_name", func.lower(LostReason.name), unique=True)
