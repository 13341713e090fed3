"""Follow-up tasks on leads: a call, email, meeting or to-do with a due time and an owner."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.user import User


class TaskKind(str, enum.Enum):
    call = "call"
    email = "email"
    meeting = "meeting"
    todo = "todo"


KIND_LABELS = {"call": "Call", "email": "Email", "meeting": "Meeting", "todo": "To-do"}

OPEN = text("done_at IS NULL")


class Task(db.Model):
    __tablename__ = "tasks"
    __table_args__ = (
        # "My day": a person's open tasks by due time (overdue, today, upcoming), a keyset page at a time.
        Index("ix_tasks_owner_due_open", "owner_id", "due_at", "id", postgresql_where=OPEN, sqlite_where=OPEN),
        # A lead's next open task (kept on leads.next_task_due_at) and the lead page's open tasks.
        Index("ix_tasks_lead_due_open", "lead_id", "due_at", "id", postgresql_where=OPEN, sqlite_where=OPEN),
        # The reminder sweep: open tasks due and not yet reminded; grows with due items, not all tasks.
        Index("ix_tasks_remind_due", "due_at", postgresql_where=text("done_at IS NULL AND reminded_at IS NULL"),
              sqlite_where=text("done_at IS NULL AND reminded_at IS NULL")),
        # Automations' "a task is overdue" sweep: open tasks by due time, a keyset range per sweep.
        Index("ix_tasks_due_open", "due_at", "id", postgresql_where=OPEN, sqlite_where=OPEN),
        # Reports: tasks each person finished in a date range.
        Index("ix_tasks_done_by_done", "done_by_id", "done_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16), default=TaskKind.todo.value)
    title: Mapped[str] = mapped_column(String(200))
    due_at: Mapped[datetime]  # naive UTC
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    note: Mapped[str] = mapped_column(Text, default="")
    done_at: Mapped[datetime | None]
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    snoozed: Mapped[int] = mapped_column(default=0, server_default="0")  # how many times it was put off
    # Set by the one sweep that claims the reminder (UPDATE ... WHERE reminded_at IS NULL); cleared
    # when the due time moves, so the new time is reminded once in turn.
    reminded_at: Mapped[datetime | None]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]

    owner: Mapped[User] = relationship(foreign_keys=[owner_id])
    lead = relationship("Lead")

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)

    @property
    def is_open(self) -> bool:
        return self.done_at is None
