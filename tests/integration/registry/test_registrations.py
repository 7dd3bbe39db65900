"""Registering many volunteers at once (the bulk import's write path), on PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, text

from services.registry import registrations
from services.registry.handlers import Node
from services.registry.schemas import VolunteerIn
from shared.events import decode
from tests.support.registry import volunteer_payload

pytestmark = pytest.mark.integration


def loaded(n: int, **overrides: Any) -> dict[str, Any]:
    return VolunteerIn().load({**volunteer_payload(n), **overrides})


def savepoints_while(node, action) -> int:
    """How many SAVEPOINTs the database saw while `action` ran."""
    count = 0

    def seen(conn, cursor, statement, *_):  # noqa: ANN001, ANN202
        nonlocal count
        count += statement.lstrip().upper().startswith("SAVEPOINT")

    event.listen(node.engine, "before_cursor_execute", seen)
    try:
        action()
    finally:
        event.remove(node.engine, "before_cursor_execute", seen)
    return count


def test_a_batch_of_good_rows_is_stored_with_its_events_under_one_savepoint(tg):
    items = [loaded(n) for n in range(200)]

    def register() -> None:
        with tg.runtime.sessions.begin() as session:
            assert registrations.register_volunteers(session, Node("TG"), items) == []

    assert savepoints_while(tg, register) == 1
    assert tg.volunteer_count() == 200
    assert tg.outbox_count("volunteer.registered") == 200
    with tg.engine.connect() as conn:
        payloads = dict(conn.execute(text("SELECT aggregate_id, payload FROM outbox")).all())
        ids = set(conn.execute(text("SELECT id FROM volunteer")).scalars())
    # Each event passes the contract as a consumer reads it, and describes its own volunteer.
    events = [decode(payload) for payload in payloads.values()]
    assert {e.data["volunteer_id"] for e in events} == ids == set(payloads)
    assert all(e.type == "volunteer.registered" and e.agencies == ("TG",) for e in events)


def test_rows_the_database_refuses_are_rolled_back_alone(tg):
    items = [loaded(n) for n in range(64)]
    items[10] = loaded(10, email="a" * 250 + "@example.org")  # longer than the column
    items[40] = loaded(41)  # same identity as item 41: the second one in the batch is refused
    items[63]["last_name"] = "x" * 101  # as if no schema had checked it

    with tg.runtime.sessions.begin() as session:
        refused = registrations.register_volunteers(session, Node("TG"), items)

    # The batch is halved down to the rows at fault; of two equal identities, the first stays.
    assert [(r.position, r.field) for r in refused] == [
        (10, "row"),
        (41, "identity_number"),
        (63, "row"),
    ]
    assert all(r.message for r in refused)
    assert tg.volunteer_count() == 61
    assert tg.outbox_count("volunteer.registered") == 61


def test_identities_already_registered_are_refused_naming_the_volunteer(tg):
    with tg.runtime.sessions.begin() as session:
        registrations.register_volunteers(session, Node("TG"), [loaded(1)])
    with tg.runtime.sessions.begin() as session:
        refused = registrations.register_volunteers(session, Node("TG"), [loaded(2), loaded(1)])
    assert [(r.position, r.field) for r in refused] == [(1, "identity_number")]
    assert "already registered (vol-" in refused[0].message
    assert tg.volunteer_count() == 2 and tg.outbox_count("volunteer.registered") == 2


def test_a_volunteer_registered_in_bulk_reads_back_as_one_registered_alone(tg):
    # The bulk path writes with COPY, the API with an INSERT: the same columns either way.
    alone = tg.call("POST", "/api/v1/volunteers", json=volunteer_payload(1, notes="n"))
    assert alone.status_code == 201
    with tg.runtime.sessions.begin() as session:
        assert (
            registrations.register_volunteers(
                session, Node("TG"), [loaded(2, notes="n", identity_number="TG-BULK-2")]
            )
            == []
        )
    with tg.engine.connect() as conn:
        bulk_id = conn.execute(
            text("SELECT id FROM volunteer WHERE identity_number = 'TG-BULK-2'")
        ).scalar_one()
    read = {
        v: tg.call("GET", f"/api/v1/volunteers/{i}").json
        for v, i in (("alone", alone.json["id"]), ("bulk", bulk_id))
    }
    differ = {"id", "identity_number", "last_name", "email", "created_at", "updated_at"}
    assert {k: v for k, v in read["bulk"].items() if k not in differ} == {
        k: v for k, v in read["alone"].items() if k not in differ
    }
    assert read["bulk"]["created_at"].endswith("+00:00")
    assert tg.outbox_count("volunteer.registered") == 2
