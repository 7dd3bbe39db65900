"""Bulk import of volunteers from CSV/XLSX files, with a live progress bar."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

from flask import Response, abort, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import load_only
from werkzeug.exceptions import RequestEntityTooLarge

from services.registry import imports
from services.registry.adapters.orm import ImportJob
from services.registry.dashboard.context import FORM_STATUS, account, node, sessions, staff_only
from services.registry.dashboard.i18n import N_, _, fmt_number, lang, ngettext
from services.registry.dashboard.messages import say, say_code
from services.registry.dashboard.people.blueprint import bp
from services.registry.dependencies import dependencies
from services.registry.views.imports import progress_percent
from shared.runtime import current_runtime

# -- bulk import ---------------------------------------------------------------------------------

COLUMN_HELP = {
    "first_name": N_("First name(s)"),
    "last_name": N_("Last name"),
    "date_of_birth": N_("Day/month/year (02/04/1995) or 1995-04-02"),
    "gender": N_("female, male, other, undisclosed (or F, M, femme, homme)"),
    "nationality": N_("Country code: TG, ML…"),
    "identity_number": N_("Identity document number"),
    "email": N_("E-mail address"),
    "phone": N_("Phone number: +228 90 00 00 00"),
    "preferred_language": N_("fr or en"),
    "languages": N_("code:level separated by “;”: fr:native;ee:B2"),
    "skills": N_("A list separated by “;”"),
    "domains": N_("A list separated by “;”"),
    "education_level": N_("none, primary, secondary, vocational, bachelor, master, doctorate"),
    "available_from": N_("Date"),
    "available_until": N_("Date"),
    "preferred_countries": N_("Country codes separated by “;”: ML;NE"),
    "consent_given_at": N_("Date (and time) of the consent"),
    "consent_purposes": N_(
        "Separated by “;”: registration, matching, sharing_with_host_agency, notifications"
    ),
    "notes": N_("Free text"),
}
assert set(COLUMN_HELP) == set(imports.COLUMNS)


def _columns() -> list[dict[str, Any]]:
    return [
        {
            "name": column,
            "french": imports.FRENCH_OF.get(column, ""),
            "required": column in imports.REQUIRED,
            "help": _(COLUMN_HELP[column]),
        }
        for column in imports.COLUMNS
    ]


def _render_import(errors: dict[str, list[str]], status: int) -> Any:
    with sessions()() as session:
        recent = session.scalars(
            select(ImportJob)
            .options(
                load_only(
                    ImportJob.id,
                    ImportJob.filename,
                    ImportJob.status,
                    ImportJob.total_rows,
                    ImportJob.imported_rows,
                    ImportJob.error_rows,
                    ImportJob.created_at,
                )
            )
            .order_by(ImportJob.created_at.desc(), ImportJob.id)
            .limit(10)
        ).all()
    return render_template(
        "people/import.html",
        title=_("Import volunteers"),
        errors=errors,
        columns=_columns(),
        max_size=_("%(size)s MiB", size=fmt_number(imports.MAX_FILE_BYTES // (1024 * 1024))),
        max_rows=fmt_number(imports.MAX_ROWS),
        recent=recent,
        job_status=_job_status,
    ), status


@bp.route("/volunteers/import", methods=["GET"])
def import_form() -> Any:
    return _render_import({}, 200)


@bp.route("/volunteers/import", methods=["POST"])
@staff_only
def upload_import() -> Any:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _render_import({"file": [_("Choose a .csv or .xlsx file.")]}, FORM_STATUS)
    data = upload.stream.read(imports.MAX_FILE_BYTES + 1)
    try:
        parsed = imports.parse_file(upload.filename, upload.mimetype, data)
    except imports.FileRefused as exc:
        return _render_import({"file": [say(line) for line in exc.details]}, FORM_STATUS)
    who = account()
    with sessions().begin() as session:
        job = imports.create_job(session, parsed, upload.filename, who.id if who else "dashboard")
        job_id = job.id
    dependencies().imports.submit(imports.run_import, current_runtime(), node(), job_id, parsed)
    return redirect(url_for("dashboard.people.import_job", job_id=job_id))


def _too_large(exc: RequestEntityTooLarge) -> Any:
    """A body beyond the dashboard's limit is refused while it is read: on the import page the
    message is shown beside the file field."""
    message = say_code("import.too_large", {"size": imports.MAX_FILE_BYTES // (1024 * 1024)})
    if request.endpoint in ("dashboard.people.upload_import", "dashboard.people.import_form"):
        return _render_import({"file": [message]}, FORM_STATUS)
    return render_template("error.html", title=_("File too large"), message=message), 413


bp.register_error_handler(RequestEntityTooLarge, _too_large)


def _error_text(error: Mapping[str, Any]) -> str:
    """A row's error as the import stored it: by its code when it has one."""
    if error.get("code"):
        return say_code(str(error["code"]), error.get("params") or {})
    return say(str(error.get("message", "")))


