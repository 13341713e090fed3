import redis
from flask import current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import text

from app.extensions import db, limiter
from app.main import bp
from app.forms import AvailabilityForm
from app.main.forms import AccountForm, PasswordForm
from app.services import (
    ServiceError, accounts, availability as availability_service, notifications as notification_service, team_settings,
    whole_number,
)
from app.web import add_form_error, go, render, safe_next, wants_fragment, with_notice


@bp.get("/")
def index():
    return redirect(url_for("board.index" if current_user.is_authenticated else "auth.login"))


@bp.get("/favicon.ico")
def favicon():
    """Browsers ask for this on pages without an icon link (a PDF, a JSON reply): the same icon."""
    return redirect(url_for("static", filename="favicon.svg"), 301)


@bp.get("/healthz")
@limiter.limit("120/minute")
def healthz():
    """Liveness and dependencies, for load balancers and operators."""
    checks = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = {"status": "ok", "dialect": db.engine.dialect.name}
    except Exception as exc:  # report, don't crash: this is what the endpoint is for
        db.session.rollback()
        checks["database"] = {"status": "error", "error": type(exc).__name__}
    redis_url = current_app.config["REDIS_URL"]
    if redis_url:
        try:
            redis.Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=1).ping()
            checks["redis"] = {"status": "ok"}
        except redis.RedisError as exc:
            checks["redis"] = {"status": "error", "error": type(exc).__name__}
    down = [name for name, check in checks.items() if check["status"] != "ok"]
    return jsonify(status="error" if down else "ok", down=down, **checks), 503 if down else 200


@bp.get("/livez")
@limiter.exempt
def livez():
    """Liveness, for a supervisor deciding whether to restart this process: it answers, touching
    nothing else (a database or Redis outage is not cured by a restart)."""
    return jsonify(status="ok"), 200, {"Cache-Control": "no-store"}


@bp.get("/readyz")
@limiter.exempt
def readyz():
    """Readiness, for a load balancer deciding whether to send this process requests: 200 while the
    database answers, 503 when it does not. Redis is not asked: every page works without it (jobs
    wait in the database), so a Redis outage must not take every web process out of rotation."""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:  # report, don't crash: this is what the endpoint is for
        db.session.rollback()
        return jsonify(status="error", database=type(exc).__name__), 503, {"Cache-Control": "no-store"}
    return jsonify(status="ok"), 200, {"Cache-Control": "no-store"}


# --- a person's own things: notifications and timezone -------------------------------------------


@bp.get("/notifications")
@login_required
def notifications():
    """The newest notifications, or (`before`: the last one shown) the next older ones: a fragment
    for htmx's "Show older", a page of its own without JavaScript."""
    before = whole_number(request.args.get("before"))
    items, more = notification_service.recent(current_user.id, before_id=before)
    return render("main/notifications.html", "main/_notification_items.html", items=items, more=more,
                  older=before is not None, before=before, focus_first=wants_fragment())


@bp.get("/notifications/bell")
@login_required
def bell():
    """The layout's unread count, polled by app.js: 204 (nothing to swap) while the count the page
    shows (`shown`) is still right; without htmx, the notifications page."""
    if not wants_fragment():
        return redirect(url_for("main.notifications"))
    unread = notification_service.unread_count(current_user.id)
    if whole_number(request.args.get("shown")) == unread:
        return "", 204, {"Cache-Control": "no-store"}
    return render_template("main/_bell.html", unread=unread), 200, {"Cache-Control": "no-store"}


@bp.post("/notifications/<int:notification_id>/open")
@login_required
def open_notification(notification_id: int):
    """Follow one notification to what it is about, marking it read (someone else's is left alone)."""
    notification_service.mark_one_read(current_user.id, notification_id)
    return redirect(safe_next(request.form.get("next"), url_for("main.notifications")))


@bp.post("/notifications/read")
@login_required
def mark_notifications_read():
    """Everything read: htmx redraws the list in place (focus on it, the bell's count along);
    without JavaScript, the notifications page again."""
    count = notification_service.mark_read(current_user.id, upto_id=whole_number(request.values.get("upto")))
    message = f"Marked {count} notification{'s' if count != 1 else ''} as read." if count else "Nothing was unread."
    if not wants_fragment():
        flash(message, "success")
        return redirect(url_for("main.notifications"))
    before = whole_number(request.values.get("before"))  # the older page the button was on, if any
    items, more = notification_service.recent(current_user.id, before_id=before)
    return with_notice(render_template("main/_notifications_read.html", items=items, more=more, before=before,
                                       older=before is not None, unread=notification_service.unread_count(current_user.id)),
                       message)


def _account_page(form: AccountForm, availability: AvailabilityForm, status: int = 200,
                  password: PasswordForm | None = None):
    return render("main/account.html", "_availability_form.html", status, form=form,
                  password_form=password or PasswordForm(formdata=None), **_availability(availability))


def _availability(form: AvailabilityForm) -> dict:
    return {"availability": form, "action": url_for("main.availability"), "whom": "you",
            "zone": team_settings.user_timezone(current_user)}


def _own_availability_form() -> AvailabilityForm:
    form = AvailabilityForm(formdata=None)
    form.fill(current_user.away_until, availability_service.shifts_of(current_user))
    return form


def _timezone_form() -> AccountForm:
    form = AccountForm(timezone=current_user.timezone or "",
                       email_kinds=sorted(notification_service.email_choices(current_user.id)))
    form.timezone.choices = [("", f"The team's timezone ({team_settings.team_timezone()})")] + \
        team_settings.zone_choices(keep=current_user.timezone)
    form.email_kinds.choices = [(kind.name, kind.label) for kind in notification_service.kinds_for(current_user)] + \
        [(notification_service.DIGEST, notification_service.DIGEST_LABEL)]
    return form


@bp.post("/account/availability")
@login_required
def availability():
    """A person's own "away until" date and working hours."""
    form = AvailabilityForm()
    if form.validate_on_submit():
        try:
            availability_service.set_availability(current_user.id, form.away_until.data, form.shifts())
        except ServiceError as exc:
            add_form_error(form, exc)
        else:
            flash("Saved your availability.", "success")
            return go(url_for("main.account"))
    return _account_page(_timezone_form(), form, 422)


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    form = _timezone_form()
    if form.validate_on_submit():
        try:
            team_settings.save_account(current_user.id, form.timezone.data or None, form.email_kinds.data or [])
        except ServiceError as exc:
            add_form_error(form, exc)
        else:
            flash("Saved your timezone and which notifications also come by email.", "success")
            return redirect(url_for("main.account"))
    return _account_page(form, _own_availability_form(), 422 if form.is_submitted() else 200)


def password_guesser() -> str:
    """Whom the limit on password changes counts: the account (a stolen session must not guess its
    current password faster than the sign-in page allows), or the address before sign-in."""
    return f"password:{current_user.get_id()}" if current_user.is_authenticated else (request.remote_addr or "unknown")


@bp.post("/account/password")
@login_required
@limiter.limit("10/15 minutes", key_func=password_guesser)
def change_password():
    """A new password, the current one required; every other browser signed in as this person is signed out."""
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            accounts.change_password(current_user.id, form.current_password.data, form.new_password.data,
                                     keep_session=current_user.get_id())
        except ServiceError as exc:
            add_form_error(form, exc)
        else:
            flash("Your password is changed. You are still signed in here; everywhere else is signed out.", "success")
            return redirect(url_for("main.account"))
    return _account_page(_timezone_form(), _own_availability_form(), 422, password=form)
