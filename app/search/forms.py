from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, Form, HiddenField, StringField
from wtforms.validators import DataRequired, Length

from app.services.saved_views import NAME_MAX, QUERY_MAX


class SearchForm(Form):
    """The navigation's search box. Plain Form: a GET changes nothing, so it carries no CSRF token.
    A search past QUERY_LIMIT is refused beside the box by the service, not cut short here."""

    q = StringField("Search leads")


class SaveViewForm(FlaskForm):
    name = StringField("View name", validators=[DataRequired("Give the view a name."),
                                                Length(max=NAME_MAX, message=f"Keep the name under {NAME_MAX} characters.")])
    shared = BooleanField("Share with the team")
    target = HiddenField()
    query = HiddenField(validators=[Length(max=QUERY_MAX, message="These filters are too long to save as a view.")])


class RenameViewForm(FlaskForm):
    name = StringField("New name", validators=[DataRequired("Give the view a name."),
                                               Length(max=NAME_MAX, message=f"Keep the name under {NAME_MAX} characters.")])


class DeleteViewForm(FlaskForm):
    pass

