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

import csv
import functools
import io
import re
import unicodedata
import uuid
import zipfile
import zlib
from collections.abc import Callable, Generator, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import Engine, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from services.registry import handlers, registrations
from services.registry.adapters.orm import ImportJob, Volunteer
from services.registry.domain.messages import msg
from services.registry.handlers import Node
from services.registry.schemas import VolunteerIn
from shared.logging import get_logger
from shared.messages import Count, Message, coded
from shared.runtime import Runtime
from shared.validation_messages import coded_errors
from shared.vocabularies import CEFR_LEVELS

log = get_logger(__name__)

MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_ROWS = 20_000
# An XLSX is a zip: refuse one whose parts expand beyond this (a "zip bomb").
MAX_XLSX_EXPANDED_BYTES = 200 * 1024 * 1024
CHUNK_SIZE = 500
MAX_STORED_ERRORS = 1_000
JOB_WORKERS = 2
INTERRUPTED = msg("import.interrupted_restart")
SHUTDOWN = msg("import.interrupted_shutdown")

CSV_TYPES = ("text/csv", "application/csv", "text/plain", "application/vnd.ms-excel")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# The flat columns of an import, in the order of an export (an export re-imports as it is).
COLUMNS = (
    "first_name",
    "last_name",
    "date_of_birth",
    "gender",
    "nationality",
    "identity_number",
    "email",
    "phone",
    "preferred_language",
    "languages",
    "skills",
    "domains",
    "education_level",
    "available_from",
    "available_until",
    "preferred_countries",
    "consent_given_at",
    "consent_purposes",
    "notes",
)
REQUIRED = (
    "first_name",
    "last_name",
    "date_of_birth",
    "gender",
    "nationality",
    "identity_number",
    "consent_given_at",
    "consent_purposes",
)
# French headers, as agencies in Lomé and Bamako keep them (compared after `_header_key`).
FRENCH = {
    "prenom": "first_name",
    "prenoms": "first_name",
    "nom": "last_name",
    "nom_de_famille": "last_name",
    "date_naissance": "date_of_birth",
    "date_de_naissance": "date_of_birth",
    "genre": "gender",
    "sexe": "gender",
    "nationalite": "nationality",
    "numero_identite": "identity_number",
    "numero_d_identite": "identity_number",
    "courriel": "email",
    "e_mail": "email",
    "telephone": "phone",
    "langue_preferee": "preferred_language",
    "langues": "languages",
    "competences": "skills",
    "domaines": "domains",
    "niveau_etudes": "education_level",
    "niveau_d_etudes": "education_level",
    "disponible_du": "available_from",
    "disponible_au": "available_until",
    "pays_preferes": "preferred_countries",
    "consentement_le": "consent_given_at",
    "consentement_finalites": "consent_purposes",
    "remarques": "notes",
}
HEADERS = {**{c: c for c in COLUMNS}, **FRENCH}
FRENCH_OF = {canonical: french for french, canonical in reversed(FRENCH.items())}

LIST_COLUMNS = ("languages", "skills", "domains", "preferred_countries", "consent_purposes")
DATE_COLUMNS = ("date_of_birth", "available_from", "available_until")
GENDERS = {
    "f": "female",
    "femme": "female",
    "feminin": "female",
    "m": "male",
    "h": "male",
    "homme": "male",
    "masculin": "male",
    "autre": "other",
}
LEVELS = frozenset(CEFR_LEVELS)

# OWASP "CSV injection": a cell starting with one of these is read as a formula by spreadsheets.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_DAY_FIRST = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


