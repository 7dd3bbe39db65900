"""Migration 0004: free text stored as reasons by earlier versions moves to the local note
columns, and the events already written (the /events feed) are rewritten to reason codes."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import insert, select, text

from shared.db import make_engine, outbox
from shared.events import decode
from shared.migrations import upgrade
from tests.support import infra

pytestmark = pytest.mark.integration
SCHEMA = "https://schemas.vir-exchange.org/events/{type}/v1.json"


def _v1_event(seq: int, type_: str, data: dict) -> dict:
    body = {
        "specversion": "1.0",
        "id": f"evt-{seq}",
        "source": "/agencies/TG/registry",
        "type": type_,
        "subject": data.get("placement_id") or data.get("match_id") or data["agreement_id"],
        "time": "2027-01-01T00:00:00Z",
        "datacontenttype": "application/json",
        "dataschema": SCHEMA.format(type=type_),
        "viragencies": "TG.ML" if "match_id" in data or "parties" in data else "TG",
        "data": data,
    }
    return {
        "event_id": body["id"],
        "event_type": type_,
        "routing_key": f"{type_}.{body['viragencies']}",
        "aggregate_id": body["subject"],
        "partition": 0,
        "payload": json.dumps(body),
        "created_at": datetime.now(UTC),
        "published_at": datetime.now(UTC),
        "position": seq,
    }


def test_free_text_reasons_become_codes_and_notes_and_the_feed_is_rewritten():
    database = infra.create_database()
    engine = make_engine(database)
    try:
        upgrade("registry", database, "0003")
        now = datetime.now(UTC)
        match = {"match_id": "m-1", "agreement_id": "agr-1", "volunteer_id": "vol-1"}
        match |= {"placement_id": "pl-1"}
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO host_organisation (id, agency, name, city, domain, created_at,"
                    " updated_at) VALUES ('org-1', 'TG', 'CSB', 'Lomé', 'health', :at, :at)"
                ),
                {"at": now},
            )
            conn.execute(
                text(
                    "INSERT INTO placement (id, agency, host_organisation_id, title, city, domain,"
                    ' required_skills, required_languages, start, "end", slots, status,'
                    " closed_reason, created_at, updated_at) VALUES ('pl-1', 'TG', 'org-1', 'T',"
                    " 'Lomé', 'health', '[]', '[]', :d, :d, 1, 'closed',"
                    " 'la directrice est malade', :at, :at)"
                ),
                {"at": now, "d": date(2027, 1, 1)},
            )
            conn.execute(
                text(
                    'INSERT INTO "match" (id, agreement_id, volunteer_id, placement_id,'
                    " sending_agency, host_agency, score, criteria, decisions, status,"
                    " status_reason, created_at, updated_at) VALUES ('m-1', 'agr-1', 'vol-1',"
                    " 'pl-1', 'TG', 'ML', 0.5, '[]', '{}', 'cancelled',"
                    " 'superseded by a better plan', :at, :at)"
                ),
                {"at": now},
            )
            conn.execute(
                insert(outbox),
                [
                    _v1_event(
                        1,
                        "placement.closed",
                        {"placement_id": "pl-1", "agency": "TG", "reason": "la directrice malade"},
                    ),
                    _v1_event(2, "match.declined", match | {"agency": "TG", "reason": "ill"}),
                    _v1_event(3, "match.accepted", match | {"agency": "ML", "reason": None}),
                ],
            )
        upgrade("registry", database)
        with engine.connect() as conn:
            placement = conn.execute(text("SELECT closed_reason, closed_note FROM placement")).one()
            status = conn.execute(text('SELECT status_reason FROM "match"')).scalar_one()
            payloads = conn.execute(select(outbox.c.payload).order_by(outbox.c.seq)).scalars()
            events = [decode(p) for p in payloads]  # the current contracts accept them all
        assert tuple(placement) == ("other", "la directrice est malade")
        assert status == "superseded"
        assert [e.version for e in events] == [2, 2, 2]
        assert [e.data.get("reason") for e in events] == ["other", "other", None]
        assert "malade" not in json.dumps([dict(e.data) for e in events])
    finally:
        engine.dispose()
        infra.drop_database(database)
