"""Bulk import of volunteers from CSV and XLSX files, and their export in the same columns.

An upload is read and parsed in the request (at most `MAX_FILE_BYTES`, `MAX_ROWS` data rows), so
a wrong type (415), a missing column or too many rows (422) is refused before any job exists. The
rows are then validated and stored by a background job: `CHUNK_SIZE` rows per transaction, checked
in Python (`RowValidator`: each distinct value of a repeated column validated once per job) and
stored together with their events (`registrations`: COPY on PostgreSQL, a row the database
refuses isolated without a savepoint per good row), the job's progress written in the same
transaction as its chunk.

Line numbers are the spreadsheet's rows: the header is line 1, the first data row line 2, a blank
row is skipped but keeps its number, and a CSV cell spanning several text lines counts once.
"""

from __future__ import annotations

import functools
import uuid
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import Engine, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from services.registry import handlers, registrations
from services.registry.adapters.orm import ImportJob
from services.registry.domain.messages import msg
from services.registry.exports import csv_chunks, xlsx_bytes
from services.registry.handlers import Node
from services.registry.import_files import (
    COLUMNS,
    FRENCH_OF,
    LEVELS,
    MAX_FILE_BYTES,
    MAX_ROWS,
    REQUIRED,
    XLSX_TYPE,
    FileRefused,
    ParsedFile,
    Row,
    parse_file,
)
from services.registry.import_rows import RowValidator, flatten_errors, row_payload
from services.registry.schemas import VolunteerIn
from shared.logging import get_logger
from shared.messages import Message, coded
from shared.runtime import Runtime
from shared.validation_messages import coded_errors

log = get_logger(__name__)

# Reading files (import_files), rows (import_rows) and the export (exports) live beside this
# module; their public names stay importable from here.
__all__ = [
    "COLUMNS",
    "FRENCH_OF",
    "LEVELS",
    "MAX_FILE_BYTES",
    "MAX_ROWS",
    "REQUIRED",
    "XLSX_TYPE",
    "FileRefused",
    "ParsedFile",
    "RowValidator",
    "create_job",
    "csv_chunks",
    "new_executor",
    "parse_file",
    "recover_interrupted_jobs",
    "row_payload",
    "run_import",
    "xlsx_bytes",
]
CHUNK_SIZE = 500
MAX_STORED_ERRORS = 1_000
JOB_WORKERS = 2
INTERRUPTED = msg("import.interrupted_restart")
SHUTDOWN = msg("import.interrupted_shutdown")


# -- the job -------------------------------------------------------------------------------------


def new_executor(agency: str) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=JOB_WORKERS, thread_name_prefix=f"import-{agency}")


def create_job(session: Session, parsed: ParsedFile, filename: str, created_by: str) -> ImportJob:
    job = ImportJob(
        id=f"imp-{uuid.uuid4().hex}",
        filename=(filename or "upload")[:255],
        format=parsed.format,
        status="queued",
        total_rows=len(parsed.rows) if parsed.rows is not None else 0,
        processed_rows=0,
        imported_rows=0,
        error_rows=0,
        errors=[],
        message=_ignored_note(parsed.ignored_columns),
        notes=_notes(_ignored_note(parsed.ignored_columns)),
        created_by=created_by,
        created_at=handlers.now(),
    )
    session.add(job)
    return job


def _ignored_note(ignored: list[str]) -> Message | None:
    if not ignored:
        return None
    return msg("import.columns_ignored", columns=", ".join(ignored))


def _notes(*messages: Message | None) -> list[dict[str, Any]]:
    """The job's notes as codes and parameters, for the dashboard to say them in its language
    (its `message` keeps the English text the API answers)."""
    return [{"code": m.code, "params": m.params} for m in messages if m is not None]


@dataclass
class _Progress:
    processed: int = 0
    imported: int = 0
    error_rows: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    seen: dict[tuple[str, str], int] = field(default_factory=dict)


