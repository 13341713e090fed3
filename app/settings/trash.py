"""The trash at /settings/trash: leads deleted in the last 30 days, most recent first, each with
who deleted it and when it goes for good; restoring one puts it back where it was."""
from flask import flash, render_template, request, url_for
from flask_login import current_user

from app.services import trash as service, whole_number
from app.settings import bp
from app.web import go


@bp.get("/trash")
def trash():
    before = whole_number(request.args.get("before"))
    rows, more = service.listing(before_id=before)
    return render_template("settings/trash.html", rows=rows, more=more, before=before, keep_days=service.KEEP_DAYS)


@bp.post("/trash/<int:lead_id>/restore")
def restore_lead(lead_id: int):
    lead = service.restore(lead_id, current_user.id)
    flash(f"Restored {lead.full_name}: it is back in its stage, with its notes and history, and the sequences "
          "it was in carry on where they stopped (unless its address no longer takes email). Appointments "
          "cancelled when it was deleted stay cancelled: book again if the meeting is still on.", "success")
    return go(url_for("leads.show", lead_id=lead.id))
