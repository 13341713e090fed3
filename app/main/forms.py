from flask_wtf import FlaskForm
from wtforms import SelectField, SelectMultipleField, ValidationError


class AccountForm(FlaskForm):
    timezone = SelectField("Your timezone", choices=[], validate_choice=False)
    # One checkbox per kind of notification (choices: the kinds this person can receive).
    email_kinds = SelectMultipleField("Also email me", choices=[], validate_choice=False)

    def validate_email_kinds(self, field) -> None:
        """Only the kinds offered; the refusal names none of what was sent (it may be anything, and long)."""
        offered = {value for value, _ in field.choices}
        if any(value not in offered for value in field.data or []):
            raise ValidationError("Tick only the kinds of notice listed here.")
