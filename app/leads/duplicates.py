"""Likely duplicates, the side-by-side merge, and undoing a merge (issue 4, "Duplicates")."""
from flask import abort, flash, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import Form, HiddenField, IntegerField, RadioField, StringField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from app.extensions import db
from app.leads import bp
from app.models import LeadMerge
from app.services import ServiceError, custom_fields, leads as lead_service, whole_number
from app.services import merge as merge_service
from app.services import duplicates as duplicate_service, lead_queries, permissions
from app.services.lead_queries import PoolFilters
from app.services.leads import StaleLead
from app.web import go, render

PAGE_PAIRS = 25


class DuplicatesQuery(Form):
    """The list's and the compare page's query string: a GET changes nothing, so no CSRF token."""

    after = StringField(validators=[Optional(), Length(max=300)])
    a = IntegerField(validators=[Optional(), NumberRange(min=1)])
    b = IntegerField(validators=[Optional(), NumberRange(min=1)])
    survivor = IntegerField(validators=[Optional(), NumberRange(min=1)])
    q = StringField(validators=[Optional(), Length(max=100)])


class MergeForm(FlaskForm):
    survivor = IntegerField(validators=[InputRequired("Pick the lead to keep.")])
    loser = IntegerField(validators=[InputRequired("Pick the lead to merge away.")])
    survivor_version = HiddenField()
    loser_version = HiddenField()

    def choices(self) -> dict[str, str]:
        """{field name: "survivor" or "loser"}: the built-in fields, and each custom field (custom_<key>) asked."""
        return {field.name.removeprefix("keep_"): field.data for field in self
                if field.name.startswith("keep_") and field.data}

    def expected_versions(self) -> dict[int, int]:
        versions = {self.survivor.data: self.survivor_version.data, self.loser.data: self.loser_version.data}
        return {lead_id: whole_number(v) for lead_id, v in versions.items() if whole_number(v) is not None}


for _name in merge_service.MERGE_FIELDS:
    setattr(MergeForm, f"keep_{_name}", RadioField(merge_service.MERGE_LABELS[_name], default="survivor",
                                                   choices=[("survivor", "survivor"), ("loser", "loser")]))


def merge_form() -> MergeForm:
    """The merge form with a choice per custom field defined now (keep_custom_<key>), bound to the request."""
    class WithCustomFields(MergeForm):
        pass
    for custom in custom_fields.active_fields():
        name = custom_fields.form_name(custom.key)
        setattr(WithCustomFields, f"keep_{name}", RadioField(custom.label, validators=[Optional()],
                                                             choices=[("survivor", "survivor"), ("loser", "loser")]))
    return WithCustomFields()


def _query() -> DuplicatesQuery:
    form = DuplicatesQuery(request.args)
    if not form.validate():
        field, errors = next(iter(form.errors.items()))
        abort(400, description=f"The {field} parameter is not valid: {errors[0]}")
    return form


@bp.get("/duplicates")
def duplicates():
    permissions.require(current_user, "merge")
    after = _query().after.data or None
    # Only pairs of leads this person may see, left out in SQL before a page is cut.
    page = duplicate_service.likely_duplicates(PAGE_PAIRS, after, visible_to=permissions.visible_to(current_user))
    return render("leads/duplicates.html", "leads/_dup_list.html", page=page, after=after)


def _merge_page(preview, status: int = 200, chosen: dict | None = None, errors: list[str] | None = None,
                field_errors: dict | None = None):
    chosen = chosen or {f.name: f.default for f in preview.fields}
    return render_template("leads/merge.html", preview=preview, chosen=chosen, errors=errors or [],
                           result_name=merge_service.result_name(preview, chosen),
                           field_errors=field_errors or {}), status


@bp.get("/merge")
def merge():
    permissions.require(current_user, "merge")
    query = _query()
    permissions.require_visible(current_user, [query.a.data, query.b.data])
    if query.a.data and query.b.data:
        return _merge_page(merge_service.merge_preview(query.a.data, query.b.data, query.survivor.data))
    if not query.a.data:
        abort(400, description="Choose the two leads to compare, e.g. from the likely duplicates list.")
    lead = lead_service.get_lead(query.a.data)
    q = (query.q.data or "").strip()
    matches = [m for m in lead_queries.pool_page(permissions.scoped(PoolFilters(q=q, sort="name", direction="asc"),
                                                                    current_user), current_user.id,
                                                  per_page=20).items if m.id != lead.id] if q else []
    return render("leads/merge.html", "leads/_merge_matches.html", preview=None, lead=lead, q=q, matches=matches)


@bp.post("/merge")
def merge_post():
    permissions.require(current_user, "merge")
    form = merge_form()
    if not form.validate_on_submit():
        abort(400, description="Choose one value per field, and which lead to keep.")
    permissions.require_visible(current_user, [form.survivor.data, form.loser.data])
    try:
        merged = merge_service.merge_leads(form.survivor.data, form.loser.data, form.choices(), current_user.id,
                                           expected_versions=form.expected_versions())
    except StaleLead as exc:  # fresh values side by side, with the reason nothing was merged
        preview = merge_service.merge_preview(form.survivor.data, form.loser.data, form.survivor.data)
        return _merge_page(preview, exc.status, errors=[exc.message])
    except ServiceError as exc:
        if not exc.field:  # self-merge, a lead gone or already merged: the error page says which
            raise
        preview = merge_service.merge_preview(form.survivor.data, form.loser.data, form.survivor.data)
        return _merge_page(preview, 422, form.choices(), field_errors={exc.field: exc.message})
    flash(f"Merged {merge_service.loser_name(merged)} into this lead. Undo it from the timeline within "
          f"{merge_service.UNDO_WINDOW.days} days.", "success")
    return go(url_for("leads.show", lead_id=merged.survivor_id))


@bp.post("/merges/<int:merge_id>/undo")
def undo_merge(merge_id: int):
    permissions.require(current_user, "merge")
    found = db.session.get(LeadMerge, merge_id) if 0 < merge_id < 2**31 else None
    if found is not None:
        permissions.require_merge_visible(current_user, found)
    merge = merge_service.undo_merge(merge_id, current_user.id)
    flash(f"Merge undone: {merge_service.loser_name(merge)} is its own lead again, and everything that "
          "happened here since the merge is kept.", "success")
    return go(url_for("leads.show", lead_id=merge.survivor_id))
