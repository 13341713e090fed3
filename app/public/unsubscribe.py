"""The unsubscribe link in an email (and its List-Unsubscribe header).

Opening the link (GET or HEAD, by a person or a mail scanner) only shows a page with a button;
a POST unsubscribes: the button, or a mail client's one-click POST (RFC 8058: a body of
`List-Unsubscribe=One-Click`, no cookies). Neither needs a CSRF token: the signed token in the
address is the whole authority, and anyone holding it could send the one-click POST anyway. Like
the appointment links, it is rate-limited per network address."""
from __future__ import annotations

from flask import redirect, render_template, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge

from app.extensions import limiter
from app.public import bp
from app.public.appointments import LINK_RATE_LIMIT
from app.services import ServiceError, suppression as service

MAX_BODY = 4 * 1024  # "List-Unsubscribe=One-Click", or the button's empty form
HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}


def _page(token: str, status: int = 200, payload: service.LinkPayload | None = None, problem: str = ""):
    done = payload is not None and service.is_suppressed(payload.address)
    body = render_template("public/unsubscribe.html", token=token, problem=problem, done=done,
                           address=service.masked(payload.address) if payload else "")
    return body, status, HEADERS


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@limiter.limit(LINK_RATE_LIMIT)
def unsubscribe(token: str):
    one_click = False
    if request.method == "POST":
        request.max_content_length = MAX_BODY
        try:
            one_click = request.form.get("List-Unsubscribe") == "One-Click"
        except RequestEntityTooLarge:
            return _page(token, 413, problem="That request was far larger than unsubscribing needs.")
    try:
        payload = service.read_token(token)
    except ServiceError as exc:  # altered, cut short or too old: a plain page saying so, with its 4xx
        return _page(token, exc.status, problem=exc.message)
    if request.method != "POST":  # GET, HEAD: a scanner or a person looking changes nothing
        return _page(token, payload=payload)
    service.unsubscribe(payload)
    if one_click:  # a mail client: it reads only the status
        return "Unsubscribed.", 200, {**HEADERS, "Content-Type": "text/plain; charset=utf-8"}
    return redirect(url_for("public.unsubscribe", token=token), 303)