def run_import(runtime: Runtime, node: Node, job_id: str, parsed: ParsedFile) -> None:
    """Body of a job thread. Whatever happens, the job ends completed or failed with a reason."""
    try:
        with _owner_lock(runtime.engine, job_id):
            try:
                _run(runtime.sessions, node, job_id, parsed, runtime.stop)
            except _Stopped:
                _record_failure(runtime.sessions, job_id, SHUTDOWN)
            except FileRefused as exc:  # an XLSX's rows, read here: too many, or none
                nothing = msg("import.nothing_imported")
                _record_failure(runtime.sessions, job_id, exc.message, nothing)
            except Exception as exc:
                log.exception("import.failed", job=job_id)
                _record_failure(runtime.sessions, job_id, _failure_message(exc))
    except Exception as exc:  # the lock itself: the database is gone
        log.exception("import.failed", job=job_id)
        _record_failure(runtime.sessions, job_id, _failure_message(exc))


class _Stopped(Exception):
    pass


def _failure_message(exc: Exception) -> Message:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    reason = f"{type(exc).__name__}: {reason}" if reason else type(exc).__name__
    return msg("import.stopped", reason=reason[:500])


def _record_failure(sessions: sessionmaker[Session], job_id: str, *messages: Message) -> None:
    """The job failed: its message says why in English, its notes by code."""
    try:
        with sessions.begin() as session:
            session.execute(
                update(ImportJob)
                .where(ImportJob.id == job_id, ImportJob.status.in_(("queued", "running")))
                .values(
                    status="failed",
                    message=" ".join(messages),
                    notes=_notes(*messages),
                    finished_at=handlers.now(),
                )
            )
    except Exception:  # nothing more to do here: a restart will mark the job failed
        log.exception("import.failure_not_recorded", job=job_id)


def _run(
    sessions: sessionmaker[Session], node: Node, job_id: str, parsed: ParsedFile, stop: Any
) -> None:
    with sessions.begin() as session:
        started = session.execute(
            update(ImportJob)
            .where(ImportJob.id == job_id, ImportJob.status == "queued")
            .values(status="running")
        )
        if started.rowcount != 1:
            return  # gone or already decided: nothing to do
    if parsed.rows is None:  # an XLSX: its rows are read, and counted, now
        total = len(parsed.read_rows())
        with sessions.begin() as session:
            session.get_one(ImportJob, job_id).total_rows = total
    rows = parsed.read_rows()
    schema = RowValidator()
    progress = _Progress()
    for start in range(0, len(rows), CHUNK_SIZE):
        if stop.is_set():
            raise _Stopped()
        chunk = rows[start : start + CHUNK_SIZE]
        last = start + CHUNK_SIZE >= len(rows)
        with sessions.begin() as session:
            errors = _import_chunk(session, node, schema, chunk, progress.seen)
            progress.processed += len(chunk)
            refused_rows = len({e["line"] for e in errors})
            progress.error_rows += refused_rows
            progress.imported += len(chunk) - refused_rows
            progress.errors.extend(errors)
            job = session.get_one(ImportJob, job_id)
            job.processed_rows = progress.processed
            job.imported_rows = progress.imported
            job.error_rows = progress.error_rows
            if len(job.errors) < MAX_STORED_ERRORS:
                job.errors = progress.errors[:MAX_STORED_ERRORS]
            if last:
                job.status = "completed"
                job.finished_at = handlers.now()
                job.message = _summary(job, progress)
        log.info("import.progress", job=job_id, processed=progress.processed, total=len(rows))


def _summary(job: ImportJob, progress: _Progress) -> str:
    parts = [
        f"Imported {progress.imported:,} of {progress.processed:,} rows; "
        f"{progress.error_rows:,} rows refused."
    ]
    hidden = len(progress.errors) - MAX_STORED_ERRORS
    if hidden > 0:
        parts.append(
            f"{hidden:,} more errors are not listed "
            f"(only the first {MAX_STORED_ERRORS:,} are kept)."
        )
    if job.message:
        parts.append(job.message)  # the columns ignored at upload
    return " ".join(parts)


@functools.cache
def _row_schema() -> VolunteerIn:
    """The schema whose fields and validators give the rows' messages their codes."""
    return VolunteerIn()


def _row_error(line: int, field: str, message: str) -> dict[str, Any]:
    """A row's error as the job stores it: the English text, and its code and parameters for
    the dashboard to show it in its own language."""
    found = coded(message)
    return {
        "line": line,
        "field": field,
        "message": str(found),
        "code": found.code,
        "params": found.params,
    }


