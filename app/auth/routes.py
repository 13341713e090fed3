import secrets

from flask import current_app, flash, g, redirect, render_template, request, session, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer
from flask_login import current_user, login_required, login_user, logout_user

from app.auth import bp
from app.auth.forms import AcceptInvitationForm, ForgotPasswordForm, LoginForm, ResetPasswordForm
from app.extensions import limiter
from app.services import ServiceError, accounts
from app.services.auth import InvalidCredentials, LoginThrottled, sign_in, sign_out
from app.services.team_settings import identity
from app.web import add_form_error, safe_next


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
    known = not form.is_submitted() and bool(session.get("sign_in_as"))
    if known:
        # Straight from choosing a password (a reset or an invitation): the address is already known.
        form.email.data = session.pop("sign_in_as")
    if form.validate_on_submit():
        device_of, device = _device_cookie()
        try:
            user_session = sign_in(form.email.data, form.password.data, request.remote_addr or "unknown",
                                   request.user_agent.string, device_of=device_of, device=device,
                                   lifetime_days=current_app.config["SESSION_LIFETIME_DAYS"])
        except LoginThrottled as exc:
            form.form_errors.append(exc.message)
            g.retry_after = exc.retry_after  # the one number: the page says it, Retry-After says it
            return render_template("auth/login.html", form=form, known=False), 429
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
    return render_template("auth/login.html", form=form, known=known), status


@bp.post("/logout")
@login_required
def logout():
    sign_out(current_user.get_id())
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))


# --- a forgotten password, an invitation: links that arrive by email -------------------------------


def reset_address() -> str:
    """What the per-address limit on reset requests counts: the address asked about, so nobody can
    fill one inbox with reset emails (known or not: the limit answers alike)."""
    return "reset:" + (request.form.get("email") or "").strip().lower()[:254]


@bp.route("/forgot-password", methods=["GET", "POST"])
@limiter.limit("10/minute;60/hour", methods=["POST"])
@limiter.limit("3/15 minutes", methods=["POST"], key_func=reset_address)
def forgot_password():
    """The same answer whether or not the address has an account (the service does the same work too)."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        accounts.request_password_reset(form.email.data)
        return render_template("auth/forgot.html", form=form, sent=True)
    return render_template("auth/forgot.html", form=form, sent=False), 422 if form.is_submitted() else 200


def _link_refused(exc: accounts.LinkRefused):
    return render_template("auth/link_refused.html", message=exc.message), exc.status


@bp.route("/reset-password/<token>", methods=["GET", "POST"])
@limiter.limit("30/minute", methods=["POST"])
def reset_password(token: str):
    """A GET only shows the form (a link scanner changes nothing); the POST sets the password."""
    form = ResetPasswordForm()
    try:
        user = accounts.read_reset_link(token)
        if form.validate_on_submit():
            accounts.reset_password(token, form.password.data)
            flash("Your password is changed, and every other sign-in ended. Sign in with the new one.", "success")
            session["sign_in_as"] = user.email
            return redirect(url_for("auth.login"))
    except accounts.LinkRefused as exc:
        return _link_refused(exc)
    except ServiceError as exc:
        add_form_error(form, exc)
    return render_template("auth/reset.html", form=form, user=user), 422 if form.is_submitted() else 200


@bp.route("/invitations/<token>", methods=["GET", "POST"])
@limiter.limit("30/minute", methods=["POST"])
def accept_invitation(token: str):
    """Join the team: choose a name and password. A GET only shows the form."""
    form = AcceptInvitationForm()
    try:
        invitation = accounts.read_invitation(token)
        if not form.is_submitted() and not form.name.data:
            form.name.data = invitation.name
        if form.validate_on_submit():
            user = accounts.accept_invitation(token, form.name.data, form.password.data)
            flash(f"Welcome, {user.name}. Sign in with {user.email} and the password you chose.", "success")
            session["sign_in_as"] = user.email
            return redirect(url_for("auth.login"))
    except accounts.LinkRefused as exc:
        return _link_refused(exc)
    except ServiceError as exc:
        add_form_error(form, exc)
    team_name = identity().name  # the email said "join Acme Sales": the page it opens says it too
    return (render_template("auth/invitation.html", form=form, invitation=invitation,
                            team_name=None if team_name.casefold() == "leadboard" else team_name),
            422 if form.is_submitted() else 200)
