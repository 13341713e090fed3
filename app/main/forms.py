from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField


class AccountForm(FlaskForm):
    timezone = SelectField("Your timezone", choices=[], validate_choice=False)
    email_task_reminders = BooleanField("Also email me when a task of mine is due")
