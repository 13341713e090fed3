from urllib.parse import parse_qs, urlsplit

from markupsafe import Markup
from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app.leads import bp
from app.forms import refusal
from app.leads.filters import owner_id, pager, pager_args, pool_filters, read_pool_filters
from app.leads.forms import AssignForm, BulkForm, LeadForm, NewLeadForm, NoteForm, lead_form
from app.leads.page import lead_page, notes_context, page_context, stage_version_kept, timeline_context, touch_context
from app.services import ServiceError, assignment, closing, team_settings, custom_fields as field_service, leads as lead_service, scoring, sla, tags as tag_service, utcnow, whole_number
from app.services.capture import capture_lead
from app.services import countries as country_service
from app.services.countries import country_name
from app.services import import_ledger, lead_queries, merge as merge_service, permissions, search as search_service
from app.services.lead_queries import PoolFilters
from app.services.stages import get_stage, pipeline
from app.services.users import team
from app.services import sequences as sequence_service, tasks as task_service, trash as trash_service
from app.services.team_settings import user_timezone
from app.models.task import KIND_LABELS as TASK_KINDS
from app.web import add_form_error, go, render, safe_next, wants_fragment, with_notice


@bp.before_request
@login_required
def require_login():
    pass


def _pool_context(filters: PoolFilters) -> dict:
    page = lead_queries.pool_page(filters, current_user.id, current_app.config["PAGE_SIZE"])
    return {
        **_field_column(filters, page.items),
        "custom_fields": field_service.active_fields(),
        "filters": filters,
        "page": page,
        "lead_tags": tag_service.tags_for([lead.id for lead in page.items]),
        "tag_options": tag_service.suggestions(),
        "pager": pager(filters, page),
        "total": lead_queries.pool_total(filters, current_user.id, current_app.config["POOL_COUNT_LIMIT"]),
        "stages": pipeline(),
        "team": team(), "task_kinds": list(TASK_KINDS.items()),
        "sources": lead_queries.sources(permissions.visible_to(current_user)),
        "countries": [(c.code, c.name) for c in country_service.on_leads()],  # the team's first
        "score_bands": scoring.bands(),
        "response_choices": list(lead_queries.RESPONSES.items()),
        "searchable": search_service.searchable(filters.q) if filters.q else True,
        "rescoring": scoring.current_run() is not None,
        "bulk_form": BulkForm(),
        "lost_reasons": closing.reasons(), "today": closing.team_today(),
        "reason_required": bool(team_settings.current().lost_reason_required),
        "sequence_choices": sequence_service.enrol_choices(),
        "import_file": import_ledger.import_name(filters.import_id) if filters.import_id is not None else None,
    }


def _field_column(filters: PoolFilters, leads) -> dict:
    """The custom field shown as a column (the one filtered on, or sorted by), its values for these
    leads read in one query."""
    shown = filters.field or lead_queries.custom_sort_field(filters)
    values = field_service.values_for([lead.id for lead in leads]) if shown else {}
    return {"shown_field": shown, "field_values": values, "sortable_kinds": lead_queries.SORTABLE_KINDS}


@bp.get("")
def index():
    filters, filter_errors = read_pool_filters()
    context = _pool_context(filters)
    if filter_errors:
        # The pool without the bad filters, each message beside its filter (in a notice for a swap
        # of the table alone, whose filter form stays as it is).
        reply = render("leads/index.html", "leads/_table.html", 422, **context, filter_errors=filter_errors)
        return with_notice(reply, refusal(filter_errors), "error")
    here = context["pager"].here
    if pager_args() != here:  # a stale cursor, or a walk off either end: the address follows the table
        corrected = url_for("leads.index", **filters.as_args(**here))
        if not wants_fragment():
            return redirect(corrected)
        body, status, headers = render("leads/index.html", "leads/_table.html", **context)
        return body, status, {**headers, "HX-Push-Url": corrected}
    return render("leads/index.html", "leads/_table.html", **context)


