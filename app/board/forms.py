from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField
from wtforms.validators import InputRequired, NumberRange, Optional


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
