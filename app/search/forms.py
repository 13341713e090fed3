from __future__ import annotations

from urllib.parse import parse_qsl

from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import BooleanField, Form, HiddenField, StringField, ValidationError
from wtforms.validators import DataRequired, Length

from app.forms import FILTER_FORMS, refusal

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

    def validate_query(self, field):
        """Filters the page itself refuses (a score of "abc", a sort by nothing) are not kept: the
        view would open with a notice every time. Checked by the page's own filter form."""
        form_class = FILTER_FORMS.get(self.target.data)
        if form_class is None:
            return
        args = MultiDict(parse_qsl((field.data or "").lstrip("?")))
        known = {name for name in form_class().data} | {"after", "before", "last", "page"}
        unknown = sorted(name for name in args if name not in known)
        if unknown:
            raise ValidationError(f"These filters include “{unknown[0][:40]}”, which the page does not filter by.")
        _, errors = form_class(args).narrowing()
        if errors:
            raise ValidationError(f"{refusal(errors).rstrip('.')}. Fix the filter, then save.")


class RenameViewForm(FlaskForm):
    name = StringField("New name", validators=[DataRequired("Give the view a name."),
                                               Length(max=NAME_MAX, message=f"Keep the name under {NAME_MAX} characters.")])


class DeleteViewForm(FlaskForm):
    pass

