"""The engine's pool on PostgreSQL: connections idle for a while are checked before use."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from shared import db

pytestmark = pytest.mark.integration


def counting_pings(engine) -> list[int]:
    calls: list[int] = []
    real = engine.dialect.do_ping

    def ping(dbapi_connection):  # noqa: ANN001, ANN202
        calls.append(1)
        return real(dbapi_connection)

    engine.dialect.do_ping = ping
    return calls


def backend_pid(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


def test_a_connection_used_just_now_is_not_pinged_again(pg_url):
    engine = db.make_engine(pg_url, pool_size=1)
    try:
        pings = counting_pings(engine)
        first = backend_pid(engine)  # a new connection: pinged once
        for _ in range(20):
            assert backend_pid(engine) == first
        assert len(pings) == 1
    finally:
        engine.dispose()


def test_a_connection_idle_past_the_window_that_died_is_replaced_before_use(pg_url, monkeypatch):
    monkeypatch.setattr(db, "PING_IDLE_SECONDS", 0.0)
    engine = db.make_engine(pg_url, pool_size=1)
    other = db.make_engine(pg_url)
    try:
        dead = backend_pid(engine)
        with other.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": dead}).scalar()
        # The request after the database dropped the pooled connection still succeeds.
        assert backend_pid(engine) != dead
    finally:
        engine.dispose()
        other.dispose()
