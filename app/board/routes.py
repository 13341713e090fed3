from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app.board import bp
from app.board.forms import MoveForm
from app.forms import task_form
from app.services import board as board_service, leads as lead_service, scoring
from app.services.stages import UnknownStage, pipeline
from app.services import INT32_MAX
from app.web import notice, render, safe_next, wants_fragment, with_notice

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


def _cursor() -> board_service.Cursor | None:
    """The "more" link's place in the column (the last shown card's position and id). A missing,
    tampered or garbled one starts the column from the top: never an error for a stale link."""
    position = _signed(request.args.get("after_position"), BIGINT_MAX)
    lead_id = _signed(request.args.get("after_id"), INT32_MAX)
    if position is None or lead_id is None or lead_id < 0:
        return None
    return board_service.Cursor(position, lead_id)


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

    def move_form(self, lead_id: int, owner: str | None) -> str:
        return self._for(lead_id, "board.move_form", owner=owner or None)


@bp.context_processor
def card_urls() -> dict:
    """Once per rendered template (the includes of one render share it)."""
    return {"card_urls": CardUrls()}


def _owner_id(owner: str | None) -> int | None:
    """The board's only filter: everyone's leads, or mine."""
    if owner in (None, ""):
        return None
    if owner == "me":
        return current_user.id
    abort(400, description="The board can show everyone's leads or only yours (owner=me).")


@bp.get("")
def index():
    owner = request.args.get("owner", "")
    columns = board_service.columns(_owner_id(owner), current_app.config["BOARD_COLUMN_PAGE"])
    return render("board/index.html", "board/_board.html", columns=columns, owner=owner,
                  rescoring=scoring.current_run() is not None)


@bp.get("/columns/<int:stage_id>/cards")
def more_cards(stage_id: int):
    owner = request.args.get("owner", "")
    after = _cursor()
    # `shown` only labels "N left"; a column started over from the top has shown nothing above.
    shown = _signed(request.args.get("shown"), INT32_MAX) if after else 0
    column = board_service.column(stage_id, _owner_id(owner), after, current_app.config["BOARD_COLUMN_PAGE"],
                                  shown_before=max(shown or 0, 0))
    return render_template("board/_cards.html", column=column, owner=owner)


@bp.get("/cards/<int:lead_id>/move")
def move_form(lead_id: int):
    """The "Move to…" form of one card, fetched when its menu opens."""
    lead = lead_service.get_lead(lead_id)  # the card's menu also offers "Add a task"
    return render_template("board/_move_form.html", lead=lead, owner=request.args.get("owner", ""), stages=pipeline(),
                           form=task_form(lead, where="board"))


def _existing(stage_ids: set) -> set[int]:
    """The named stages that still exist (a tampered or deleted from_stage_id is ignored)."""
    return stage_ids & {s.id for s in pipeline()}


def _refreshed(stage_ids: set[int], owner: str, shown: int | None) -> list:
    limit = min(MAX_SHOWN, max(current_app.config["BOARD_COLUMN_PAGE"], shown or 0))
    return [board_service.column(stage_id, _owner_id(owner), None, limit) for stage_id in sorted(stage_ids)]


def _next_page(owner: str) -> str:
    """Plain-form moves (no JavaScript, or from a lead's page) return where they came from."""
    board = url_for("board.index", owner=owner or None)
    target = safe_next(request.form.get("next"), board)
    return target if target.startswith("/leads/") else board


@bp.post("/move")
def move():
    form = MoveForm()
    if not form.validate_on_submit():
        abort(400, description=next(iter(form.errors.values()))[0])
    owner = form.owner.data or ""
    try:
        lead = lead_service.move_lead(form.lead_id.data, form.stage_id.data, form.after_id.data,
                                      form.version.data, current_user.id)
    except UnknownStage:
        # The stage was deleted (or is being deleted) as the card was dropped: nothing moved, and
        # the columns on this page are out of date, so the whole board reloads with the notice.
        message = "That stage no longer exists (it was just deleted), so the card was not moved. The board is refreshed."
        flash(message, "error")
        if not wants_fragment():
            return redirect(_next_page(owner))
        return notice(message, 409, category="error", **{"HX-Refresh": "true"})
    except lead_service.StaleLead as exc:
        if not wants_fragment():
            flash(exc.message, "error")
            return redirect(_next_page(owner))
        current = lead_service.get_lead(form.lead_id.data)
        affected = _existing({current.stage_id, form.stage_id.data, form.from_stage_id.data})
        return with_notice((render_template("board/_move_result.html",
                                            columns=_refreshed(affected, owner, form.shown.data), owner=owner),
                            409, {"HX-Reswap": "none"}), exc.message, "error")
    message = f"Moved {lead.full_name} to {lead.stage.name}."
    if not wants_fragment():
        flash(message, "success")
        return redirect(_next_page(owner))
    affected = _existing({lead.stage_id, form.from_stage_id.data})
    return with_notice((render_template("board/_move_result.html", columns=_refreshed(affected, owner, form.shown.data),
                                        owner=owner), 200, {"HX-Reswap": "none"}), message)
