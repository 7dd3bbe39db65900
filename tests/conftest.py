"""Fixtures of the whole suite: real PostgreSQL databases and RabbitMQ vhosts, made per test."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import infra

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("VIR_VAR_DIR", str(ROOT / "var" / "test"))
sys.path.insert(0, str(ROOT))

# The compose network's end-to-end test builds images and starts ~25 containers: only
# `make compose-test` runs it (VIR_COMPOSE_TEST=1).
if os.environ.get("VIR_COMPOSE_TEST") != "1":
    collect_ignore = ["compose"]


@pytest.fixture
def pg_url() -> Iterator[str]:
    url = infra.create_database()
    try:
        yield url
    finally:
        infra.drop_database(url)


@pytest.fixture
def vhost() -> Iterator[str]:
    name = infra.create_vhost()
    try:
        yield name
    finally:
        infra.delete_vhost(name)


@pytest.fixture
def amqp_url(vhost: str) -> str:
    return infra.amqp_url(vhost)
