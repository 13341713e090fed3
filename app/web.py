"""What every page shares: fragment-or-page rendering, sign-in loading, errors, security headers."""
from __future__ import annotations

import hashlib
import math
import os
import time
from functools import lru_cache, wraps

from urllib.parse import urlsplit

from flask import Flask, Request, abort, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.orm.exc import ObjectDeletedError, StaleDataError
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest, HTTPException
from werkzeug.security import safe_join

from app import filters
from app.extensions import db, limiter, login_manager
from app.models import User
from app.models.appointment import STATUS_LABELS
from app.services import INT32_MAX, ServiceError, contention, foreign_key_violation, permissions, utcnow, whole_number
from app.services.auth import load_session, load_session_with_unread
from app.services.notifications import unread_count

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'")


def wants_fragment() -> bool:
    """An htmx swap gets a fragment; boosted links, history restores and plain browsers get the page."""
    h = request.headers
    return (h.get("HX-Request") == "true" and "HX-Boosted" not in h
            and "HX-History-Restore-Request" not in h)


def render(page_template: str, fragment_template: str | None = None, status: int = 200, /, **context):
    """Render the full page, or only the fragment for an htmx request; one URL serves both."""
    template = fragment_template if fragment_template and wants_fragment() else page_template
    return render_template(template, **context), status, {"Vary": "HX-Request"}


def _flash_fragment(message: str, category: str) -> str:
    return render_template("_flash.html", messages=[(category, message)], oob=True)


def with_notice(reply, message: str | None, category: str = "success"):
    """The one way to show a notice after an htmx swap: the flash area, swapped out of band, rides
    along with the reply (a body, or a (body, status, headers) tuple). Plain requests get the reply
    unchanged: they flash() and redirect instead."""
    if not message or not wants_fragment():
        return reply
    if isinstance(reply, tuple):
        return (reply[0] + _flash_fragment(message, category), *reply[1:])
    return reply + _flash_fragment(message, category)


def notice(message: str, status: int = 200, category: str = "info", **headers):
    """A reply that is only a notice (an error for an htmx request): nothing else on the page changes."""
    return _flash_fragment(message, category), status, {"HX-Reswap": "none", **headers}


FOCUS_AFTER = "focus_after_redirect"


def go(url: str, focus: str | None = None):
    """After a successful form post: redirect a plain browser; tell htmx to load the whole page.
    `focus`: the id of what the next page focuses (the saved row), instead of the document's top."""
    if focus:
        session[FOCUS_AFTER] = focus
    if wants_fragment():
        return "", 204, {"HX-Redirect": url}
    return redirect(url)


def safe_next(target: str | None, default: str | None = None) -> str:
    """The one rule for redirect targets taken from a request: a same-site path, or `default`
    (the board). Never an open redirect, never a header broken by a control character."""
    if (target and target.startswith("/") and not target.startswith(("//", "/\\"))
            and not any(ord(ch) < 32 or ord(ch) == 127 for ch in target) and not urlsplit(target).netloc):
        return target
    return default or url_for("board.index")


# Ids in paths are 32-bit database integers: a larger one names nothing (404), rather than
# reaching the database as an out-of-range value.


# The API answers these itself, as problem details naming the field.
SELF_CHECKING_BLUEPRINTS = {"api"}


def query_int(name: str, default: int = 0, *, minimum: int = 0, maximum: int = INT32_MAX) -> int:
    """An integer query value (an offset, a page, an id) kept within what the database accepts;
    anything else is a 400 naming the value."""
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    number = whole_number(raw, maximum)
    if number is None or number < minimum:
        abort(400, description=f"The {name} value must be a whole number from {minimum} to {maximum}.")
    return number


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


NUL_REFUSED = "That request contains a NUL character, which no field accepts. Remove it and try again."


def refuse_hostile_input():
    """No text we store or query may hold a NUL byte (PostgreSQL refuses them): say so up front,
    for the query and path here, for bodies as they are read (LeadboardRequest). An id in the path
    past the database's integer range names nothing: 404. (A matching check in the URL converter
    would make a URL that two rules serve, GET and POST, answer 405 to one of them.)"""
    if request.blueprint in SELF_CHECKING_BLUEPRINTS:
        return
    view_args = (request.view_args or {}).values()
    if any(isinstance(value, int) and value > INT32_MAX for value in view_args):
        abort(404)
    if _has_nul([*request.args.listvalues(), *view_args]):
        abort(400, description=NUL_REFUSED)


def refuse_hidden_leads():
    """A page about one lead (any URL naming a lead_id, under /leads or /board) is refused with a 403
    saying why when the person signed in may not see that lead (permissions: a member who sees only
    their own leads and the pool). The API checks its callers itself."""
    lead_id = (request.view_args or {}).get("lead_id")
    if (request.blueprint in SELF_CHECKING_BLUEPRINTS or not isinstance(lead_id, int)
            or not 0 < lead_id <= INT32_MAX or not current_user.is_authenticated):
        return
    permissions.require_visible_lead(current_user, lead_id)


