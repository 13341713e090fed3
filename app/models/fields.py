"""Custom lead fields that admins define, and each lead's values for them.

Values live in typed columns, one row per lead and field, so a filter or a sort on a custom field
is an index range over (field_id, value, lead_id) whatever the number of leads. A multiple-choice
field keeps one row per chosen option in lead_field_choices instead, so "has option X" is an index
range too, with no parsing of a joined string."""
from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, Date, ForeignKey, Index, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db


class FieldKind(str, enum.Enum):
    text = "text"
    long_text = "long_text"
    number = "number"
    money = "money"
    date = "date"
    choice = "choice"
    multi_choice = "multi_choice"
    checkbox = "checkbox"
    url = "url"


KIND_LABELS = {
    FieldKind.text.value: "Text", FieldKind.long_text.value: "Long text", FieldKind.number.value: "Number",
    FieldKind.money.value: "Money", FieldKind.date.value: "Date", FieldKind.choice.value: "Single choice",
    FieldKind.multi_choice.value: "Multiple choice", FieldKind.checkbox.value: "Checkbox",
    FieldKind.url.value: "URL",
}

# Which typed column holds each kind's value (multi_choice: lead_field_choices; long_text: value_long,
# which is not indexed: a btree cannot hold several kilobytes, and nobody sorts by a paragraph).
VALUE_COLUMN = {
    FieldKind.text.value: "value_text", FieldKind.url.value: "value_text", FieldKind.choice.value: "value_text",
    FieldKind.long_text.value: "value_long", FieldKind.number.value: "value_number",
    FieldKind.money.value: "value_number", FieldKind.checkbox.value: "value_number",
    FieldKind.date.value: "value_date",
}


class CustomField(db.Model):
    """A lead field an admin added: its key is how the API, CSV files and filters name it."""

    __tablename__ = "custom_fields"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    label: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(20))
    help_text: Mapped[str] = mapped_column(String(300), default="")
    required: Mapped[bool] = mapped_column(default=False)
    show_on_card: Mapped[bool] = mapped_column(default=False)
    choices: Mapped[list] = mapped_column(JSON, default=list)  # option labels, in display order
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)

    def __repr__(self) -> str:
        return f"<CustomField {self.key} {self.kind}>"


class LeadFieldValue(db.Model):
    """One lead's value for one custom field, in the column its kind uses."""

    __tablename__ = "lead_field_values"
    __table_args__ = (
        Index("ix_lead_field_values_text", "field_id", "value_text", "lead_id"),
        Index("ix_lead_field_values_number", "field_id", "value_number", "lead_id"),
        Index("ix_lead_field_values_date", "field_id", "value_date", "lead_id"),
    )

    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), primary_key=True)
    field_id: Mapped[int] = mapped_column(ForeignKey("custom_fields.id", ondelete="CASCADE"), primary_key=True)
    value_text: Mapped[str | None] = mapped_column(String(500))
    value_long: Mapped[str | None] = mapped_column(Text)
    value_number: Mapped[Decimal | None] = mapped_column(Numeric(20, 4))
    value_date: Mapped[date | None] = mapped_column(Date)


class LeadFieldChoice(db.Model):
    """One option chosen in a lead's multiple-choice field."""

    __tablename__ = "lead_field_choices"
    __table_args__ = (Index("ix_lead_field_choices_field_choice", "field_id", "choice", "lead_id"),)

    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), primary_key=True)
    field_id: Mapped[int] = mapped_column(ForeignKey("custom_fields.id", ondelete="CASCADE"), primary_key=True)
    choice: Mapped[str] = mapped_column(String(100), primary_key=True)
