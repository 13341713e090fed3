import secrets

from flask import current_app, g, redirect, render_template, request, session, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer
from flask_login import current_user, login_required, login_user, logout_user

from app.auth import bp
from app.auth.forms import LoginForm
from app.extensions import limiter
from app.services.auth import InvalidCredentials, LoginThrottled, sign_in, sign_out
from app.web import safe_next


DEVICE_COOKIE = "leadboard_device"
DEVICE_COOKIE_DAYS = 365


def _device_signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="leadboard-device")


def _device_cookie() -> tuple[str | None, str | None]:
    """(email, device id) from this browser's signed device cookie, or (None, None)."""
    raw = request.cookies.get(DEVICE_COOKIE)
    if not raw:
        return None, None
    try:
        email, device = _device_signer().loads(raw, max_age=DEVICE_COOKIE_DAYS * 86400)
    except (BadSignature, ValueError, TypeError):
        return None, None
    return email, device


def login_source() -> str:
    """Whom the sign-in rate limit counts: a browser holding a signed device cookie is counted on its
    own, so a stranger's flood from the same address (or proxy) never holds a known device back."""
    _, device = _device_cookie()
    return f"device:{device}" if device else (request.remote_addr or "unknown")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("30/minute", methods=["POST"], key_func=login_source)
def login():
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        device_of, device = _device_cookie()
        try:
            user_session = sign_in(form.email.data, form.password.data, request.remote_addr or "unknown",
                                   request.user_agent.string, device_of=device_of, device=device,
                                   lifetime_days=current_app.config["SESSION_LIFETIME_DAYS"])
        except LoginThrottled as exc:
            form.form_errors.append(exc.message)
            g.retry_after = exc.retry_after  # the one number: the page says it, Retry-After says it
            return render_template("auth/login.html", form=form), 429
        except InvalidCredentials as exc:
            form.form_errors.append(exc.message)
            status = 401
        else:
            session.clear()  # a fresh session at sign-in: nothing carries over from before
            user = user_session.user
            user.session_token = user_session.token
            login_user(user)
            session.permanent = True
            response = redirect(safe_next(request.args.get("next")))
            # This browser is now a known device for this account: a stranger's failures never hold it back.
            email = user.email
            device = device if device_of == email else secrets.token_urlsafe(16)
            response.set_cookie(DEVICE_COOKIE, _device_signer().dumps([email, device]),
                                max_age=DEVICE_COOKIE_DAYS * 86400, path=url_for("auth.login"), httponly=True,
                                secure=current_app.config["SESSION_COOKIE_SECURE"], samesite="Lax")
            return response
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
