"""Bulk import of volunteers from CSV/XLSX (a background job), and their export."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

from flask import Response, request, send_file, url_for
from flask_smorest import Blueprint, abort
from flask_smorest.fields import Upload
from marshmallow import Schema, fields, validate

from services.registry import imports
from services.registry.access import STAFF, actor, allow
from services.registry.adapters.orm import ImportJob
from services.registry.dependencies import dependencies
from services.registry.views import node, sessions
from shared.runtime import current_runtime

blp = Blueprint(
    "imports",
    __name__,
    url_prefix="/api/v1/volunteers",
    description="Bulk import of volunteers from CSV and XLSX files, and their export",
)

# The multipart envelope around the file (boundaries, part headers) may exceed the file's limit
# by this much; the file itself is then checked to the byte.
MULTIPART_OVERHEAD = 64 * 1024


class FileSchema(Schema):
    file = Upload(
        required=True,
        metadata={
            "description": (
                "A .csv (UTF-8, or Windows-1252; comma or semicolon separated) or .xlsx file "
                f"(first worksheet), at most {imports.MAX_FILE_BYTES // (1024 * 1024)} MiB and "
                f"{imports.MAX_ROWS:,} data rows. Line 1 names the columns, in English ("
                + ", ".join(imports.COLUMNS)
                + ") or French (prenom, nom, date_naissance, …). Lists are separated by ';' and "
                "languages written code:level (fr:native;ee:B2)."
            )
        },
    )


class ImportErrorOut(Schema):
    line = fields.Integer(metadata={"description": "Spreadsheet line: the header is line 1"})
    field = fields.String(metadata={"description": "Column at fault (languages.0.code: item 1)"})
    message = fields.String()


class ImportJobOut(Schema):
    id = fields.String()
    filename = fields.String()
    format = fields.String()
    status = fields.String(metadata={"description": "queued, running, completed or failed"})
    total_rows = fields.Integer()
    processed_rows = fields.Integer()
    imported_rows = fields.Integer()
    error_rows = fields.Integer()
    progress = fields.Function(
        lambda job: progress_percent(job),
        metadata={"type": "number", "description": "Percentage of the rows processed (0 to 100)"},
    )
    errors = fields.List(
        fields.Nested(ImportErrorOut),
        metadata={
            "description": f"One per field at fault; the first {imports.MAX_STORED_ERRORS:,}"
        },
    )
    message = fields.String(allow_none=True)
    created_by = fields.String(metadata={"description": "Token that uploaded the file"})
    created_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)


class ExportQuery(Schema):
    format = fields.String(load_default="csv", validate=validate.OneOf(["csv", "xlsx"]))


def progress_percent(job: ImportJob) -> float:
    if not job.total_rows:
        return 100.0 if job.status == "completed" else 0.0
    return int(job.processed_rows * 1000 / job.total_rows) / 10  # never 100 before the end


@blp.before_request
def _limit_upload_size() -> None:
    # Werkzeug answers 413 while reading a larger body, before anything is parsed or stored.
    request.max_content_length = imports.MAX_FILE_BYTES + MULTIPART_OVERHEAD


@blp.route("/imports", methods=["POST"])
@allow(*STAFF)
@blp.arguments(FileSchema, location="files")
@blp.response(
    202,
    ImportJobOut,
    description="The job, queued",
    headers={"Location": {"description": "The job's URL", "schema": {"type": "string"}}},
)
@blp.alt_response(413, description="The file is larger than 10 MiB")
@blp.alt_response(415, description="Not a .csv or .xlsx file")
def upload(files: dict[str, Any]) -> Any:
    """Import volunteers from a file: answers 202 with the job, whose Location reports progress.

    Valid rows are registered (each emits volunteer.registered), invalid ones are reported with
    their line, field and message. A missing column, or a CSV of more than 20,000 rows, is
    refused at once (422) and nothing is stored; an XLSX's rows are counted by the job, which
    fails at once, storing nothing, when there are more (total_rows is 0 until then)."""
    upload_ = files["file"]
    data = upload_.stream.read(imports.MAX_FILE_BYTES + 1)
    try:
        parsed = imports.parse_file(upload_.filename or "", upload_.mimetype, data)
    except imports.FileRefused as exc:
        abort(exc.status, message=str(exc), errors={"files": {"file": exc.details}})
    with sessions().begin() as session:
        job = imports.create_job(session, parsed, upload_.filename or "", actor().token_id)
    dependencies().imports.submit(
        imports.run_import,
        current_runtime(),
        node(),
        job.id,
        parsed,
    )
    return job, 202, {"Location": url_for("imports.get_import", job_id=job.id)}


@blp.route("/imports/<job_id>", methods=["GET"])
@allow(*STAFF)
@blp.response(200, ImportJobOut)
def get_import(job_id: str) -> ImportJob:
    """An import job: status, progress, counts and the rows refused."""
    with sessions()() as session:
        job = session.get(ImportJob, job_id)
    if job is None:
        abort(404, message=f"No import job {job_id}.")
    return job


@blp.route("/export", methods=["GET"])
@allow(*STAFF)
@blp.arguments(ExportQuery, location="query")
@blp.doc(
    responses={
        "200": {
            "description": (
                "The agency's volunteers in the import's columns (an export re-imports). Text a "
                "spreadsheet would take for a formula (=, +, -, @, tab, CR) starts with an "
                "apostrophe; an import removes it."
            ),
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                imports.XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}},
            },
        }
    }
)
def export(query: dict[str, Any]) -> Response:
    """Export this agency's volunteers as CSV (streamed) or XLSX."""
    agency = node().agency
    name = f"volunteers-{agency}-{date.today().isoformat()}.{query['format']}"
    factory = sessions()
    if query["format"] == "xlsx":
        return send_file(
            io.BytesIO(imports.xlsx_bytes(factory, agency)),
            mimetype=imports.XLSX_TYPE,
            as_attachment=True,
            download_name=name,
        )
    return Response(
        imports.csv_chunks(factory, agency),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
