from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app.leads import bp
from app.leads.forms import AssignForm, BulkForm, LeadForm, NoteForm, PoolFilterForm
from app.services import ServiceError, leads as lead_service, merge as merge_service
from app.services.capture import capture_lead
from app.services import lead_queries, timeline as timeline_service
from app.services.lead_queries import PoolFilters
from app.services.stages import pipeline
from app.services.users import team
from app.web import add_form_error, go, query_int, render, safe_next, wants_fragment, with_notice


@bp.before_request
@login_required
def require_login():
    pass


def _owner_choices(pool_label: str = "Shared pool (no owner)") -> list[tuple[str, str]]:
    return [("", pool_label)] + [(str(u.id), u.name) for u in team()]


def _owner_id(raw: str | None) -> int | None:
    if not raw:
        return None
    if not raw.isdigit():
        raise ServiceError("Pick a teammate from the list.", field="owner")
    return int(raw)


def _filters() -> PoolFilters:
    form = PoolFilterForm(request.args)
    if not form.validate():
        field, errors = next(iter(form.errors.items()))
        abort(400, description=f"The {field} filter is not valid: {errors[0]}")
    return PoolFilters(q=form.q.data or "", stage_id=form.stage.data, owner=form.owner.data or "",
                       source=form.source.data or "", sort=form.sort.data, direction=form.dir.data,
                       page=form.page.data or 1)


def _pool_context(filters: PoolFilters) -> dict:
    return {
        "filters": filters,
        "page": lead_queries.pool_page(filters, current_user.id, current_app.config["PAGE_SIZE"]),
        "stages": pipeline(),
        "team": team(),
        "sources": lead_queries.sources(),
        "bulk_form": BulkForm(),
    }


@bp.get("")
def index():
    return render("leads/index.html", "leads/_table.html", **_pool_context(_filters()))


@bp.route("/new", methods=["GET", "POST"])
def new():
    form = LeadForm()
    if form.validate_on_submit():
        try:
            captured = capture_lead(form.lead_data(), via="manual entry", actor_id=current_user.id,
                                    region=current_app.config["DEFAULT_PHONE_REGION"])
        except ServiceError as exc:
            add_form_error(form, exc)
        else:
            lead = captured.lead
            if captured.created and captured.same_phone:
                flash(f"Added {lead.full_name} to the pool. Another lead has the same phone number, so the two "
                      "are listed under likely duplicates.", "success")
            elif captured.created:
                flash(f"Added {lead.full_name} to the pool.", "success")
            else:
                flash(f"{lead.full_name} is already a lead (same {captured.matched_on}), so no twin was made: "
                      "this entry is on its timeline and its empty fields were filled in.", "info")
            return go(url_for("leads.show", lead_id=lead.id))
    status = 422 if form.is_submitted() else 200
    return render("leads/new.html", "leads/_form.html", status, form=form, lead=None)


def _lead_page(lead, status: int = 200, **extra):
    context = {"lead": lead, "note_form": NoteForm(), **_page_extras(lead, **extra)}
    return render_template("leads/show.html", **context), status


@bp.get("/<int:lead_id>")
def show(lead_id: int):
    return _lead_page(lead_service.get_lead(lead_id))


@bp.route("/<int:lead_id>/edit", methods=["GET", "POST"])
def edit(lead_id: int):
    lead = lead_service.get_lead(lead_id)
    form = LeadForm(obj=lead) if request.method == "GET" else LeadForm()
    if request.method == "GET":
        form.version.data = lead.version
        form.value.data = "" if lead.value is None else str(lead.value)
    if form.validate_on_submit():
        try:
            version = int(form.version.data) if (form.version.data or "").isdigit() else None
            lead = lead_service.update_lead(lead.id, form.lead_data(), current_user.id, expected_version=version,
                                            region=current_app.config["DEFAULT_PHONE_REGION"])
        except lead_service.StaleLead as exc:
            form.form_errors.append(exc.message)
            form.version.data = lead.version
        except ServiceError as exc:
            add_form_error(form, exc)
        else:
            flash("Saved.", "success")
            return go(url_for("leads.show", lead_id=lead.id))
    status = 422 if form.is_submitted() else 200
    return render("leads/edit.html", "leads/_form.html", status, form=form, lead=lead)


