from urllib.parse import urlsplit

from flask import current_app, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from app.auth import bp
from app.auth.forms import LoginForm
from app.extensions import limiter
from app.services.auth import InvalidCredentials, LoginThrottled, sign_in, sign_out


def _safe_next(target: str | None) -> str:
    """Only same-site paths: never an open redirect."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("board.index")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("30/minute", methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        try:
            user_session = sign_in(form.email.data, form.password.data, request.remote_addr or "unknown",
                                   request.user_agent.string,
                                   lifetime_days=current_app.config["SESSION_LIFETIME_DAYS"])
        except LoginThrottled as exc:
            form.form_errors.append(exc.message)
            return render_template("auth/login.html", form=form), 429, {"Retry-After": str(exc.retry_after)}
        except InvalidCredentials as exc:
            form.form_errors.append(exc.message)
            status = 401
        else:
            session.clear()  # a fresh session at sign-in: nothing carries over from before
            user = user_session.user
            user.session_token = user_session.token
            login_user(user)
            session.permanent = True
            return redirect(_safe_next(request.args.get("next")))
    elif form.is_submitted():
        status = 422
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
@login_required
def logout():
    sign_out(current_user.get_id())
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))
