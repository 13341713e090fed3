"""Refusals on the rule and field editors (fields, tags, scoring, assignment) shown where the admin
is looking, never on the generic error page: a post naming something deleted meanwhile (a stale
id), or a request the editor cannot carry out, answers 422 with the editor's list and the message
at its top (focus moves to it). Each editor module offers `refused_on_list(message)`; the other
settings screens keep the generic reply."""
from __future__ import annotations

import sys

from flask import current_app, request

from app.services import ServiceError
from app.settings import bp
from app.web import error_reply


@bp.errorhandler(ServiceError)
def refused(exc: ServiceError):
    view = current_app.view_functions.get(request.endpoint or "")
    editor = sys.modules.get(getattr(view, "__module__", ""))
    show = getattr(editor, "refused_on_list", None)
    if request.method != "POST" or show is None:
        return error_reply(exc.status, exc.message)
    return show(exc.message)
