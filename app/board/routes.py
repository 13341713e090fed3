from urllib.parse import parse_qsl, urlencode

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.datastructures import MultiDict

from app.board import bp
from app.board.forms import BoardFilterForm, MoveForm, QuickAddForm
from app.forms import refusal, task_form
from app.services import ServiceError, board as board_service, closing, custom_fields as field_service, \
    leads as lead_service, permissions, scoring, tags as tag_service, team_settings
from app.services.lead_queries import PoolFilters
from app.services.stages import UnknownStage, get_stage, pipeline
from app.services import INT32_MAX, whole_number
from app.services.lead_queries import sources
from app.services.users import team
from app.web import add_form_error, go, notice, render, safe_next, wants_fragment, with_notice

MAX_SHOWN = 200
BIGINT_MAX = 2**63 - 1


def _signed(raw: str | None, limit: int) -> int | None:
    """A whole number, maybe negative, within ±limit; anything else None."""
    text = (raw or "").strip()
    digits = text[1:] if text.startswith("-") else text
    if not (digits and digits.isascii() and digits.isdigit() and len(digits) <= 19):
        return None
    number = int(text)
    return number if -limit <= number <= limit else None


def _cursor(view: board_service.View) -> board_service.Cursor | None:
    """The "more" link's place in the column (the last shown card's position, or score, and id). A
    missing, tampered or garbled one starts the column from the top: never an error for a stale link."""
    key = (_signed(request.args.get("after_score"), INT32_MAX) if view.by_score
           else _signed(request.args.get("after_position"), BIGINT_MAX))
    lead_id = _signed(request.args.get("after_id"), INT32_MAX)
    if key is None or lead_id is None or lead_id < 0:
        return None
    return board_service.Cursor(key, lead_id)


def _read_view(args: MultiDict) -> tuple[board_service.View, dict, dict[str, str]]:
    """The board's view from a query string, its arguments for links (defaults left out), and
    {name: message} of the bad filters, left out of both (NarrowingForm.narrowing, as on the
    pool); an unknown band matches nothing, as on the pool."""
    form = BoardFilterForm(args)
    shared, errors = form.narrowing()
    narrow = PoolFilters(q=(form.q.data or "").strip(), source=form.source.data or "", **shared)
    owner, sort = form.owner.data or "", form.sort.data or "position"
    owner_id = current_user.id if owner == "me" else (None if owner in ("", "none") else whole_number(owner))
    permissions.require_owner_filter(current_user, owner)  # another person's leads, to one who may not see them
    view = board_service.View(owner_id=owner_id, pool=owner == "none", sort=sort, narrow=narrow,
                              visible_to=permissions.visible_to(current_user))
    links = narrow.as_args(owner=owner, sort=None if sort == "position" else sort)
    return view, links, errors


def _view(args: MultiDict) -> tuple[board_service.View, dict]:
    """The view of a request the board's own links and forms made (more cards, a move): a bad filter
    there is a tampered address, a 400 naming it."""
    view, links, errors = _read_view(args)
    if errors:
        abort(400, description=refusal(errors))
    return view, links


def _move_view(form: MoveForm) -> tuple[board_service.View, dict]:
    """The view a move was made from: its query string, or (older pages) just its owner filter."""
    if form.view.data:
        return _view(MultiDict(parse_qsl(form.view.data, keep_blank_values=True)))
    return _view(MultiDict({"owner": form.owner.data or ""}))


@bp.before_request
@login_required
def require_login():
    pass


