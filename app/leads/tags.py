"""A lead's tags on its page, added and removed inline (htmx, or plain posts without JavaScript),
and the tag box's suggestions."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.leads import bp
from app.leads.forms import NoteForm, RemoveTagForm, TagForm
from app.leads.page import page_context, stage_version_kept, tags_context, timeline_context
from app.services import ServiceError, leads as lead_service, permissions, tags as tag_service
from app.web import add_form_error, wants_fragment, with_notice


def _changed(lead, message: str, before: int):
    if not wants_fragment():
        flash(message, "success")
        return redirect(url_for("leads.show", lead_id=lead.id))
    return with_notice(render_template("leads/_tags_changed.html", lead=lead, refocus=True,
                                       keep_version=stage_version_kept(before),
                                       **tags_context(lead.id), **timeline_context(lead.id)), message)


@bp.post("/<int:lead_id>/tags")
def add_tags(lead_id: int):
    lead = lead_service.get_lead(lead_id)
    version = lead.version
    form = TagForm()
    if form.validate_on_submit():
        try:
            before = set(tag_service.tags_for([lead.id])[lead.id])
            added = [name for name in tag_service.add_tags(lead.id, form.tags.data, current_user.id)
                     if name not in before]
        except ServiceError as exc:
            add_form_error(form, exc)
        else:
            message = f"Tagged {', '.join(added)}." if added else "The lead already has those tags."
            return _changed(lead, message, version)
    context = {**tags_context(lead.id, form), "refocus": True}
    if wants_fragment():
        return render_template("leads/_tags.html", lead=lead, **context), 422
    return render_template("leads/show.html", lead=lead, note_form=NoteForm(), **{**page_context(lead), **context}), 422


@bp.post("/<int:lead_id>/tags/remove")
def remove_tag(lead_id: int):
    lead = lead_service.get_lead(lead_id)
    version = lead.version
    form = RemoveTagForm()
    if not form.validate_on_submit():
        raise ServiceError("Choose the tag to remove.", field="name")
    tag_service.remove_tag(lead.id, form.name.data, current_user.id)
    return _changed(lead, f"Removed the tag {form.name.data}.", version)


@bp.get("/tags/suggestions")
def tag_suggestions():
    """Options for the tag box's datalist: tags matching the last one being typed, most used first."""
    typed = tag_service.SEPARATORS.split(request.args.get("tags", ""))[-1]
    return render_template("leads/_tag_options.html", tag_options=tag_service.suggestions(
        typed, visible_to=permissions.visible_to(current_user)))
