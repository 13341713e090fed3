"""The team's tags at /settings/tags: find, rename and delete (each lead that carried a deleted tag
keeps a timeline entry saying so)."""
from __future__ import annotations

from flask import flash, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired

from app.services import ServiceError, tags as tag_service
from app.settings import bp
from app.web import add_form_error, go, render, wants_fragment, with_notice


class RenameTagForm(FlaskForm):
    name = StringField("New name", validators=[DataRequired("Give the tag a name.")])


class DeleteTagForm(FlaskForm):
    pass


def _rename_form(tag, formdata=None) -> RenameTagForm:
    # Each row's form has its own prefix, so its field's id (and its error's) are unique on the page.
    return RenameTagForm(formdata=formdata, prefix=f"tag{tag.id}", name=tag.name)


def _list(status: int = 200, **extra):
    typed = request.args.get("q", "")[:100]
    found, more = tag_service.all_tags(typed=typed, after=request.args.get("after") or None)
    rows = [(tag, _rename_form(tag)) for tag in found]
    return render("settings/tags.html", "settings/_tag_list.html", status, rows=rows, more=more, typed=typed,
                  after=request.args.get("after"), **extra)


def refused_on_list(message: str):
    """The tag list with a refusal at its top, 422 (app/settings/refusals.py); htmx swaps it in place
    of whatever the post targeted."""
    body, status, headers = _list(422, refused=message)
    return body, status, {**headers, "HX-Retarget": "#tag-list", "HX-Reswap": "outerHTML"}


@bp.get("/tags")
def tags():
    return _list()


@bp.post("/tags/<int:tag_id>")
def rename_tag(tag_id: int):
    tag = tag_service.get_tag(tag_id)
    before = tag.name
    form = _rename_form(tag, request.form)
    if form.validate_on_submit():
        try:
            tag = tag_service.rename_tag(tag.id, form.name.data, current_user.id)
        except ServiceError as exc:
            add_form_error(form, exc)
        else:
            message = f"Renamed the tag {before} to {tag.name}."
            if not wants_fragment():
                flash(message, "success")
                return go(url_for("settings.tags"))
            return with_notice(render_template("settings/_tag_row.html", tag=tag, form=_rename_form(tag),
                                               focus=f"tag{tag.id}-name"), message)
    return render("settings/tags.html", "settings/_tag_row.html", 422, tag=tag, form=form,
                  rows=[(tag, form)], more=False, typed="", after=None)


@bp.route("/tags/<int:tag_id>/delete", methods=["GET", "POST"])
def delete_tag(tag_id: int):
    tag = tag_service.get_tag(tag_id)
    form = DeleteTagForm()
    if form.validate_on_submit():
        count = tag_service.delete_tag(tag.id, current_user.id)
        flash(f"Deleted the tag {tag.name}; {count} lead{'s' if count != 1 else ''} lost it, "
              "and each one's timeline says so.", "success")
        return go(url_for("settings.tags"))
    return render_template("settings/delete_tag.html", tag=tag, form=form)