class CardUrls:
    """The links every card carries, each kind built by one url_for per render and then joined with
    the card's id: a board of 120 cards would otherwise route-build 360 URLs (a third of its render)."""

    PLACEHOLDER = str(INT32_MAX)  # an id no row has; it stands where the card's id goes

    def __init__(self) -> None:
        self._parts: dict[tuple, tuple[str, str]] = {}

    def _for(self, lead_id: int, endpoint: str, **values) -> str:
        key = (endpoint, *sorted(values.items()))
        parts = self._parts.get(key)
        if parts is None:
            head, _, tail = url_for(endpoint, lead_id=INT32_MAX, **values).partition(self.PLACEHOLDER)
            parts = self._parts[key] = (head, tail)
        return f"{parts[0]}{int(lead_id)}{parts[1]}"  # escaped by the template, as url_for's would be

    def lead(self, lead_id: int) -> str:
        return self._for(lead_id, "leads.show")

    def move_form(self, lead_id: int, view_args: dict) -> str:
        return self._for(lead_id, "board.move_form", **view_args)


@bp.context_processor
def card_urls() -> dict:
    """Once per rendered template (the includes of one render share it)."""
    return {"card_urls": CardUrls()}


def _view_context(view: board_service.View, view_args: dict) -> dict:
    """What every board template needs to keep the view: its filters, its link arguments, the
    same as one query string (for the move form and the drag script)."""
    return {"view": view, "filters": view.narrow, "view_args": view_args, "view_query": urlencode(view_args),
            "owner": view_args.get("owner", ""), "scan_limit": board_service.SCAN_LIMIT,
            "needs_full_form": any(f.required for f in field_service.active_fields())}


def _active_filters(view_args: dict) -> int:
    """How many of the filter panel's choices are on: each one in the address counts once, the
    owner too (also "me", which the "My leads" switch sets: it narrows the board like any other),
    and a custom field's value or range once."""
    custom = any(name in view_args for name in ("field_value", "field_min", "field_max"))
    return len(view_args.keys() & {"q", "owner", "source", "tag", "band", "min_score", "sort"}) + custom


@bp.get("")
def index():
    view, view_args, filter_errors = _read_view(request.args)
    columns = board_service.columns(view, current_app.config["BOARD_COLUMN_PAGE"], current_app.config["BOARD_COUNT_LIMIT"])
    # A bad filter: the board without it, its message beside it on the page (in a notice for a swap
    # of the board alone, whose filter form stays as it is).
    body, status, headers = render("board/index.html", "board/_board.html", 422 if filter_errors else 200,
                                   columns=columns, **_view_context(view, view_args), score_bands=scoring.bands(),
                                   custom_fields=field_service.active_fields(), tag_options=tag_service.suggestions(),
                                   rescoring=scoring.current_run() is not None, filter_errors=filter_errors,
                                   # The filter form's choices: the page's, not a swap of the board alone.
                                   **({} if wants_fragment() else {"team": team(), "sources": sources(permissions.visible_to(current_user))}),
                                   active_filters=_active_filters(view_args),
                                   # Folded while only the "My leads" switch is on: it shows itself above the board.
                                   open_filters=_active_filters(view_args) - (view_args.get("owner") == "me"))
    # The filter form sends its empty controls too; the address shows only the filters in use.
    reply = body, status, {**headers, "HX-Push-Url": url_for("board.index", **view_args)}
    return with_notice(reply, refusal(filter_errors), "error") if filter_errors else reply


@bp.get("/columns/<int:stage_id>/cards")
def more_cards(stage_id: int):
    view, view_args = _view(request.args)
    after = _cursor(view)
    # `shown` only labels "N left"; a column started over from the top has shown nothing above.
    shown = _signed(request.args.get("shown"), INT32_MAX) if after else 0
    column = board_service.column(stage_id, view, after, current_app.config["BOARD_COLUMN_PAGE"],
                                  shown_before=max(shown or 0, 0), count_limit=current_app.config["BOARD_COUNT_LIMIT"])
    return render_template("board/_cards.html", column=column, **_view_context(view, view_args))


