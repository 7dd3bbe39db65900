"""Export of an agency's volunteers in the import's columns (CSV streamed, XLSX), with cells that
spreadsheets would run as formulas neutralised."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.registry.adapters.orm import Volunteer
from services.registry.import_files import (
    COLUMNS,
    FORMULA_TRIGGERS,
)
from shared.logging import get_logger

log = get_logger(__name__)

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
