"""A lead's data, from capture to erasure: moving a lead to the trash, exporting everything about the
person (an access request) and erasing them on request (services/trash.py, personal_data.py,
erasure.py). Deleting is for those trash.may_delete allows; exporting and erasing are for admins."""
from __future__ import annotations

from flask import Response, abort, flash, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField
from wtforms.validators import DataRequired

from app.leads import bp
from app.models import Lead
from app.services import erasure, permissions, personal_data, trash
from app.services.leads import LeadNotFound
from app.extensions import db
from app.web import ADMIN_REFUSAL, error_reply, go

ERASE_REFUSAL = "Erasing a person's data is for admins. Ask an admin to do it."


class EraseForm(FlaskForm):
    understood = BooleanField("I understand: everything about this person goes now, for good, and cannot be "
                              "restored", validators=[DataRequired("Tick the box to confirm the erasure.")])


def _admin(refusal: str) -> None:
    if not current_user.is_admin:
        abort(403, description=refusal)


@bp.post("/<int:lead_id>/delete")
def delete_lead(lead_id: int):
    permissions.require(current_user, "delete")  # a 403 saying who may allow it (trash.may_delete's rule)
    try:
        lead = trash.trash(lead_id, current_user.id)
    except trash.AlreadyInTrash as exc:  # deleted twice: say where it is, and show admins the way there
        link = (url_for("settings.trash"), "Open the trash") if current_user.is_admin else None
        return error_reply(exc.status, exc.message, link)
    flash(f"Moved {lead.full_name} to the trash. Its appointments still to come were cancelled without "
          f"emailing the prospect, and its sequences stopped. An admin can restore it from the trash for "
          f"{trash.KEEP_DAYS} days (its sequences then carry on; the appointments stay cancelled); then it is "
          "deleted for good.", "success")
    return go(url_for("leads.index"))


@bp.get("/<int:lead_id>/personal-data.json")
def personal_data_export(lead_id: int):
    _admin(ADMIN_REFUSAL)
    filename, body = personal_data.export(lead_id, current_user.id)
    return Response(body, mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})


@bp.route("/<int:lead_id>/erase", methods=["GET", "POST"])
def erase(lead_id: int):
    _admin(ERASE_REFUSAL)
    lead = db.session.get(Lead, lead_id)
    if lead is None:
        erasure.erase(lead_id, current_user.id)  # says "already erased" (410) or "does not exist" (404)
        raise LeadNotFound()
    form = EraseForm()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            erasure.erase(lead_id, current_user.id)
            flash("Erased everything about that person. Their address stays on the suppression list only as a "
                  "digest, so no email goes to it and a later import or capture of it is refused. Backups "
                  "written before the erasure still contain the person until they are rotated.", "success")
            return go(url_for("leads.index"))
        status = 422
    return render_template("leads/erase.html", lead=lead, form=form), status
