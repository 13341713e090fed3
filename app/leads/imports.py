"""CSV import (upload, map, start, watch, the row report and its CSV, undo, discard) and the pool's CSV export.

The forms live here rather than in forms.py because the mapping form is built per file: one
select per column of the upload."""
from __future__ import annotations

import itertools
from functools import wraps

from flask import Response, flash, redirect, render_template, request, stream_with_context, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from werkzeug.exceptions import RequestEntityTooLarge
from wtforms import BooleanField, IntegerField, RadioField, SelectField, StringField
from wtforms.validators import Length, Optional

from app.extensions import csrf
from app.leads import bp
from app.leads.filters import owner_choices, owner_id, pool_filters
from app.services import ServiceError, export, import_ledger, imports, permissions, utcnow, whole_number
from app.services.csv_reading import CODECS
from app.services.import_cells import DAY_FIRST, MONTH_FIRST, default_date_order
from app.services.leads import default_phone_region
from app.services.stages import pipeline
from app.web import add_form_error, render, wants_fragment, with_notice

# The app-wide MAX_CONTENT_LENGTH (2 MB) stays for every other route; this one takes the file
# plus its multipart envelope.
UPLOAD_LIMIT = imports.MAX_FILE_BYTES + 256 * 1024
STATUS_LABELS = {"uploaded": "Not started", "queued": "Waiting for a worker", "running": "Importing",
                 "done": "Finished", "failed": "Stopped"}
DELIMITERS = {",": "commas", ";": "semicolons", "\t": "tabs", "|": "pipes"}
DUPLICATE_CHOICES = [("skip", "Skip the row: leave the existing lead as it is"),
                     ("update", "Update the existing lead with the row's values"),
                     ("keep", "Keep both: add the row as a new lead")]


class UploadForm(FlaskForm):
    file = FileField("CSV file", validators=[FileRequired("Choose a CSV file to import.")])


class ConfirmForm(FlaskForm):
    """An undo or discard button: nothing to fill in, only the CSRF token."""


class HeaderRowForm(FlaskForm):
    header_row = IntegerField("The header (the column names) is on")


class ImportOptionsForm(FlaskForm):
    source = StringField("Default source", validators=[Optional(), Length(max=100)])
    stage = SelectField("Stage", choices=[])
    owner = SelectField("Owner", choices=[])
    duplicates = RadioField("Duplicates", choices=DUPLICATE_CHOICES, default="skip")
    apply_rules = BooleanField("Give leads without an owner to people by the assignment rules")
    strict = BooleanField("Reject rows with a value that cannot be read instead")
    date_order = RadioField("Dates like 03/04/2024", validate_choice=False, choices=[
        (MONTH_FIRST, "Month first: 03/04/2024 is March 4, 2024"),
        (DAY_FIRST, "Day first: 03/04/2024 is 3 April 2024")])

    def mapping(self) -> dict[str, str]:
        return {f.name.removeprefix("col_"): f.data for f in self if f.name.startswith("col_")}


def _options_form(imp) -> ImportOptionsForm:
    class MappingForm(ImportOptionsForm):
        pass

    targets = list(imports.mapping_targets().items())
    for index, header in enumerate(imp.headers):
        setattr(MappingForm, f"col_{index}", SelectField(header, choices=targets,
                                                         default=imp.mapping.get(str(index), "ignore")))
    stages = pipeline()
    form = MappingForm(source=imp.default_source, duplicates=imp.duplicates, apply_rules=imp.apply_rules,
                       strict=imp.strict, date_order=imp.date_order or default_date_order(default_phone_region()),
                       stage=str(imp.default_stage_id or (stages[0].id if stages else "")),
                       owner=str(imp.default_owner_id or ""))
    form.stage.choices = [(str(s.id), s.name) for s in stages]
    form.owner.choices = owner_choices()
    return form