@bp.route("/new", methods=["GET", "POST"])
def new():
    form = lead_form(NewLeadForm).offer(team(), pipeline(), assignment.any_enabled(), current_user.id)
    if form.validate_on_submit():
        owner_id, by_rules = form.ownership(current_user.id)
        try:
            captured = capture_lead({**form.lead_data(), "custom": form.custom_data()}, via="manual entry",
                                    actor_id=current_user.id, owner_id=owner_id, stage_id=form.stage_id(),
                                    apply_rules=by_rules,
                                    region=current_app.config["DEFAULT_PHONE_REGION"])
        except ServiceError as exc:
            add_form_error(form, exc)
        else:
            if captured.hidden:
                # Already a lead a teammate owns, which this member may not see: left as it was, and
                # said without its page or name.
                flash(f"This person is already a lead a teammate owns (same {captured.matched_on}), so no twin "
                      "was made and that lead was left as it is. Ask an admin if it should be yours.", "info")
                return go(url_for("leads.index"))
            flash(_added_message(captured), "success" if captured.created else "info")
            return go(url_for("leads.show", lead_id=captured.lead.id))
    status = 422 if form.is_submitted() else 200
    return render("leads/new.html", "leads/_form.html", status, form=form, lead=None)


def _added_message(captured) -> str:
    lead = captured.lead
    if not captured.created:
        return (f"{lead.full_name} is already a lead (same {captured.matched_on}), so no twin was made: "
                "this entry is on its timeline and its empty fields were filled in.")
    if captured.routed:
        where = f"to {captured.routed.owner_name} (rule “{captured.routed.rule_name}”)"
    elif lead.owner_id is not None:
        where = f"for {lead.owner.name}"
    else:
        where = "to the pool"
    if captured.same_phone:
        return (f"Added {lead.full_name} {where}. Another lead has the same phone number, so the two "
                "are listed under likely duplicates.")
    return f"Added {lead.full_name} {where}."


@bp.get("/<int:lead_id>")
def show(lead_id: int):
    try:
        lead = lead_service.get_lead(lead_id)
    except lead_service.LeadNotFound:
        # An old address of a merged lead (a bookmark, a notification) finds the lead it became.
        # (Ids start at 1: /leads/0, the benchmarks' signed-in floor, asks nothing more.)
        found = merge_service.merged_into(lead_id) if lead_id > 0 else None
        if found is None:
            trashed = trash_service.trashed(lead_id) if lead_id > 0 else None
            if trashed is not None:  # says where it went, and who can bring it back
                abort(404, description=f"{trashed.full_name} is in the trash. An admin can restore it from "
                                       f"Settings → Trash for {trash_service.KEEP_DAYS} days after it was deleted.")
            raise
        name, survivor = found
        flash(f"{name} was merged into {survivor.full_name}; this is that lead.", "success")
        return redirect(url_for("leads.show", lead_id=survivor.id))
    reused = merge_service.id_reused(lead)
    if reused:  # an older link may have meant the lead merged away before this one took its address
        flash(Markup('If you followed an older link to {}: that lead was merged into <a href="{}">{}</a>.').format(
            reused[0], url_for("leads.show", lead_id=reused[1].id), reused[1].full_name), "success")
    return lead_page(lead)


@bp.get("/<int:lead_id>/sla")
def sla_badge(lead_id: int):
    """The first-response badge alone, for htmx polling from cards and the lead page."""
    lead = lead_service.get_lead(lead_id)
    if not wants_fragment():
        return redirect(url_for("leads.show", lead_id=lead.id))
    return render("leads/_sla_badge.html", None, lead=lead, badge=sla.badge(lead, utcnow()))


def _edit_form(lead, formdata=None) -> LeadForm:
    """The edit form drawn from the lead as it is saved now."""
    form = lead_form(obj=lead, formdata=formdata)
    form.version.data = lead.version
    form.value.data = "" if lead.value is None else str(lead.value)
    if formdata is None:
        form.load_custom(field_service.values_for([lead.id])[lead.id])
    form.country.data = country_name(lead.country)
    return form


