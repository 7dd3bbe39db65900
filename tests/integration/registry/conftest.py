"""Registry nodes on fresh PostgreSQL databases."""

from __future__ import annotations

import pytest

from tests.support.registry import start_registry


@pytest.fixture
def tg(pg_url):
    node = start_registry("TG", pg_url)
    yield node
    node.runtime.shutdown()
