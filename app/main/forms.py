from flask_wtf import FlaskForm
from wtforms import SelectField


class AccountForm(FlaskForm):
    timezone = SelectField("Your timezone", choices=[], validate_choice=False)