class LeadboardRequest(Request):
    """Refuses a NUL byte in a form value, file name or JSON string as the body is read: lazily,
    so a view that sets its own size limit (uploads, public forms) reads the body first."""

    def _load_form_data(self) -> None:
        super()._load_form_data()
        if _has_nul([*self.form.listvalues(), *(f.filename for f in self.files.values())]):
            self.__dict__["form"], self.__dict__["files"] = MultiDict(), MultiDict()
            raise BadRequest(NUL_REFUSED)

    def get_json(self, *args, **kwargs):
        data = super().get_json(*args, **kwargs)
        if _has_nul(data):
            raise BadRequest(NUL_REFUSED)
        return data


def add_form_error(form, exc: ServiceError) -> None:
    """Show a service's refusal beside the field it names, or above the form."""
    field = getattr(form, exc.field, None) if exc.field else None
    if field is not None:
        field.errors = [*field.errors, exc.message]
    else:
        form.form_errors.append(exc.message)


ADMIN_REFUSAL = "Team settings are for admins. Ask an admin if something here needs changing."


def admin_required(view=None, *, refusal=lambda: ADMIN_REFUSAL):
    """Sign in first; a member is refused with a 403 whose message (`refusal()`) names what they
    tried to open ("The outbox is for admins"), so they know what they may do."""
    if view is None:
        return lambda view: admin_required(view, refusal=refusal)

    @wraps(view)
    def wrapped(*args, **kwargs):
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        if not current_user.is_admin:
            abort(403, description=refusal())
        return view(*args, **kwargs)
    return wrapped


def _focus_after_redirect() -> str | None:
    """What go(..., focus=) asked the next page to focus; read once, by the full-page layout."""
    return session.pop(FOCUS_AFTER, None)


def error_reply(status: int, message: str, link: tuple[str, str] | None = None):
    """The generic refusal: a notice for htmx (nothing else swapped), the error page otherwise;
    `link` ((address, words)) is a way on that the page offers."""
    if wants_fragment():
        return notice(message, status, category="error")
    return render_template("errors/error.html", status=status, message=message, link=link), status


MESSAGES = {
    400: "That request could not be understood. Reload the page and try again.",
    403: "You don't have access to that.",
    404: "That page does not exist. It may have been deleted, or the link is mistyped.",
    405: "That action is not available here.",
    413: "That upload is too large.",
    429: "Too many requests. Wait a moment and try again.",
    500: "Something went wrong on our side. Nothing you saved was lost; try again in a moment.",
    503: "Someone else was changing the same leads at that moment, so nothing was saved. Try again.",
}


def limit_wait() -> int:
    """Whole seconds until the rate limit that refused this request lets the next one through."""
    limit = limiter.current_limit
    return max(1, math.ceil(limit.reset_at - time.time())) if limit else 60


STATIC_MAX_AGE = 365 * 24 * 3600


@lru_cache(maxsize=256)
def _content_version(path: str, mtime_ns: int) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()[:12]


def static_version(app: Flask, filename: str) -> str:
    """A static file's content hash (12 hex digits), or "" for a file that is not there."""
    path = safe_join(app.static_folder, filename)
    try:
        return _content_version(path, os.stat(path).st_mtime_ns) if path else ""
    except OSError:
        return ""


def version_static_files(app: Flask) -> None:
    """Every static URL carries its file's content hash (?v=...), so a browser may keep the file for a
    year and still sees a changed file at once: a new hash is a new URL. A URL with an old or no
    hash gets the ordinary revalidating answer."""

    @app.url_defaults
    def add_version(endpoint: str, values: dict) -> None:
        if endpoint == "static" and "filename" in values and "v" not in values:
            version = static_version(app, values["filename"])
            if version:
                values["v"] = version

    def max_age(filename: str | None) -> int | None:
        current = filename is not None and request.args.get("v") == static_version(app, filename)
        return STATIC_MAX_AGE if current else None

    app.get_send_file_max_age = max_age


