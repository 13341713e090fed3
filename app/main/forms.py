from flask_wtf import FlaskForm
from wtforms import SelectField, SelectMultipleField


class AccountForm(FlaskForm):
    timezone = SelectField("Your timezone", choices=[], validate_choice=False)
    # One checkbox per kind of notification (choices: the kinds this person can receive).
    email_kinds = SelectMultipleField("Also email me when", choices=[])
