from __future__ import annotations

import enum

from sqlalchemy import String
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

    def __repr__(self) -> str:
        return f"<Stage {self.name}>"
