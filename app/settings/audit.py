"""The audit log at /settings/audit: who changed which settings, people, rules, deleted or exported
what, newest first; filtered by person and kind, paged by "Older"."""
from flask import render_template, request

from app.services import audit as service, whole_number
from app.settings import bp


@bp.get("/audit")
def audit():
    person = whole_number(request.args.get("person"))
    kind = request.args.get("kind") if request.args.get("kind") in service.KINDS else None
    before = whole_number(request.args.get("before"))
    entries, more = service.entries(before=before, actor_id=person, kind=kind)
    return render_template("settings/audit.html", entries=entries, more=more, person=person, kind=kind,
                           before=before, people=service.people(), kinds=service.KINDS, label=service.label)
