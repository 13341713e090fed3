"""/outbox: every email Leadboard sent or will send, for admins to read, check and retry."""
from __future__ import annotations

import base64

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.models import EmailState
from app.outbox import bp
from app.services import outbox as service, whole_number
from app.web import admin_required

# The stored HTML is shown in a sandboxed frame: no scripts, no same-origin access; its links open
# in a new tab, so a person can follow the confirmation link as the prospect would.
# Images: data:, https:, and the app's own (the team's logo, which `make run` serves over http).
EMAIL_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data: https:; frame-ancestors 'self'; "
             "sandbox allow-popups allow-popups-to-escape-sandbox")


@bp.before_request
@admin_required(refusal=lambda: "The outbox is for admins: it holds every email the team sends. "
                                "Ask an admin if an email needs checking.")
def require_admin():
    pass


@bp.get("")
def index():
    state = request.args.get("state", "")
    if state and state not in {s.value for s in EmailState}:
        abort(400, description="Filter by one of: " + ", ".join(s.value for s in EmailState) + ".")
    # Cursors are email ids; one that is garbage, out of range or names no email gives the newest page.
    listing = service.listing(state, before_id=whole_number(request.args.get("before")),
                              after_id=whole_number(request.args.get("after")))
    return render_template("outbox/index.html", listing=listing, state=state, counts=service.counts(),
                           count_cap=service.COUNT_CAP,
                           states=[s.value for s in EmailState],
                           retryable={row.id for row in listing.items if service.retryable(row)})


@bp.get("/<int:outbox_id>")
def show(outbox_id: int):
    email = service.get_email(outbox_id)
    headers, problem = service.headers_of(email)
    return render_template("outbox/show.html", email=email, headers=headers, problem=problem,
                           can_retry=service.retryable(email))


@bp.get("/<int:outbox_id>/html")
def html(outbox_id: int):
    body = service.get_email(outbox_id).html_body
    # Links open in a new tab rather than inside the frame.
    body = body.replace("<head>", '<head><base target="_blank">', 1)
    return body, 200, {"Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": EMAIL_CSP,
                       "X-Frame-Options": "SAMEORIGIN"}


@bp.get("/<int:outbox_id>/attachments/<int:index>")
def attachment(outbox_id: int, index: int):
    attachments = service.get_email(outbox_id).attachments or []
    if index >= len(attachments):
        abort(404, description="That email has no such attachment.")
    item = attachments[index]
    filename = "".join(ch for ch in item["filename"] if ch.isalnum() or ch in "._-") or "attachment"
    # A file a person attached is kept as base64 text (lead_emails); a generated one as itself.
    content = base64.b64decode(item["content"]) if item.get("encoding") == "base64" else item["content"]
    return content, 200, {"Content-Type": item["content_type"],
                                  "Content-Disposition": f'attachment; filename="{filename}"'}


@bp.post("/<int:outbox_id>/retry")
def retry(outbox_id: int):
    email = service.retry(outbox_id, current_user.id)
    flash(f"Sending “{email.subject}” to {email.to_address} again.", "success")
    return redirect(url_for("outbox.show", outbox_id=email.id))