@bp.route("/<int:lead_id>/edit", methods=["GET", "POST"])
def edit(lead_id: int):
    lead = lead_service.get_lead(lead_id)
    form = _edit_form(lead) if request.method == "GET" else lead_form()
    if form.validate_on_submit():
        version = whole_number(form.version.data)
        try:
            if version is None:  # a form without its version cannot be checked, so it is not saved
                raise lead_service.StaleLead(message="This form is out of date, so nothing was saved. "
                                                     "The lead as it is now is shown; make your change again.")
            lead = lead_service.update_lead(lead.id, form.lead_data(), current_user.id, expected_version=version,
                                            region=current_app.config["DEFAULT_PHONE_REGION"],
                                            custom=form.custom_data())
        except lead_service.StaleLead as exc:
            # Show their saved values, and list what this person typed so nothing they wrote is lost.
            typed = form.lead_data()
            lead = lead_service.get_lead(lead.id)
            form = _edit_form(lead)
            typed = {name: (value or "").strip() for name, value in typed.items()}
            yours = [f"{form[name].label.text}: {value or '(empty)'}" for name, value in typed.items()
                     if value != str(form[name].data or "").strip()]
            form.form_errors.append(exc.message + (" What you had typed: " + "; ".join(yours) + "." if yours else ""))
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
        before = lead.version
        lead_service.add_note(lead.id, form.body.data, current_user.id)
        if not wants_fragment():
            return redirect(url_for("leads.show", lead_id=lead.id))
        lead = lead_service.get_lead(lead.id)
        return render_template("leads/_note_added.html", lead=lead, note_form=NoteForm(formdata=None),
                               keep_version=stage_version_kept(before),
                               **notes_context(lead.id), **timeline_context(lead.id), **touch_context(lead))
    return render("leads/show.html", "leads/_note_form.html", 422, lead=lead, note_form=form,
                  **page_context(lead))


def older(lead, heading: str, items_template: str, list_tag: str, list_class: str, **context):
    """A "Show older" load: the next rows for htmx to put in place of the link, or on a page of their
    own without JavaScript. A cursor naming no row of this lead starts from the newest."""
    return render("leads/older.html", items_template, lead=lead, heading=heading, items_template=items_template,
                  list_tag=list_tag, list_class=list_class, focus_first=wants_fragment(), **context)


@bp.get("/<int:lead_id>/notes")
def notes(lead_id: int):
    lead = lead_service.get_lead(lead_id)
    return older(lead, "Older notes", "leads/_note_items.html", "ul", "notes",
                 **notes_context(lead.id, whole_number(request.args.get("before"))))


@bp.get("/<int:lead_id>/timeline")
def timeline(lead_id: int):
    lead = lead_service.get_lead(lead_id)
    return older(lead, "Older timeline entries", "leads/_timeline_entries.html", "ol", "timeline",
                 **timeline_context(lead.id, whole_number(request.args.get("before"))))


def _row_column(lead) -> dict:
    """The pool's custom column for one swapped row: the pool page's address (`next`) names it."""
    args = parse_qs(urlsplit(request.form.get("next") or "").query)
    sort = (args.get("sort") or [""])[0]
    key = (args.get("field") or [""])[0] or (sort.removeprefix(lead_queries.CUSTOM_SORT)
                                             if sort.startswith(lead_queries.CUSTOM_SORT) else "")
    shown = field_service.fields_by_key().get(key) if key else None
    return {"shown_field": shown, "field_values": field_service.values_for([lead.id]) if shown else {}}


def _after_ownership_change(lead, message: str):
    """The pool row swaps in place; the lead page reloads to show the new owner and timeline."""
    if wants_fragment():
        return with_notice(render_template("leads/_row.html", lead=lead, lead_tags=tag_service.tags_for([lead.id]),
                                           **_row_column(lead)), message)
    flash(message, "success")
    here = url_for("leads.show", lead_id=lead.id)
    target = safe_next(request.form.get("next"), here)
    return redirect(target if target.startswith("/leads") else here)


@bp.post("/<int:lead_id>/claim")
def claim(lead_id: int):
    try:
        lead = lead_service.claim_lead(lead_id, current_user.id)
    except lead_service.LeadAlreadyClaimed as exc:
        if not wants_fragment():
            raise
        # The row swaps to show who has it now, with the notice: no stale "Claim" button stays behind.
        current = lead_service.get_lead(lead_id)
        row = render_template("leads/_row.html", lead=current, lead_tags=tag_service.tags_for([current.id]),
                              **_row_column(current))
        return with_notice((row, exc.status), exc.message, "error")
    return _after_ownership_change(lead, f"{lead.full_name} is now yours.")