@bp.route("/volunteers/import/model.csv")
def import_model() -> Response:
    """An empty file with the import's columns, in the page's language, to fill in."""
    out = io.StringIO()
    header = [imports.FRENCH_OF.get(c, c) if lang() == "fr" else c for c in imports.COLUMNS]
    csv.writer(out, delimiter=";" if lang() == "fr" else ",", lineterminator="\r\n").writerow(
        header
    )
    name = "modele-volontaires.csv" if lang() == "fr" else "volunteers-template.csv"
    return Response(
        "\ufeff" + out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _job_status(status: str) -> str:
    labels = {
        "queued": _("waiting to start"),
        "running": _("in progress"),
        "completed": _("finished"),
        "failed": _("stopped"),
    }
    return labels.get(status, status)


def _progress(job: Any) -> dict[str, Any]:
    """{percent, label, done} of a job (or of a row with its status, total and processed rows)."""
    done = job.status in ("completed", "failed")
    if not job.total_rows and not done:
        text = _("Reading the file…")
    else:
        text = ngettext(
            "%(done)s / %(total)s row",
            "%(done)s / %(total)s rows",
            job.total_rows,
            done=fmt_number(job.processed_rows),
            total=fmt_number(job.total_rows),
        )
    return {"percent": progress_percent(job), "label": text, "done": done}


def _column_label(field: str) -> str:
    """A column of the error report: languages.1.code → "languages, item 2"."""
    column, _sep, rest = field.partition(".")
    index = rest.split(".")[0]
    name = column
    if lang() == "fr" and column in imports.FRENCH_OF:
        name = f"{column} ({imports.FRENCH_OF[column]})"
    if index.isdigit():
        return _("%(column)s, item %(n)s", column=name, n=int(index) + 1)
    if column == "row":
        return _("whole row")
    return name


@bp.route("/volunteers/import/<job_id>")
def import_job(job_id: str) -> Any:
    with sessions()() as session:
        job = session.get(ImportJob, job_id)
    if job is None:
        abort(404)
    progress = _progress(job)
    report = [
        {
            "line": error.get("line"),
            "column": _column_label(str(error.get("field", "row"))),
            "message": _error_text(error),
        }
        for error in job.errors
    ]
    notes = _job_notes(job)
    return render_template(
        "people/job.html",
        title=_("Import of %(file)s", file=job.filename),
        job=job,
        progress=progress,
        report=report,
        notes=notes,
        status=_job_status(job.status),
        imported=ngettext(
            "%(num)s volunteer imported",
            "%(num)s volunteers imported",
            job.imported_rows,
            num=fmt_number(job.imported_rows),
        ),
        refused=ngettext(
            "%(num)s row refused",
            "%(num)s rows refused",
            job.error_rows,
            num=fmt_number(job.error_rows),
        ),
        truncated=len(job.errors) >= imports.MAX_STORED_ERRORS,
        max_errors=fmt_number(imports.MAX_STORED_ERRORS),
    )


def _job_notes(job: ImportJob) -> list[str]:
    """What the job says beyond the counts, from its notes' codes: the columns ignored at
    upload, or why it stopped. A job from before notes shows its English message when failed."""
    if job.notes is None:
        return [job.message] if job.status == "failed" and job.message else []
    return [say_code(str(note["code"]), note.get("params") or {}) for note in job.notes]


@bp.route("/volunteers/import/<job_id>.json")
def import_job_json(job_id: str) -> Any:
    with sessions()() as session:
        row = session.execute(
            select(ImportJob.status, ImportJob.total_rows, ImportJob.processed_rows).where(
                ImportJob.id == job_id
            )
        ).first()
    if row is None:
        abort(404)
    response = jsonify(_progress(row))
    response.headers["Cache-Control"] = "no-store"
    return response