@bp.get("/cards/<int:lead_id>/move")
def move_form(lead_id: int):
    """The "Move to…" form of one card, fetched when its menu opens."""
    view, view_args = _view(request.args)
    lead = lead_service.get_lead(lead_id)  # the card's menu also offers "Add a task"
    return render_template("board/_move_form.html", lead=lead, stages=pipeline(), form=task_form(lead, where="board"),
                           **_view_context(view, view_args))


def _existing(stage_ids: set) -> set[int]:
    """The named stages that still exist (a tampered or deleted from_stage_id is ignored)."""
    return stage_ids & {s.id for s in pipeline()}


def _refreshed(stage_ids: set[int], view: board_service.View, shown: int | None) -> list:
    limit = min(MAX_SHOWN, max(current_app.config["BOARD_COLUMN_PAGE"], shown or 0))
    return [board_service.column(stage_id, view, None, limit, count_limit=current_app.config["BOARD_COUNT_LIMIT"])
            for stage_id in sorted(stage_ids)]


def _next_page(view_args: dict) -> str:
    """Plain-form moves (no JavaScript, or from a lead's page) return where they came from."""
    board = url_for("board.index", **view_args)
    target = safe_next(request.form.get("next"), board)
    return target if target.startswith("/leads/") else board


def _back(view_args: dict):
    """After a plain-form move: where it came from; a lead's page puts focus back on its "Move to
    stage" form (after the closing page of a won or lost stage, say), not at the top."""
    target = _next_page(view_args)
    return go(target, focus="lead-stage-form" if target.startswith("/leads/") else None)


def _close_dialog(form: MoveForm, stage, view: board_service.View, view_args: dict,
                  error: ServiceError | None = None):
    """Ask for what closing a lead records before moving it to a won or lost stage: a dialog over
    the board (the dragged card goes back until it is answered), or a page of its own without htmx."""
    lead = lead_service.get_lead(form.lead_id.data)
    context = dict(lead=lead, stage=stage, form=form, error=error, reasons=closing.reasons(),
                   today=closing.team_today(), next=request.form.get("next") or "",
                   reason_required=bool(team_settings.current().lost_reason_required), **_view_context(view, view_args))
    status = 422 if error else 200
    if not wants_fragment():
        return render_template("board/close.html", **context), status
    affected = _existing({lead.stage_id, form.stage_id.data, form.from_stage_id.data})
    body = render_template("board/_close_dialog.html", **context) + render_template(
        "board/_move_result.html", columns=_refreshed(affected, view, form.shown.data), asking=True,
        **_view_context(view, view_args))
    return body, status, {"HX-Reswap": "none"}


def _closing_details(form: MoveForm, stage):
    """The closing details sent with the move, checked (ServiceError names the field)."""
    return closing.check(stage, form.closed_on.data, form.won_value.data, form.lost_reason.data,
                         form.lost_note.data)


@bp.post("/move")
def move():
    form = MoveForm()
    if not form.validate_on_submit():
        abort(400, description=next(iter(form.errors.values()))[0])
    view, view_args = _move_view(form)
    permissions.require_visible(current_user, [form.lead_id.data])
    try:
        stage, details = get_stage(form.stage_id.data), None
        lead = lead_service.get_lead(form.lead_id.data)
        if closing.asks(lead, stage):
            fresh = form.version.data in (None, lead.version)  # a stale card is refused below, not asked about
            if not form.closing.data and fresh:
                return _close_dialog(form, stage, view, view_args)
            details = _closing_details(form, stage)
        lead = lead_service.move_lead(form.lead_id.data, form.stage_id.data, form.after_id.data,
                                      form.version.data, current_user.id, details)
    except UnknownStage:
        # The stage was deleted (or is being deleted) as the card was dropped: nothing moved, and
        # the columns on this page are out of date, so the whole board reloads with the notice.
        message = "That stage no longer exists (it was just deleted), so the card was not moved. The board is refreshed."
        flash(message, "error")
        if not wants_fragment():
            return redirect(_next_page(view_args))
        return notice(message, 409, category="error", **{"HX-Refresh": "true"})
    except lead_service.StaleLead as exc:
        if not wants_fragment():
            flash(exc.message, "error")
            return _back(view_args)
        current = lead_service.get_lead(form.lead_id.data)
        affected = _existing({current.stage_id, form.stage_id.data, form.from_stage_id.data})
        return with_notice((render_template("board/_move_result.html", columns=_refreshed(affected, view, form.shown.data),
                                            **_view_context(view, view_args)),
                            409, {"HX-Reswap": "none"}), exc.message, "error")
    except ServiceError as exc:
        if exc.field is None:  # not a closing detail (a lead deleted meanwhile, say): the usual error page
            raise
        return _close_dialog(form, get_stage(form.stage_id.data), view, view_args, exc)  # asked again, the mistake beside its field
    message = f"Moved {lead.full_name} to {lead.stage.name}."
    if not wants_fragment():
        flash(message, "success")
        return _back(view_args)
    affected = _existing({lead.stage_id, form.from_stage_id.data})
    return with_notice((render_template("board/_move_result.html", columns=_refreshed(affected, view, form.shown.data),
                                        **_view_context(view, view_args)), 200, {"HX-Reswap": "none"}), message)


