"""One row (id 1) that names the committed state of the team's settings: every transaction that
writes a rule, a field, a stage, a form, a user, a band or a group gives it a new token as it
commits (services.settings_cache), so a process may keep what it read for as long as the token holds."""
from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db


class SettingsVersion(db.Model):
    __tablename__ = "settings_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    # A random token, not a counter: a table emptied and refilled (a restore, a test) never repeats one.
    token: Mapped[str] = mapped_column(String(32))
