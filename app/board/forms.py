from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField, ValidationError
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from app.forms import FILTER_FORMS, NarrowingForm
from app.services import search, whole_number


class MoveForm(FlaskForm):
    lead_id = IntegerField("Lead", validators=[InputRequired("Which card?")])
    stage_id = IntegerField("Move to", validators=[InputRequired("Choose a stage to move the card to.")])
    after_id = IntegerField("After", validators=[Optional()])
    version = IntegerField("Version", validators=[Optional()])
    from_stage_id = IntegerField("From", validators=[Optional()])
    shown = IntegerField("Cards shown", validators=[Optional(), NumberRange(min=0, max=10_000)])
    owner = StringField("Owner filter", validators=[Optional()])
    # Closing a lead (a won or lost stage): sent from the dialog that asks for them; checked by
    # services/closing.check, which names the field of any mistake.
    closing = StringField("Closing", validators=[Optional()])
    closed_on = StringField("Date", validators=[Optional()])
    won_value = StringField("Won value", validators=[Optional()])
    lost_reason = StringField("Reason", validators=[Optional()])
    lost_note = StringField("Note", validators=[Optional()])
    # The board's whole query string (filters and sort), so the refreshed columns show what the board does.
    view = StringField("Board view", validators=[Optional(), Length(max=2000)])


class BoardFilterForm(NarrowingForm):
    """The board's query string: whose leads, the pool's search, source, score, tag and custom-field
    filters, and the order."""

    q = StringField("Search", validators=[Optional(), Length(max=search.QUERY_LIMIT)])
    owner = StringField("Whose leads", validators=[Optional(), Length(max=12)])
    source = StringField("Source", validators=[Optional(), Length(max=100)])
    sort = StringField("Order", validators=[Optional(), Length(max=20)])

    def validate_sort(self, field):
        if field.data and field.data not in ("position", "score"):
            raise ValidationError("The board sorts by position (manual order) or by score.")

    def validate_owner(self, field):
        """As on the pool: anyone (empty), "me", "none" (the pool) or a teammate's id."""
        if field.data and field.data not in ("none", "me") and whole_number(field.data) is None:
            raise ValidationError("Owner must be a teammate, 'me' or 'none' (the pool).")


FILTER_FORMS["board"] = BoardFilterForm


class QuickAddForm(FlaskForm):
    """A lead added straight into a board column: who, and who owns it ("me", "none": the pool, or
    a teammate's id). The service checks the rest (services/board.quick_add)."""

    name = StringField("Name", validators=[Optional(), Length(max=201)])
    company = StringField("Company", validators=[Optional(), Length(max=200)])
    email = StringField("Email", validators=[Optional(), Length(max=254)])
    owner = StringField("Owner", validators=[Optional(), Length(max=12)])
    # The board's query string, so the refreshed column shows what the board does.
    view = StringField("Board view", validators=[Optional(), Length(max=2000)])

    def validate_owner(self, field):
        if field.data and field.data not in ("none", "me") and whole_number(field.data) is None:
            raise ValidationError("Choose a teammate, yourself or the pool.")

    def owner_id(self, me_id: int) -> int | None:
        choice = self.owner.data or "me"
        return None if choice == "none" else me_id if choice == "me" else whole_number(choice)