def _quick_add_result(captured, stage, view: board_service.View, view_args: dict):
    """The column the lead went to (and, for a lead already known, the one it is in), refreshed out
    of band; the new card takes focus."""
    lead = captured.lead
    if captured.hidden:  # a teammate's lead this member may not see: left as it was, not named, not shown
        message = permissions.hidden_lead(captured.matched_on)
        if not wants_fragment():
            flash(message, "info")
            return redirect(url_for("board.index", **view_args))
        body = render_template("board/_move_result.html", columns=[], **_view_context(view, view_args))
        return with_notice((body, 200, {"HX-Reswap": "none"}), message, "info")
    if captured.created:
        message = f"Added {lead.full_name} to {stage.name}."
    else:
        message = (f"{lead.full_name} is already a lead (same {captured.matched_on}), so no twin was made: "
                   f"it stays in {lead.stage.name}, its empty fields filled in.")
    if not wants_fragment():
        flash(message, "success" if captured.created else "info")
        return redirect(url_for("board.index", **view_args))
    columns = _refreshed(_existing({stage.id, lead.stage_id}), view, None)
    body = render_template("board/_move_result.html", columns=columns, focus_card=lead.id, **_view_context(view, view_args))
    return with_notice((body, 200, {"HX-Reswap": "none"}), message, "success" if captured.created else "info")


@bp.route("/columns/<int:stage_id>/new", methods=["GET", "POST"])
def quick_add(stage_id: int):
    """A lead straight into a column: the small form (its own page without JavaScript), and its save."""
    try:
        stage = get_stage(stage_id)
    except UnknownStage:
        abort(404)
    form = QuickAddForm()
    args = MultiDict(parse_qsl(form.view.data or "", keep_blank_values=True)) if form.is_submitted() else request.args
    view, view_args = _view(args)
    refused = board_service.quick_add_refusal(stage)
    if refused:
        abort(400, description=refused)
    if not form.is_submitted():
        form.owner.data = "none" if view.pool else "me"
        form.view.data = urlencode(view_args)
    if form.validate_on_submit():
        try:
            captured = board_service.quick_add(stage.id, form.name.data, form.company.data, form.email.data,
                                               form.owner_id(current_user.id), current_user.id,
                                               region=current_app.config["DEFAULT_PHONE_REGION"])
        except ServiceError as exc:
            if exc.field in ("first_name", "last_name"):
                exc.field = "name"
            add_form_error(form, exc)
        else:
            return _quick_add_result(captured, stage, view, view_args)
    return render("board/quick_add.html", "board/_quick_add_form.html", 422 if form.is_submitted() else 200,
                  form=form, stage=stage, team=team(), **_view_context(view, view_args))