@bp.post("/<int:lead_id>/notes")
def add_note(lead_id: int):
    form = NoteForm()
    lead = lead_service.get_lead(lead_id)
    if form.validate_on_submit():
        lead_service.add_note(lead.id, form.body.data, current_user.id)
        if not wants_fragment():
            return redirect(url_for("leads.show", lead_id=lead.id))
        return render_template("leads/_note_added.html", lead=lead, note_form=NoteForm(formdata=None),
                               notes=timeline_service.notes(lead.id), **_timeline(lead.id))
    return render("leads/show.html", "leads/_note_form.html", 422, lead=lead, note_form=form,
                  **_page_extras(lead))


def _page_extras(lead, **extra) -> dict:
    from app.leads.appointments import appointment_context
    return {**_timeline(lead.id), "notes": timeline_service.notes(lead.id),
            "assign_form": AssignForm(owner=str(lead.owner_id or "")), "owner_choices": _owner_choices(),
            "stages": pipeline(), **appointment_context(lead, **extra)}


@bp.get("/<int:lead_id>/timeline")
def timeline(lead_id: int):
    lead = lead_service.get_lead(lead_id)
    before = query_int("before", None, minimum=1)
    return render_template("leads/_timeline_entries.html", lead=lead, **_timeline(lead.id, before))


def _timeline(lead_id: int, before_id: int | None = None) -> dict:
    """A page of the timeline, with the decision of which merges still offer undo."""
    entries, more = timeline_service.timeline(lead_id, before_id=before_id)
    return {"entries": entries, "more_timeline": more, "undoable": merge_service.undoable(entries)}


def _after_ownership_change(lead, message: str):
    """The pool row swaps in place; the lead page reloads to show the new owner and timeline."""
    if wants_fragment():
        return with_notice(render_template("leads/_row.html", lead=lead), message)
    flash(message, "success")
    here = url_for("leads.show", lead_id=lead.id)
    target = safe_next(request.form.get("next"), here)
    return redirect(target if target.startswith("/leads") else here)


@bp.post("/<int:lead_id>/claim")
def claim(lead_id: int):
    lead = lead_service.claim_lead(lead_id, current_user.id)
    return _after_ownership_change(lead, f"{lead.full_name} is now yours.")


@bp.post("/<int:lead_id>/assign")
def assign(lead_id: int):
    form = AssignForm()
    if not form.validate_on_submit():
        abort(400)
    lead = lead_service.assign_lead(lead_id, _owner_id(form.owner.data), current_user.id)
    who = lead.owner.name if lead.owner else "the shared pool"
    return _after_ownership_change(lead, f"{lead.full_name} now belongs to {who}.")


@bp.post("/bulk")
def bulk():
    form = BulkForm()
    filters = _filters()
    if not form.validate_on_submit():
        message = "Select at least one lead first." if "lead_ids" in form.errors else "Choose an action."
        raise ServiceError(message)
    if form.action.data == "assign":
        changed = lead_service.bulk_assign(form.lead_ids.data, _owner_id(form.owner.data), current_user.id)
        message = f"Assigned {changed} lead{'s' if changed != 1 else ''}."
    else:
        if not (form.stage.data or "").isdigit():
            raise ServiceError("Choose the stage to move the leads to.", field="stage")
        changed = lead_service.bulk_move(form.lead_ids.data, int(form.stage.data), current_user.id)
        message = f"Moved {changed} lead{'s' if changed != 1 else ''}."
    if not wants_fragment():
        flash(message, "success")
        return redirect(url_for("leads.index", **filters.as_args()))
    return with_notice(render_template("leads/_table.html", **_pool_context(filters)), message)