def _import_chunk(
    session: Session,
    node: Node,
    schema: RowValidator,
    chunk: list[Row],
    seen: dict[tuple[str, str], int],
) -> list[dict[str, Any]]:
    """Validate a chunk's rows in Python, register the valid ones together (see
    `registrations`); return the errors, ordered by line. `seen` maps each identity imported so
    far to its line."""
    errors: list[dict[str, Any]] = []
    valid: list[tuple[int, dict[str, Any]]] = []
    for line, raw in chunk:
        try:
            data = schema.load(row_payload(raw))
        except ValidationError as exc:
            errors.extend(
                _row_error(line, name, message)
                for name, message in flatten_errors(coded_errors(_row_schema(), exc.messages))
            )
            continue
        key = (data["nationality"], data["identity_number"])
        if key in seen:
            duplicate = msg("import.duplicate_in_file", line=seen[key])
            errors.append(_row_error(line, "identity_number", duplicate))
            continue
        seen[key] = line
        valid.append((line, data))
    for refusal in registrations.register_volunteers(session, node, [d for _, d in valid]):
        line, data = valid[refusal.position]
        del seen[(data["nationality"], data["identity_number"])]
        errors.append(_row_error(line, refusal.field, refusal.message))
    errors.sort(key=lambda e: e["line"])  # stable: a row's fields keep their order
    return errors


# -- who runs a job: a lock held by the running process ------------------------------------------

_LOCK_CLASS = 0x56495249  # "VIRI": advisory locks of import jobs


def _lock_key(job_id: str) -> int:
    key = zlib.crc32(job_id.encode())
    return key - 2**32 if key >= 2**31 else key


@contextmanager
def _owner_lock(engine: Engine, job_id: str) -> Iterator[None]:
    """On PostgreSQL, hold a session advisory lock while the job runs: it dies with the process,
    so another process can tell a job that is running elsewhere from one whose process crashed."""
    if engine.dialect.name != "postgresql":
        yield
        return
    connection = engine.connect()
    try:
        params = {"c": _LOCK_CLASS, "k": _lock_key(job_id)}
        connection.execute(text("SELECT pg_advisory_lock(:c, :k)"), params)
        connection.commit()
        yield
        connection.execute(text("SELECT pg_advisory_unlock(:c, :k)"), params)
        connection.commit()
    except BaseException:
        connection.invalidate()  # closing the connection is what releases the lock for sure
        raise
    finally:
        connection.close()


def recover_interrupted_jobs(engine: Engine) -> int:
    """At start: a job left `running` by a process that is gone is marked failed.

    On PostgreSQL, a job whose owner still holds its lock (another gunicorn worker) is left alone.
    Returns how many jobs were marked. Never raises: a node whose database is not reachable yet
    still starts, and a later start recovers the jobs."""
    pg = engine.dialect.name == "postgresql"
    marked = 0
    try:
        connection = engine.connect()
    except SQLAlchemyError as exc:
        log.warning("import.recovery_skipped", error=str(exc).splitlines()[0])
        return 0
    try:
        running = list(
            connection.scalars(select(ImportJob.id).where(ImportJob.status == "running"))
        )
        connection.commit()
        for job_id in running:
            params = {"c": _LOCK_CLASS, "k": _lock_key(job_id)}
            if pg and not connection.scalar(text("SELECT pg_try_advisory_lock(:c, :k)"), params):
                connection.commit()
                continue  # its process is alive and still running it
            result = connection.execute(
                update(ImportJob)
                .where(ImportJob.id == job_id, ImportJob.status == "running")
                .values(
                    status="failed",
                    message=INTERRUPTED,
                    notes=_notes(INTERRUPTED),
                    finished_at=handlers.now(),
                )
            )
            marked += result.rowcount
            connection.commit()
            if pg:
                connection.execute(text("SELECT pg_advisory_unlock(:c, :k)"), params)
                connection.commit()
    except SQLAlchemyError as exc:
        connection.invalidate()  # drops any lock taken above along with the connection
        log.warning("import.recovery_skipped", error=str(exc).splitlines()[0])
    finally:
        connection.close()
    if marked:
        log.warning("import.interrupted_jobs_failed", jobs=marked)
    return marked
