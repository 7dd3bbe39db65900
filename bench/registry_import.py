"""Registry bulk import: a 10,000-row CSV with 1% bad rows, uploaded to a TG node on PostgreSQL,
from the upload to the job's completion (every good row stored with its outbox event).

Baseline, same run, same volunteers: registering them one at a time through
`POST /api/v1/volunteers` on another fresh database.
"""

from __future__ import annotations

import csv
import io
import os
import statistics
import time
from typing import Any

from services.registry import imports
from tests.support import infra
from tests.support.infra import wait_until
from tests.support.registry import RegistryNode, start_registry

NAME = "registry_import"
ROWS = 10_000
BAD_EVERY = 100  # 1% bad rows: alternately a bad date and an unknown language code
BASELINE_ROWS = 1_000
ROUNDS = 3
TARGET_RATE = 2_000.0


def _rows() -> tuple[list[dict[str, Any]], dict[int, str]]:
    """The file's rows, and the line -> field of each bad one (the header is line 1)."""
    rows, bad = [], {}
    for n in range(ROWS):
        row = {
            "first_name": "Ama",
            "last_name": f"Mensah{n}",
            "date_of_birth": f"19{70 + n % 30}-0{1 + n % 9}-1{n % 10}",
            "gender": ("female", "male")[n % 2],
            "nationality": "TG",
            "identity_number": f"TG-{n:07d}",
            "email": f"volunteer{n}@example.org",
            "phone": "+228 90 00 00 00",
            "preferred_language": "fr",
            "languages": "fr:native;ee:B2",
            "skills": "public health;first aid",
            "domains": "health;education",
            "education_level": "master",
            "available_from": "2017-09-01",
            "available_until": "2018-08-31",
            "preferred_countries": "ML;NE",
            "consent_given_at": "2017-06-01T10:00:00Z",
            "consent_purposes": "registration;matching",
            "notes": "",
        }
        if n % BAD_EVERY == BAD_EVERY // 2:
            if (n // BAD_EVERY) % 2:
                row["date_of_birth"] = "1995-02-30"
                bad[n + 2] = "date_of_birth"
            else:
                row["languages"] = "fr:native;qq:B2"
                bad[n + 2] = "languages.1.code"
        rows.append(row)
    return rows, bad


def _csv(rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=imports.COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def _import_round(content: bytes, bad: dict[int, str]) -> float:
    url = infra.create_database()
    node: RegistryNode | None = None
    try:
        node = start_registry("TG", url)
        client = node.client()
        headers = node.headers("staff")
        start = time.perf_counter()
        r = client.post(
            "/api/v1/volunteers/imports",
            headers=headers,
            data={"file": (io.BytesIO(content), "volunteers.csv")},
            content_type="multipart/form-data",
        )
        assert r.status_code == 202, r.json
        location = r.headers["Location"]
        job: dict[str, Any] = {}

        def done() -> bool:
            job.update(client.get(location, headers=headers).json)
            return job["status"] in ("completed", "failed")

        wait_until(done, timeout=600, interval=0.1, what="the import job")
        elapsed = time.perf_counter() - start
        good = ROWS - len(bad)
        assert job["status"] == "completed", job
        assert (job["imported_rows"], job["error_rows"]) == (good, len(bad)), job
        assert {e["line"]: e["field"] for e in job["errors"]} == bad
        assert len(job["errors"]) == len(bad)
        assert node.volunteer_count() == good
        assert node.outbox_count("volunteer.registered") == good
        return elapsed
    finally:
        if node is not None:
            node.runtime.shutdown()
        infra.drop_database(url)


def _baseline_round(rows: list[dict[str, Any]]) -> float:
    url = infra.create_database()
    node: RegistryNode | None = None
    try:
        node = start_registry("TG", url)
        client = node.client()
        headers = node.headers("staff")
        payloads = [imports.row_payload(row) for row in rows[:BASELINE_ROWS]]
        start = time.perf_counter()
        for payload in payloads:
            r = client.post("/api/v1/volunteers", headers=headers, json=payload)
            assert r.status_code == 201, r.json
        elapsed = time.perf_counter() - start
        assert node.volunteer_count() == BASELINE_ROWS
        assert node.outbox_count("volunteer.registered") == BASELINE_ROWS
        return elapsed
    finally:
        if node is not None:
            node.runtime.shutdown()
        infra.drop_database(url)


def run() -> dict:
    rows, bad = _rows()
    content = _csv(rows)
    good_rows = [row for n, row in enumerate(rows) if n + 2 not in bad]
    seconds, baseline_seconds = [], []
    for _ in range(ROUNDS):
        baseline_seconds.append(_baseline_round(good_rows))
        seconds.append(_import_round(content, bad))
    rates = [ROWS / s for s in seconds]
    baseline_rates = [BASELINE_ROWS / s for s in baseline_seconds]
    value, baseline = statistics.median(rates), statistics.median(baseline_rates)
    return {
        "name": NAME,
        "value": round(value, 1),
        "unit": "rows/s",
        "baseline_name": "POST /api/v1/volunteers one at a time, same volunteers (1,000)",
        "baseline_value": round(baseline, 1),
        "ratio": round(value / baseline, 3),
        "meets_target": value >= TARGET_RATE,
        "details": {
            "target": f">= {TARGET_RATE:,.0f} rows/s",
            "rows": ROWS,
            "bad_rows": len(bad),
            "stored": ROWS - len(bad),
            "events": ROWS - len(bad),
            "errors_reported": len(bad),
            "seconds": round(statistics.median(seconds), 2),
            "file_bytes": len(content),
            "chunk_size": imports.CHUNK_SIZE,
            "rounds": ROUNDS,
            "rates": [round(r, 1) for r in rates],
            "baseline_rates": [round(r, 1) for r in baseline_rates],
            "measured": "upload (202) to job completed, through the Flask test client",
            "load_average_at_end": round(os.getloadavg()[0], 1),
        },
    }
