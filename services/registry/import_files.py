"""Reading an uploaded CSV or XLSX file of volunteers: type, size, columns (French or English
headers) and rows with their spreadsheet line numbers (the job in imports.py validates them)."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

from services.registry.domain.messages import msg
from shared.logging import get_logger
from shared.messages import Count, Message
from shared.vocabularies import CEFR_LEVELS

log = get_logger(__name__)

MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_ROWS = 20_000
# An XLSX is a zip: refuse one whose parts expand beyond this (a "zip bomb").
MAX_XLSX_EXPANDED_BYTES = 200 * 1024 * 1024

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
