from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField, ValidationError
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from app.forms import FILTER_FORMS, NarrowingForm


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
    """The board's query string: whose leads, the pool's score, tag and custom-field filters, and the
    order."""

    owner = StringField("Whose leads", validators=[Optional(), Length(max=12)])
    sort = StringField("Order", validators=[Optional(), Length(max=20)])

    def validate_sort(self, field):
        if field.data and field.data not in ("position", "score"):
            raise ValidationError("The board sorts by position (manual order) or by score.")

    def validate_owner(self, field):
        if field.data and field.data != "me":
            raise ValidationError("The board shows everyone's leads or only yours (owner=me).")


FILTER_FORMS["board"] = BoardFilterForm