@bp.post("/<int:lead_id>/assign")
def assign(lead_id: int):
    form = AssignForm()
    if not form.validate_on_submit():
        abort(400)
    new_owner = owner_id(form.owner.data)
    permissions.require_reassign(current_user, [lead_id], new_owner)
    lead = lead_service.assign_lead(lead_id, new_owner, current_user.id)
    who = lead.owner.name if lead.owner else "the shared pool"
    return _after_ownership_change(lead, f"{lead.full_name} now belongs to {who}.")


def _bulk_refusal(form: BulkForm) -> str:
    if "lead_ids" in form.errors:
        return "Select at least one lead first."
    for name in ("task_title", "task_due", "task_time"):
        if name in form.errors:
            return f"{getattr(form, name).label.text}: {form.errors[name][0]}"
    return "Choose an action."


def _enrol_selected(form: BulkForm) -> str:
    """Enrol the selected leads in the chosen sequence; says how many were passed over, and why."""
    sequence_id = whole_number(form.sequence.data or "")
    if sequence_id is None:
        raise ServiceError("Choose the sequence to enrol the leads in.", field="sequence")
    enrolled = sequence_service.enrol_many(form.lead_ids.data, sequence_id, current_user.id)
    passed = len(set(form.lead_ids.data)) - enrolled
    message = f"Enrolled {enrolled} lead{'s' if enrolled != 1 else ''} in “{sequence_service.get_sequence(sequence_id).name}”"
    if passed:
        return message + (f"; passed over {passed} already in it or whose address takes no email "
                          "(unsubscribed or bounced).")
    return message + "."


@bp.post("/bulk")
def bulk():
    form = BulkForm()
    filters = pool_filters()
    if not form.validate_on_submit():
        raise ServiceError(_bulk_refusal(form))
    form.lead_ids.data = trash_service.not_trashed(form.lead_ids.data)  # a lead in the trash is not acted on
    permissions.require_visible(current_user, form.lead_ids.data)
    if form.action.data == "task":
        changed = task_service.bulk_create(
            form.lead_ids.data, current_user.id, title=form.task_title.data, kind=form.task_kind.data,
            due_at=task_service.due_from_local(form.task_due.data, form.task_time.data, user_timezone(current_user)))
        message = f"Added the task to {changed} lead{'s' if changed != 1 else ''}."
    elif form.action.data == "assign":
        new_owner = owner_id(form.owner.data)
        permissions.require_reassign(current_user, form.lead_ids.data, new_owner)
        changed = lead_service.bulk_assign(form.lead_ids.data, new_owner, current_user.id)
        message = f"Assigned {changed} lead{'s' if changed != 1 else ''}."
    elif form.action.data == "enrol":
        message = _enrol_selected(form)
    elif form.action.data in ("tag", "untag"):
        change = tag_service.bulk_tag if form.action.data == "tag" else tag_service.bulk_untag
        changed = change(form.lead_ids.data, form.tags.data, current_user.id)
        done = "Tagged" if form.action.data == "tag" else "Removed the tags from"
        message = f"{done} {changed} lead{'s' if changed != 1 else ''}."
    else:
        stage_id = whole_number(form.stage.data)
        if stage_id is None:
            raise ServiceError("Choose the stage to move the leads to.", field="stage")
        details = closing.check(get_stage(stage_id), form.closed_on.data, None, form.lost_reason.data,
                                form.lost_note.data)
        changed = lead_service.bulk_move(form.lead_ids.data, stage_id, current_user.id, details)
        message = f"Moved {changed} lead{'s' if changed != 1 else ''} to {get_stage(stage_id).name}."
    if not wants_fragment():
        flash(message, "success")
        return redirect(url_for("leads.index", **filters.as_args(**pager_args())))
    return with_notice(render_template("leads/_table.html", **_pool_context(filters)), message)
