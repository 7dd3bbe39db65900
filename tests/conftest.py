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