class FileRefused(Exception):
    """The upload is refused as a whole; `status` is the HTTP answer, `details` one line each."""

    def __init__(self, status: int, message: Message, details: list[Message] | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.details = details or [message]


Row = tuple[int, dict[str, Any]]  # (spreadsheet line, {column: raw cell value})


@dataclass
class ParsedFile:
    """An upload whose header is checked. A CSV's rows are read at upload (cheap: 10,000 rows in
    some 60 ms); an XLSX's are read by the job (openpyxl needs seconds for 20,000 rows)."""

    format: str
    positions: dict[str, int]
    ignored_columns: list[str]
    data: bytes = field(repr=False)
    rows: list[Row] | None = None

    def read_rows(self) -> list[Row]:
        """The non-blank rows with their lines; FileRefused (422) if none or too many."""
        if self.rows is None:
            records = _records(self.format, self.data)
            next(records, None)  # the header, checked at upload
            try:
                self.rows = _collect(records, self.positions)
            finally:
                records.close()
            self.data = b""  # read: no need to keep the file
        return self.rows


# -- reading a file ------------------------------------------------------------------------------


def file_format(filename: str, content_type: str | None) -> str:
    """ "csv" or "xlsx", from the file name's extension, else from its declared content type."""
    name = filename.lower().strip()
    if name.endswith(".csv"):
        return "csv"
    if name.endswith(".xlsx"):
        return "xlsx"
    if name.endswith((".xls", ".ods")):
        raise FileRefused(415, msg("import.xls_format"))
    if "." not in name.rsplit("/", 1)[-1]:
        kind = (content_type or "").split(";")[0].strip().lower()
        if kind == XLSX_TYPE:
            return "xlsx"
        if kind in ("text/csv", "application/csv"):
            return "csv"
    raise FileRefused(415, msg("import.unsupported"))


def parse_file(filename: str, content_type: str | None, data: bytes) -> ParsedFile:
    """Check an upload: its type, size and header; a CSV's rows are read too (see ParsedFile)."""
    if len(data) > MAX_FILE_BYTES:
        raise FileRefused(413, msg("import.too_large", size=MAX_FILE_BYTES // (1024 * 1024)))
    fmt = file_format(filename, content_type)
    records = _records(fmt, data)
    try:
        header = next(records, None)
        if header is None or not any(_present(v) for v in header):
            raise FileRefused(422, msg("import.empty"))
        positions, ignored = _map_header([str(v) if v is not None else "" for v in header])
        parsed = ParsedFile(format=fmt, positions=positions, ignored_columns=ignored, data=data)
        if fmt == "csv":
            parsed.rows = _collect(records, positions)
    finally:
        records.close()
    return parsed


def _records(fmt: str, data: bytes) -> Generator[list[Any], None, None]:
    return _csv_records(data) if fmt == "csv" else _xlsx_records(data)


def _collect(records: Iterator[list[Any]], positions: dict[str, int]) -> list[Row]:
    rows: list[Row] = []
    for line, values in enumerate(records, start=2):
        if not any(_present(v) for v in values):
            continue  # blank lines are skipped, but keep their number
        if len(rows) == MAX_ROWS:
            raise FileRefused(422, msg("import.too_many_rows", rows=Count(MAX_ROWS)))
        rows.append(
            (line, {c: values[i] if i < len(values) else None for c, i in positions.items()})
        )
    if not rows:
        raise FileRefused(422, msg("import.no_rows"))
    return rows


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def _csv_records(data: bytes) -> Generator[list[Any], None, None]:
    if b"\x00" in data:
        raise FileRefused(415, msg("import.binary_csv"))
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Excel's "CSV (séparateur : point-virgule)" on a French Windows writes Windows-1252.
        try:
            content = data.decode("cp1252")
        except UnicodeDecodeError as exc:
            raise FileRefused(415, msg("import.csv_encoding")) from exc
    first = content.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first.count)  # French Excel separates with ";"
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=delimiter)
    line = 0
    try:
        for line, record in enumerate(reader, start=1):  # noqa: B007 - used in the error
            yield record
    except csv.Error as exc:
        raise FileRefused(
            422, msg("import.csv_unreadable", line=line + 1, reason=str(exc))
        ) from exc


def _xlsx_records(data: bytes) -> Generator[list[Any], None, None]:
    from openpyxl import load_workbook

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            expanded = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile as exc:
        raise FileRefused(415, msg("import.not_xlsx")) from exc
    if expanded > MAX_XLSX_EXPANDED_BYTES:
        raise FileRefused(413, msg("import.xlsx_expands"))
    try:
        # data_only: a formula cell gives the value the spreadsheet computed, never its formula.
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds on a damaged or foreign file
        raise FileRefused(415, msg("import.xlsx_unreadable", reason=str(exc))) from exc
    try:
        if not workbook.worksheets:
            raise FileRefused(422, msg("import.no_worksheet"))
        sheet = workbook.worksheets[0]  # the first worksheet holds the volunteers
        sheet.reset_dimensions()  # some writers store wrong dimensions; read what is there
        # Gaps are given as empty rows, so the n-th row read is the sheet's line n.
        for values in sheet.iter_rows(values_only=True):
            yield list(values)
    finally:
        workbook.close()


def _header_key(name: str) -> str:
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", plain.lower()).strip("_")


def _map_header(header: list[str]) -> tuple[dict[str, int], list[str]]:
    positions: dict[str, int] = {}
    ignored: list[str] = []
    problems: list[Message] = []
    for index, name in enumerate(header):
        column = HEADERS.get(_header_key(name))
        if column is None:
            if name.strip():
                ignored.append(name.strip())
            continue
        if column in positions:
            a, b = positions[column] + 1, index + 1
            problems.append(msg("import.column_twice", a=a, b=b, column=column))
            continue
        positions[column] = index
    for column in REQUIRED:
        if column not in positions:
            problems.append(msg("import.column_missing", column=column, french=FRENCH_OF[column]))
    if problems:
        missing = [c for c in REQUIRED if c not in positions]
        message = (
            msg("import.columns_missing", columns=", ".join(missing))
            if missing
            else msg("import.header_twice")
        )
        raise FileRefused(422, message, problems)
    return positions, ignored


# -- one row -------------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    """A cell as stripped text (None when blank), with an export's formula guard undone."""
    if value is None:
        return None
    if isinstance(value, bool):
        value = "true" if value else "false"
    elif isinstance(value, float) and value.is_integer():
        value = str(int(value))  # spreadsheets store 90000000 as 90000000.0
    elif isinstance(value, datetime):
        value = value.isoformat()
    elif isinstance(value, date):
        value = value.isoformat()
    value = str(value).strip()
    if value.startswith("'") and value.lstrip("'").startswith(FORMULA_TRIGGERS):
        value = value[1:]
    return value or None


def _date(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.date().isoformat()
    text_ = _text(value)
    if text_ is None:
        return None
    day_first = _DAY_FIRST.match(text_)  # French spreadsheets write 02/04/1995
    if day_first:
        day, month, year = day_first.groups()
        return f"{year}-{int(month):02d}-{int(day):02d}"
    return text_  # ISO 8601, or whatever it is: the schema says what is wrong


def _moment(value: Any) -> str | None:
    """A consent time: a date or a time without zone is UTC (the time of Lomé and Bamako)."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    text_ = _text(value)
    if text_ is None:
        return None
    day_first = _DAY_FIRST.match(text_)
    if day_first:
        text_ = _date(text_) or text_
    try:
        moment = datetime.fromisoformat(text_)
    except ValueError:
        return text_
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def _items(value: Any) -> list[str]:
    text_ = _text(value)
    return [item.strip() for item in text_.split(";") if item.strip()] if text_ else []


def _language(item: str) -> dict[str, str]:
    code, sep, level = item.partition(":")
    skill = {"code": code.strip().lower()}
    if sep:
        level = level.strip()
        skill["level"] = level.upper() if level.upper() in LEVELS else level.lower()
    return skill


def row_payload(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The flat cells of a row as the nested input of `VolunteerIn` (blank cells left out)."""
    payload: dict[str, Any] = {}
    for column in COLUMNS:
        if column not in raw or column.startswith("consent_"):
            continue
        value = raw[column]
        if column in LIST_COLUMNS:
            items = _items(value)
            if column == "languages":
                payload[column] = [_language(item) for item in items]
            elif column == "preferred_countries":
                payload[column] = [item.upper() for item in items]
            elif items:
                payload[column] = items
            continue
        cell = _date(value) if column in DATE_COLUMNS else _text(value)
        if cell is None:
            continue
        if column == "gender":
            cell = GENDERS.get(_header_key(cell), cell.lower())
        elif column == "nationality":
            cell = cell.upper()
        elif column in ("preferred_language", "education_level"):
            cell = cell.lower()
        payload[column] = cell
    consent: dict[str, Any] = {}
    given_at = _moment(raw.get("consent_given_at"))
    if given_at is not None:
        consent["given_at"] = given_at
    purposes = [p.lower() for p in _items(raw.get("consent_purposes"))]
    if purposes:
        consent["purposes"] = purposes
    payload["consent"] = consent
    return payload


# Fields whose cells repeat from row to row (the same languages, skills, consent for a whole
# file) and whose checks are the costly ones (nested schemas, lists of validated items).
REPEATED_FIELDS = ("consent", "languages", "skills", "domains", "preferred_countries")


class RowValidator:
    """`VolunteerIn().load` for the rows of one import, batched by value: each distinct value of a
    repeated field is validated once (by `VolunteerIn` itself, restricted to that field) and its
    result reused for every row that has it; the other fields, and the checks across fields, are
    validated per row. Results and messages are those of `VolunteerIn().load` on the whole row
    (a row with an error is validated again by it); a file of identical profiles pays the nested
    checks once."""

    def __init__(self) -> None:
        self._rest = VolunteerIn(exclude=REPEATED_FIELDS)
        self._parts = {name: VolunteerIn(only=(name,)) for name in REPEATED_FIELDS}
        self._whole = VolunteerIn()
        self._cache: dict[tuple[str, str], tuple[Any, Any]] = {}  # (field, value) -> result

    def _part(self, name: str, payload: Mapping[str, Any]) -> tuple[Any, Any]:
        present = name in payload
        key = (name, repr(payload[name]) if present else "")
        found = self._cache.get(key)
        if found is None:
            try:
                loaded = self._parts[name].load({name: payload[name]} if present else {})
                found = (loaded.get(name, _MISSING), None)
            except ValidationError as exc:
                found = (_MISSING, exc.messages)
            if len(self._cache) < 10_000:
                self._cache[key] = found
        return found

    def load(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        rest = {k: v for k, v in payload.items() if k not in self._parts}
        try:
            data = self._rest.load(rest)
        except ValidationError:
            data = None
        parts = [(name, *self._part(name, payload)) for name in REPEATED_FIELDS]
        if data is None or any(errors for _, _, errors in parts):
            # A bad row (about one in a hundred): the whole schema again, for its messages
            # exactly as `VolunteerIn` gives them, in its order.
            return self._whole.load(payload)
        for name, value, _ in parts:
            if value is not _MISSING:
                data[name] = _fresh(value)
        return data


_MISSING = object()


def _fresh(value: Any) -> Any:
    """A copy of a cached result, so rows never share a list or dict."""
    if isinstance(value, list):
        return [_fresh(v) for v in value]
    if isinstance(value, dict):
        return {k: _fresh(v) for k, v in value.items()}
    return value


def flatten_errors(messages: Any, path: str = "") -> Iterator[tuple[str, Message]]:
    """marshmallow's nested messages as (field, message), the field named after the file's column:
    languages.0.code, consent_given_at, consent_purposes.1; whole-row errors on "row"."""
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            name = "row" if key == "_schema" else str(key)
            yield from flatten_errors(value, f"{path}.{name}" if path else name)
    elif isinstance(messages, list | tuple):
        for item in messages:
            yield from flatten_errors(item, path)
    else:
        column = "consent_" + path[len("consent.") :] if path.startswith("consent.") else path
        yield column or "row", coded(messages)


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


# -- export --------------------------------------------------------------------------------------


def neutralise(value: str) -> str:
    """OWASP CSV injection: text a spreadsheet would read as a formula gets a leading apostrophe.
    Text already starting with apostrophes before such a character gets one more, so an import
    (which removes one) gives back exactly what was exported."""
    return "'" + value if value.lstrip("'").startswith(FORMULA_TRIGGERS) else value


def flat_row(v: Volunteer) -> list[Any]:
    """A volunteer in `COLUMNS` order: text, and dates as `date` (left to the writer)."""
    cells: dict[str, Any] = {
        "first_name": v.first_name,
        "last_name": v.last_name,
        "date_of_birth": v.date_of_birth,
        "gender": v.gender,
        "nationality": v.nationality,
        "identity_number": v.identity_number,
        "email": v.email,
        "phone": v.phone,
        "preferred_language": v.preferred_language,
        "languages": ";".join(f"{s['code']}:{s['level']}" for s in v.languages),
        "skills": ";".join(v.skills),
        "domains": ";".join(v.domains),
        "education_level": v.education_level,
        "available_from": v.available_from,
        "available_until": v.available_until,
        "preferred_countries": ";".join(v.preferred_countries),
        "consent_given_at": _utc(v.consent_given_at).isoformat(),
        "consent_purposes": ";".join(v.consent_purposes),
        "notes": v.notes,
    }
    return [cells[c] for c in COLUMNS]


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def volunteers_of(session: Session, agency: str) -> Iterator[Volunteer]:
    statement = (
        select(Volunteer)
        .where(Volunteer.agency == agency)
        .order_by(Volunteer.created_at, Volunteer.id)
        .execution_options(yield_per=500)
    )
    yield from session.scalars(statement)


def csv_chunks(sessions: Callable[[], Any], agency: str, batch: int = 500) -> Iterator[str]:
    """The agency's volunteers as CSV text (UTF-8 with BOM for Excel), `batch` rows at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow(COLUMNS)
    with sessions() as session:
        for n, volunteer in enumerate(volunteers_of(session, agency), start=1):
            writer.writerow([_csv_cell(value) for value in flat_row(volunteer)])
            if n % batch == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
    yield buffer.getvalue()


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return neutralise(str(value))


def xlsx_bytes(sessions: Callable[[], Any], agency: str) -> bytes:
    """The agency's volunteers as an XLSX workbook, written row by row (openpyxl write-only)."""
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("volunteers")
    sheet.append(list(COLUMNS))
    with sessions() as session:
        for volunteer in volunteers_of(session, agency):
            sheet.append(
                [
                    neutralise(ILLEGAL_CHARACTERS_RE.sub("", v)) if isinstance(v, str) else v
                    for v in flat_row(volunteer)
                ]
            )
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
