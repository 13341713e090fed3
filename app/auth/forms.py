from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Length


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired("Enter your email."), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired("Enter your password."), Length(max=256)])


NEW_PASSWORD_HINT = "At least 12 characters and not a common password: a few unrelated words work well."


class ForgotPasswordForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired("Enter your email."), Length(max=254)],
                       filters=[lambda value: value.strip().lower() if isinstance(value, str) else value])


class ResetPasswordForm(FlaskForm):
    password = PasswordField("New password", validators=[DataRequired("Choose a new password."), Length(max=256)])


class AcceptInvitationForm(FlaskForm):
    name = StringField("Your name", validators=[DataRequired("Enter your name."), Length(max=120)])
    password = PasswordField("Choose a password", validators=[DataRequired("Choose a password."), Length(max=256)])