def permitted(action: str):
    """The view is refused (403, saying who can allow it) to a member the team does not let do `action`."""
    def decorate(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            permissions.require(current_user, action)
            return view(*args, **kwargs)
        return wrapped
    return decorate


def _visible_import(import_id: int):
    """The import, if the signed-in person may open it (permissions.require_import_visible)."""
    imp = imports.get_import(import_id)
    permissions.require_import_visible(current_user, imp)
    return imp


def _upload_page(form: UploadForm, status: int = 200):
    return render_template("leads/import.html", form=form, recent=imports.recent_imports(created_by=permissions.imports_visible_to(current_user)),
                           status_labels=STATUS_LABELS, max_mb=imports.MAX_FILE_BYTES // (1024 * 1024)), status


@csrf.exempt  # checked below, once the body may be larger than the app-wide limit
@bp.route("/import", methods=["GET", "POST"])
@permitted("import")
def import_upload():
    request.max_content_length = UPLOAD_LIMIT
    if request.method == "POST":
        try:
            request.files  # parse now, so an oversized body becomes a message beside the field
        except RequestEntityTooLarge:
            form = UploadForm(formdata=None)
            form.file.errors = [imports.FileTooLarge().message]
            return _upload_page(form, 413)
        csrf.protect()
    form = UploadForm()
    if form.validate_on_submit():
        upload = form.file.data
        try:
            imp = imports.create_import(upload.stream, upload.filename, current_user.id)
        except ServiceError as exc:
            add_form_error(form, exc)
            return _upload_page(form, exc.status)
        return redirect(url_for("leads.import_preview", import_id=imp.id))
    return _upload_page(form, 422 if form.is_submitted() else 200)


@bp.route("/import/<int:import_id>", methods=["GET", "POST"])
@permitted("import")
def import_preview(import_id: int):
    imp = _visible_import(import_id)
    if imp.status != "uploaded":
        return redirect(url_for("leads.import_progress", import_id=imp.id))
    if not import_ledger.may_manage(imp, current_user):  # a file not imported yet is its uploader's
        raise import_ledger.NotYours("see or start")
    form = _options_form(imp)
    status = 422 if form.is_submitted() else 200
    rows = imports.preview_rows(imp.id, imports.SAMPLE_ROWS)
    ask_date_order = "" in imports.date_orders(imp, form.mapping(), rows).values()
    if form.validate_on_submit():
        try:
            imports.start_import(imp.id, mapping=form.mapping(), source=form.source.data,
                                 stage_id=int(form.stage.data), owner_id=owner_id(form.owner.data),
                                 duplicates=form.duplicates.data, apply_rules=form.apply_rules.data,
                                 strict=form.strict.data, date_order=form.date_order.data if ask_date_order else None,
                                 actor_id=current_user.id)
        except imports.ImportStarted:
            return redirect(url_for("leads.import_progress", import_id=imp.id))
        except ServiceError as exc:  # a choice the service refused (422), or the queue is down (503)
            add_form_error(form, exc)
            status = 503 if isinstance(exc, imports.QueueDown) else 422
        else:
            return redirect(url_for("leads.import_progress", import_id=imp.id))
    return _preview_page(imp, form, rows, ask_date_order, status)


def _preview_page(imp, form, rows, ask_date_order: bool, status: int, header_form: HeaderRowForm | None = None):
    columns = [{"field": form[f"col_{i}"], "examples": [r[i] for r in rows[:3] if i < len(r) and r[i].strip()]}
               for i in range(len(imp.headers))]
    header_form = header_form or HeaderRowForm(header_row=imp.header_row)
    return render_template("leads/import_preview.html", imp=imp, form=form, rows=rows[:imports.PREVIEW_ROWS],
                           columns=columns, header_form=header_form, header_lines=imports.header_choices(imp),
                           ask_date_order=ask_date_order, encoding_label=CODECS[imp.encoding].label,
                           delimiter_label=DELIMITERS.get(imp.delimiter, repr(imp.delimiter))), status


@bp.post("/import/<int:import_id>/header")
@permitted("import")
def import_header(import_id: int):
    """Another line of the file is the header: its cells become the columns, the mapping is guessed again."""
    imp = _visible_import(import_id)
    if imp.status != "uploaded":
        return redirect(url_for("leads.import_progress", import_id=imp.id))
    if not import_ledger.may_manage(imp, current_user):
        raise import_ledger.NotYours("change")
    header_form = HeaderRowForm()
    if header_form.validate_on_submit():
        try:
            imports.choose_header_row(imp.id, header_form.header_row.data)
        except imports.ImportStarted:
            return redirect(url_for("leads.import_progress", import_id=imp.id))
        except ServiceError as exc:
            add_form_error(header_form, exc)
        else:
            return redirect(url_for("leads.import_preview", import_id=imp.id) + "#header-h")
    elif not header_form.header_row.errors:
        header_form.header_row.errors = ["Choose one of the lines shown."]
    form = _options_form(imp)
    rows = imports.preview_rows(imp.id, imports.SAMPLE_ROWS)
    return _preview_page(imp, form, rows, "" in imports.date_orders(imp, imp.mapping, rows).values(), 422,
                         header_form)


@bp.get("/import/<int:import_id>/progress")
@permitted("import")
def import_progress(import_id: int):
    imp = _visible_import(import_id)
    if imp.status == "uploaded" and not wants_fragment():
        return redirect(url_for("leads.import_preview", import_id=imp.id))
    finished = imp.status in ("done", "failed")
    announce = None
    if finished and wants_fragment() and "outcome" not in request.args and "after" not in request.args:
        announce = (f"Import finished: {imp.created_count} created, {imp.updated_count} updated, "
                    f"{imp.skipped_count} skipped, {imp.rejected_count} rejected." if imp.status == "done"
                    else "The import stopped.")
    return with_notice(render("leads/import_progress.html", "leads/_import_progress.html", imp=imp,
                              percent=imports.percent_done(imp), polling=imp.status in ("queued", "running"),
                              finished=finished, **(_ledger(imp) if finished else {})),
                       announce, "success" if imp.status == "done" else "error")


def _ledger(imp) -> dict:
    """The result page's row ledger: counts, one keyset page (?outcome=, ?after=), the undo offer."""
    outcome = request.args.get("outcome") if request.args.get("outcome") in import_ledger.OUTCOMES else None
    refusal = import_ledger.undo_refusal(imp, current_user)
    return {"counts": import_ledger.outcome_counts(imp.id), "outcome": outcome, "outcomes": import_ledger.OUTCOMES,
            "ledger": import_ledger.rows_page(imp.id, outcome, whole_number(request.args.get("after"))),
            "can_undo": refusal is None, "undo_deadline": import_ledger.undo_deadline(imp),
            "may_download": import_ledger.may_manage(imp, current_user),
            # Said on the page rather than leaving the button out without a word.
            "undo_refused": refusal.message if isinstance(refusal, import_ledger.TooLargeToUndo) else None}


@bp.route("/import/<int:import_id>/undo", methods=["GET", "POST"])
@permitted("import")
def import_undo(import_id: int):
    """Undo a finished import: GET asks (or says why not), the button POSTs."""
    imp = _visible_import(import_id)
    refusal = import_ledger.undo_refusal(imp, current_user)
    if refusal is not None:
        raise refusal
    form = ConfirmForm()
    if form.validate_on_submit():
        undone = import_ledger.undo_import(imp.id, current_user.id)
        kept = f" {len(undone.kept)} kept: changed or added to since (each lead's timeline says why)." \
            if undone.kept else ""
        flash(f"Import undone: {undone.removed} lead{'s' if undone.removed != 1 else ''} removed, "
              f"{undone.reverted} reverted.{kept}", "success")
        return redirect(url_for("leads.import_progress", import_id=imp.id))
    return render_template("leads/import_confirm.html", imp=imp, form=form, action="undo",
                           counts=import_ledger.outcome_counts(imp.id),
                           deadline=import_ledger.undo_deadline(imp)), 422 if form.is_submitted() else 200


@bp.route("/import/<int:import_id>/discard", methods=["GET", "POST"])
@permitted("import")
def import_discard(import_id: int):
    """Discard an upload never started: GET asks, the button POSTs."""
    imp = _visible_import(import_id)
    if imp.status != "uploaded":
        flash("This import has already started, so there is no upload to discard; once it finishes it can "
              "be undone within a day.", "error")
        return redirect(url_for("leads.import_progress", import_id=imp.id))
    if not import_ledger.may_manage(imp, current_user):
        raise import_ledger.NotYours("discard")
    form = ConfirmForm()
    if form.validate_on_submit():
        filename = import_ledger.discard_import(imp.id, current_user.id)
        flash(f"Discarded the upload of {filename}.", "success")
        return redirect(url_for("leads.import_upload"))
    return render_template("leads/import_confirm.html", imp=imp, form=form, action="discard"), \
        422 if form.is_submitted() else 200


def _csv_download(lines, filename: str) -> Response:
    # The first piece (the header and the first batch of rows) is made before anything is sent:
    # a database error then answers an error page, rather than a 200 and a cut file.
    lines = iter(lines)
    first = next(lines, "")
    return Response(stream_with_context(itertools.chain([first], lines)), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "no-store"})


@bp.get("/import/<int:import_id>/rejected.csv")
@permitted("import")
def import_rejected(import_id: int):
    imp = _visible_import(import_id)
    if not import_ledger.may_manage(imp, current_user):  # rows as they were in the file
        raise import_ledger.NotYours("download the rows of")
    return _csv_download(imports.rejected_rows_csv(imp.id), f"import-{imp.id}-rejected-rows.csv")


@bp.get("/import/<int:import_id>/rows.csv")
@permitted("import")
def import_report(import_id: int):
    imp = _visible_import(import_id)
    if not import_ledger.may_manage(imp, current_user):
        raise import_ledger.NotYours("download the rows of")
    return _csv_download(import_ledger.row_report_csv(imp.id), f"import-{imp.id}-row-report.csv")


@bp.get("/export.csv")
@permitted("export")
def export_csv():
    return _csv_download(export.export_leads(pool_filters(), current_user.id),
                         f"leads-{utcnow():%Y-%m-%d}.csv")
