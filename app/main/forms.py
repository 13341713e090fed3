from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, SelectMultipleField, ValidationError
from wtforms.validators import DataRequired, Length


class AccountForm(FlaskForm):
    timezone = SelectField("Your timezone", choices=[], validate_choice=False)
    # One checkbox per kind of notification (choices: the kinds this person can receive).
    email_kinds = SelectMultipleField("Also email me", choices=[], validate_choice=False)

    def validate_email_kinds(self, field) -> None:
        """Only the kinds offered; the refusal names none of what was sent (it may be anything, and long)."""
        offered = {value for value, _ in field.choices}
        if any(value not in offered for value in field.data or []):
            raise ValidationError("Tick only the kinds of notice listed here.")


class PasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[DataRequired("Enter your current password."),
                                                                      Length(max=256)])
    new_password = PasswordField("New password", validators=[DataRequired("Choose a new password."), Length(max=256)])
