"""The navigation's search box (/search) and saved views (/views): a view opens as a redirect to
the pool or board address it keeps, so those pages stay the one home of their filters."""
from __future__ import annotations

from urllib.parse import urlencode

from flask import abort, flash, redirect, request, url_for
from flask_login import current_user, login_required

from app.search import bp
from app.search.forms import DeleteViewForm, RenameViewForm, SaveViewForm, SearchForm
from app.services import ServiceError, permissions, saved_views, whole_number
from app.services import search as service
from app.services.tags import tags_for
from app.web import add_form_error, go, render, wants_fragment

TARGET_PAGES = {"pool": "leads.index", "board": "board.index"}


@bp.before_request
@login_required
def require_login():
    pass


@bp.app_context_processor
def navigation():
    return {"nav_search": request.args.get("q", "") if request.endpoint == "search.results" else ""}


@bp.get("/search")
def results():
    form = SearchForm(request.args)
    after = whole_number(request.args.get("after"))  # a garbage cursor just means the first page
    try:
        found = service.search(form.q.data or "", after=after, visible_to=permissions.visible_to(current_user))
    except ServiceError as exc:
        add_form_error(form, exc)
        return render("search/index.html", "search/_results.html", 422, form=form, found=None)
    return render("search/index.html", "search/_results.html", form=form, found=found, after=after,
                  lead_tags=tags_for([lead.id for lead in found.leads]))


def _views_page(status: int = 200, errors: dict[int, str] | None = None, typed: dict[int, str] | None = None):
    """The views list; `errors` and `typed`: a refused rename's message and the name as typed, by view."""
    visible = saved_views.visible_views(current_user.id, limit=200)
    return render("search/views.html", None, status, views=visible, targets=saved_views.TARGETS,
                  changeable={v.id for v in visible if saved_views.may_change(v, current_user)},
                  errors=errors or {}, typed=typed or {})


@bp.get("/views")
def views():
    return _views_page()


@bp.get("/views/menu")
def views_menu():
    """The navigation's Views menu, loaded when it first opens (the list page without JavaScript)."""
    if not wants_fragment():
        return redirect(url_for("search.views"))
    return render("search/_views_menu.html", None, views=saved_views.visible_views(current_user.id))


@bp.post("/views")
def save_view():
    form = SaveViewForm()
    if form.validate_on_submit():
        try:
            view = saved_views.save_view(current_user.id, form.name.data, form.target.data, form.query.data or "",
                                         shared=form.shared.data)
            flash(f"Saved the view “{view.name}”{' for the team' if view.shared else ''}.", "success")
            return go(url_for("search.open_view", view_id=view.id))
        except ServiceError as exc:
            add_form_error(form, exc)
    return render("search/save_view.html", None, 422, form=form, targets=saved_views.TARGETS)


@bp.get("/views/<int:view_id>")
def open_view(view_id: int):
    try:
        opening = saved_views.open_view(view_id, current_user.id)
    except ServiceError as exc:
        abort(exc.status, description=exc.message)
    for message in opening.notices:
        flash(message, "error")
    query = urlencode(opening.args)
    return redirect(url_for(TARGET_PAGES[opening.target]) + (f"?{query}" if query else ""))


@bp.post("/views/<int:view_id>/rename")
def rename_view(view_id: int):
    form = RenameViewForm()
    try:
        if not form.validate_on_submit():
            raise ServiceError(next(e for errors in form.errors.values() for e in errors), field="name")
        view = saved_views.rename_view(view_id, current_user.id, form.name.data)
    except ServiceError as exc:
        if exc.status in (403, 404):
            abort(exc.status, description=exc.message)
        return _views_page(422, errors={view_id: exc.message}, typed={view_id: form.name.data or ""})
    flash(f"Renamed the view to “{view.name}”.", "success")
    return go(url_for("search.views"))


@bp.post("/views/<int:view_id>/delete")
def delete_view(view_id: int):
    if not DeleteViewForm().validate_on_submit():
        abort(400)
    try:
        name = saved_views.delete_view(view_id, current_user.id)
    except ServiceError as exc:
        abort(exc.status, description=exc.message)
    flash(f"Deleted the view “{name}”.", "success")
    return go(url_for("search.views"))
