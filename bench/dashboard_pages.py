"""Dashboard pages with 10,000 volunteers: server time per page (Flask test client, no network).

Baseline, same run and app: GET /health/live (the cheapest answer of the same process)."""

from __future__ import annotations

import re
import statistics
import time
import uuid
from datetime import UTC, date, datetime

from sqlalchemy import insert

from services.registry import handlers
from services.registry.adapters.orm import Volunteer
from services.registry.dashboard.accounts import create_account
from services.registry.handlers import Node
from shared.events import new_event
from tests.support import infra
from tests.support.registry import PILOT_TERMS, start_registry

NAME = "dashboard_pages"
VOLUNTEERS = 10_000
REPEAT = 15
TARGET_MS = 200
PAGES = [
    "/",
    "/volunteers",
    "/volunteers?q=mensah",
    "/volunteers?status=available&page=40",
    "/volunteers/new",
    "/volunteers/import",
    "/places",
    "/proposals",
    "/mobilities",
    "/agreements",
    "/notifications",
]


def _seed(node) -> str:  # noqa: ANN001
    now = datetime.now(UTC)
    rows = [
        {
            "id": f"vol-{uuid.uuid4().hex}",
            "agency": "TG",
            "first_name": f"Prénom{n}",
            "last_name": f"Mensah{n}" if n % 100 == 0 else f"Nom{n}",
            "date_of_birth": date(1990, 1, 1),
            "gender": "female" if n % 2 else "male",
            "nationality": "TG",
            "identity_number": f"TG-B-{n:06d}",
            "email": f"v{n}@example.org",
            "phone": None,
            "preferred_language": "fr",
            "notes": None,
            "consent_given_at": now,
            "consent_purposes": ["registration", "matching"],
            "languages": [{"code": "fr", "level": "C1"}],
            "skills": ["public health"] if n % 3 else ["teaching"],
            "domains": ["health"],
            "education_level": "bachelor",
            "available_from": date(2027, 9, 1),
            "available_until": date(2028, 8, 31),
            "preferred_countries": ["ML"],
            "status": "available",
            "withdrawn_reason": None,
            "created_at": now,
            "updated_at": now,
        }
        for n in range(VOLUNTEERS)
    ]
    with node.runtime.engine.begin() as conn:
        conn.execute(insert(Volunteer), rows)
    with node.runtime.sessions.begin() as session:
        agreement = handlers.propose_agreement(
            session, Node("TG"), {"partners": ["ML"], **_terms()}
        )
        create_account(session, "bench@anvt.example", "Bench", "staff", "a long enough password")
        agreement_id = agreement.id
    from services.registry.handlers.peer_events import handle

    for i in range(20):
        data = {
            "match_id": f"m-bench-{i}",
            "agreement_id": agreement_id,
            "volunteer_id": rows[i]["id"],
            "placement_id": f"pl-ml-{i}",
            "sending_agency": "TG",
            "host_agency": "ML",
            "score": 0.8,
            "criteria": [
                {"criterion": "skills", "weight": 0.4, "value": 1.0, "explanation": "1 of 1"}
            ],
        }
        event = new_event(
            "match.proposed",
            source="/network/matching",
            subject=data["match_id"],
            agencies=["TG", "ML"],
            data=data,
        )
        with node.runtime.sessions.begin() as session:
            handle(session, event, Node("TG"))
    return agreement_id


def _first_volunteer(node) -> str:  # noqa: ANN001
    from sqlalchemy import select

    with node.runtime.sessions() as session:
        return session.scalar(select(Volunteer.id).order_by(Volunteer.id).limit(1))


def _terms() -> dict:
    terms = dict(PILOT_TERMS)
    terms["start"], terms["end"] = (
        date.fromisoformat(terms["start"]),
        date.fromisoformat(terms["end"]),
    )
    return terms


def _timed(client, path: str) -> float:  # noqa: ANN001
    samples = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        response = client.get(path)
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return statistics.median(samples)


def run() -> dict:
    url = infra.create_database()
    try:
        node = start_registry("TG", url)
        agreement_id = _seed(node)
        client = node.app.test_client()
        page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        signed = client.post(
            "/login",
            data={
                "email": "bench@anvt.example",
                "password": "a long enough password",
                "csrf_token": token,
            },
        )
        assert signed.status_code == 302, signed.status_code
        volunteer_id = _first_volunteer(node)
        pages = [*PAGES, f"/agreements/{agreement_id}", f"/volunteers/{volunteer_id}"]
        timings = {path: round(_timed(client, path), 1) for path in pages}
        baseline = _timed(client, "/health/live")
        node.runtime.shutdown()
    finally:
        infra.drop_database(url)
    slowest = max(timings.values())
    return {
        "name": NAME,
        "value": slowest,
        "unit": "ms",
        "baseline_name": "GET /health/live on the same app",
        "baseline_value": round(baseline, 2),
        "ratio": round(slowest / baseline, 1),
        "target": {"max_ms": TARGET_MS},
        "meets_target": slowest < TARGET_MS,
        "details": {"volunteers": VOLUNTEERS, "repeat": REPEAT, "pages_ms": timings},
    }
