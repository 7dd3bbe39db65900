"""Fixtures shared by the integration tests of the shared layer (outbox, consumers, faults)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from shared.db import make_engine
from tests.support import effects


@pytest.fixture
def engine(pg_url: str) -> Iterator[Engine]:
    """A fresh PostgreSQL database with the outbox, inbox and the test effects table."""
    engine = make_engine(pg_url)
    effects.prepare_database(pg_url, engine)
    yield engine
    engine.dispose()
