"""The matching node the matching tests share."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.support.nodes import start_matching

TTL = timedelta(days=14)  # unanswered proposals expire after this (the tests plan with the same)


@pytest.fixture
def matching(pg_url):
    """A matching node on a fresh PostgreSQL database, its broker in memory."""
    node = start_matching(pg_url, ttl=TTL)
    yield node
    node.runtime.shutdown()