def install(app: Flask) -> None:
    app.request_class = LeadboardRequest
    app.before_request(refuse_hostile_input)
    app.before_request(refuse_hidden_leads)
    version_static_files(app)

    login_manager.login_view = "auth.login"
    login_manager.login_message = "Sign in to continue."
    login_manager.session_protection = None  # sessions are checked against the database instead

    @login_manager.user_loader
    def load_user(token: str) -> User | None:
        if request.method == "GET" and not wants_fragment():
            # A full page's layout shows the unread badge: the sign-in check's query counts it too.
            session, g.unread_notifications = load_session_with_unread(token) or (None, None)
        else:
            session = load_session(token)
        if session is None:
            return None
        user = session.user
        user.session_token = session.token
        return user

    @login_manager.unauthorized_handler
    def unauthorized():
        if wants_fragment():
            return "", 401, {"HX-Redirect": url_for("auth.login", next=request.full_path)}
        flash("Sign in to continue.", "info")
        return redirect(url_for("auth.login", next=request.full_path if request.method == "GET" else None))

    @app.errorhandler(ServiceError)
    def service_error(exc: ServiceError):
        return error_reply(exc.status, exc.message)

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        return error_reply(400, "This form expired or came from somewhere else. Reload the page and try again.")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        description = exc.description if exc.description and exc.description != type(exc).description else None
        if exc.code == 429:  # Flask-Limiter's description is the limit itself, e.g. "30 per 1 minute"
            g.retry_after = wait = limit_wait()  # the page and the Retry-After header name one number
            description = (f"Too many requests ({description or 'rate limit'}). "
                           f"Try again in {wait} second{'' if wait == 1 else 's'}.")
        return error_reply(exc.code or 500, description or MESSAGES.get(exc.code, exc.name))

    @app.errorhandler(DataError)
    @app.errorhandler(OverflowError)
    def out_of_range(exc: Exception):
        # A value the database cannot hold (a number past its integer range) is bad input, not our fault.
        db.session.rollback()
        return error_reply(400, "A value in that request is out of range. Check the numbers and try again.")

    @app.errorhandler(OperationalError)
    def database_busy(exc: OperationalError):
        if not contention(exc):
            return unexpected(exc)
        db.session.rollback()
        g.retry_after = 1
        return error_reply(503, MESSAGES[503])

    @app.errorhandler(StaleDataError)
    @app.errorhandler(ObjectDeletedError)
    @app.errorhandler(IntegrityError)
    def removed_meanwhile(exc: Exception):
        # Two people at the same moment: what this request read was removed (an import undone, a
        # lead merged or deleted) before it wrote. Nothing was saved; reloading shows what is there.
        if isinstance(exc, IntegrityError) and not foreign_key_violation(exc):
            return unexpected(exc)
        app.logger.warning("Refused a change to something removed meanwhile: %s", exc)
        db.session.rollback()
        return error_reply(409, "Someone removed or changed this at the same moment, so nothing was saved. "
                                "Reload the page to see what is there now.")

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        app.logger.exception("Unhandled error")
        # The failed transaction must go first: the error page itself loads the signed-in user.
        try:
            db.session.rollback()
        except Exception:  # the connection itself may be gone; the page must still render
            app.logger.exception("Rollback after an unhandled error failed")
        return error_reply(500, MESSAGES[500])

    def keep_retry_after(response):
        """A view that names its own wait (the sign-in throttle) keeps it: Flask-Limiter otherwise
        sets Retry-After to its own window's reset, and the page and the header would disagree."""
        wait = g.pop("retry_after", None)
        if wait is not None:
            response.headers["Retry-After"] = str(wait)
        elif response.status_code not in (409, 429, 503):
            # Flask-Limiter puts one on every limited answer; only a refusal or a "busy" asks for a wait.
            response.headers.pop("Retry-After", None)
        return response

    # First in the list is run last, after Flask-Limiter's header injection.
    app.after_request_funcs.setdefault(None, []).insert(0, keep_retry_after)

    @app.after_request
    def security_headers(response):
        if "Content-Security-Policy" not in response.headers:
            # Pages that may be framed (embeddable capture forms) set their own CSP and skip this.
            response.headers["Content-Security-Policy"] = CSP
            response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if app.config["SESSION_COOKIE_SECURE"]:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response

    @app.context_processor
    def layout():
        return {"now": utcnow(), "fragment_request": wants_fragment(), "appointment_labels": STATUS_LABELS,
                # Decisions for the layout and shared fragments; templates never check a role.
                "can_see_outbox": current_user.is_authenticated and current_user.is_admin,
                "can_change_settings": current_user.is_authenticated and current_user.is_admin,
                # may("export"), may("reassign", lead): what the signed-in person may do (services/permissions).
                "may": _may,
                "nav_current": nav_current(),
                # Called by the full-page layout only, so fragments don't pay for the count.
                "unread_notifications": _unread_notifications, "focus_after_redirect": _focus_after_redirect}

    filters.register(app)


def _may(action: str, lead=None) -> bool:
    return current_user.is_authenticated and permissions.allows(current_user, action, lead)


def nav_current() -> str:
    """Which main-menu entry this page belongs to (aria-current): its blueprint, `notifications`, or
    for settings `settings.<screen>`, the module that serves the screen (one module per screen)."""
    if request.blueprint == "settings":
        view = current_app.view_functions.get(request.endpoint)
        return "settings." + view.__module__.rsplit(".", 1)[-1] if view else "settings"
    if request.endpoint == "main.notifications":
        return "notifications"
    return request.blueprint or ""


def _unread_notifications() -> int:
    if not current_user.is_authenticated:
        return 0
    counted = g.get("unread_notifications")
    return counted if counted is not None else unread_count(current_user.id)
