"""The fixtures' infrastructure: each test gets its own PostgreSQL database and RabbitMQ vhost,
on this machine's servers or on containers testcontainers started (VIR_TEST_INFRA=containers,
which `make compose-test` runs)."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import pytest
import requests
from kombu import Connection, Exchange, Queue
from sqlalchemy import create_engine, text

from tests.support import infra

pytestmark = pytest.mark.integration


def test_the_fixtures_run_where_vir_test_infra_says():
    wanted = os.environ.get("VIR_TEST_INFRA", "auto")
    mode = infra.endpoints()["mode"]
    if wanted != "auto":
        assert mode == wanted
    if mode == "containers":  # published on a random host port, not the local servers'
        assert urlsplit(infra.postgres_admin_url()).port != 5432
        assert urlsplit(infra.amqp_base_url()).port != 5672


def test_each_test_gets_a_database_of_its_own(pg_url):
    engine = create_engine(pg_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE note (body text)"))
            conn.execute(text("INSERT INTO note VALUES ('kept')"))
        with engine.connect() as conn:
            assert conn.execute(text("SELECT body FROM note")).scalar_one() == "kept"
            assert conn.execute(text("SELECT current_database()")).scalar_one() == (
                urlsplit(pg_url).path.lstrip("/")
            )
    finally:
        engine.dispose()


def test_each_test_gets_a_vhost_of_its_own_with_management_and_federation(amqp_url, vhost):
    exchange = Exchange("probe", type="topic")
    queue = Queue("probe.q", exchange, routing_key="probe.#")
    with Connection(amqp_url) as conn:
        producer = conn.Producer()
        producer.publish(
            {"n": 1}, exchange=exchange, routing_key="probe.one", declare=[queue], serializer="json"
        )
        message = queue(conn.default_channel).get(no_ack=True)
        assert message is not None and message.payload == {"n": 1}
    assert infra.queue_depth(vhost, "probe.q") == 0
    overview = requests.get(
        f"{infra.management_url()}/api/overview", auth=infra._management_auth(), timeout=10
    ).json()
    # The federation plugin is on: the link tests need it.
    assert "x-federation-upstream" in {t["name"] for t in overview["exchange_types"]}
