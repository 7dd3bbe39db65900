"""Transactional outbox and relay against the real PostgreSQL and RabbitMQ."""

from __future__ import annotations

import json
import threading
from collections import defaultdict

import pytest
from kombu import Connection, Exchange, Queue
from sqlalchemy import func, select

from shared.db import make_session_factory, outbox
from shared.events import decode
from shared.messaging.publisher import ConfirmingPublisher, PublishFailed
from shared.outbox import OutboxRelay, backlog, read_feed
from shared.settings import RelaySettings
from tests.support import effects
from tests.support.infra import wait_until
from tests.support.running import running_relay

pytestmark = pytest.mark.integration


def _count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_a_change_and_its_event_commit_together(engine):
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        event = effects.write_change_with_event(session, 1)
    assert _count(engine, effects.changes) == 1
    with engine.connect() as conn:
        row = conn.execute(select(outbox).where(outbox.c.event_id == event.id)).one()
    assert row.routing_key == "volunteer.withdrawn.TG"
    assert decode(row.payload) == event
    assert row.published_at is None


def test_a_failure_after_the_write_leaves_neither_change_nor_event(engine):
    sessions = make_session_factory(engine)
    with pytest.raises(RuntimeError), sessions.begin() as session:
        effects.write_change_with_event(session, 1)
        raise RuntimeError("the handler failed after writing")
    assert _count(engine, effects.changes) == 0
    assert _count(engine, outbox) == 0


def test_rows_stay_unpublished_until_the_broker_confirms(engine, amqp_url):
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        for n in range(5):
            effects.write_change_with_event(session, n)
    # Without declaring the topology the exchange does not exist: the broker refuses the batch.
    relay = OutboxRelay(engine, ConfirmingPublisher(amqp_url, declare_topology=False))
    with pytest.raises(PublishFailed):
        relay.run_once()
    with engine.connect() as conn:
        assert backlog(conn).unpublished == 5
        assert read_feed(conn) == []
    # Once the exchange exists, the same rows go out and are marked.
    relay = OutboxRelay(engine, ConfirmingPublisher(amqp_url))
    # An iteration claims every partition (the default): one covers them all.
    assert relay.run_once() == 5
    assert relay.run_once() == 0
    with engine.connect() as conn:
        assert backlog(conn).unpublished == 0
        assert [e.position for e in read_feed(conn)] == [1, 2, 3, 4, 5]


def test_the_relay_outlives_its_database_going_away_and_publishes_once_it_is_back(
    engine, pg_url, amqp_url
):
    """PostgreSQL stopped or unreachable: the relay keeps trying instead of dying, and
    publishes what was waiting when the database returns."""
    from sqlalchemy import create_engine, text

    from shared.outbox import DATABASE_UNAVAILABLE

    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        for n in range(5):
            effects.write_change_with_event(session, n)
    engine.dispose()
    name = pg_url.rsplit("/", 1)[1]
    admin = create_engine(pg_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")

    def rename(old: str, new: str) -> None:
        with admin.connect() as conn:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"),
                {"d": old},
            )
            conn.execute(text(f'ALTER DATABASE "{old}" RENAME TO "{new}"'))

    rename(name, f"{name}_away")
    relay = OutboxRelay(engine, ConfirmingPublisher(amqp_url), RelaySettings(idle_delay=0.2))
    failed = DATABASE_UNAVAILABLE.labels(relay.service)._value.get()
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop, 0.5), daemon=True)
    thread.start()
    try:
        wait_until(
            lambda: DATABASE_UNAVAILABLE.labels(relay.service)._value.get() >= failed + 2,
            30,
            what="the relay meeting the missing database twice",
        )
        assert thread.is_alive()
        rename(f"{name}_away", name)
        wait_until(lambda: _unpublished(engine) == 0, 30, what="the waiting rows published")
        assert thread.is_alive()
    finally:
        stop.set()
        thread.join(10)
        admin.dispose()


def _unpublished(engine) -> int:
    with engine.connect() as conn:
        return backlog(conn).unpublished


def test_several_relays_keep_each_aggregate_in_order_and_the_feed_complete(engine, amqp_url):
    sessions = make_session_factory(engine)
    aggregates = [f"vol-{a}" for a in range(24)]
    total = 3000
    written: dict[str, list[str]] = defaultdict(list)

    connection = Connection(amqp_url)
    queue = Queue(
        "order-check",
        Exchange("vir.events", type="topic"),
        routing_key="volunteer.#",
        queue_arguments={"x-queue-type": "quorum"},
    )
    queue(connection.default_channel).declare()

    def writer(offset: int) -> None:
        for n in range(offset, total, 3):
            with sessions.begin() as session:
                event = effects.write_change_with_event(session, n, aggregates[n % len(aggregates)])
            written[event.subject].append(event.id)  # appends per aggregate come from one writer

    # Each writer owns a disjoint set of aggregates so the expected order per aggregate is known.
    aggregates_by_writer = {
        w: [a for i, a in enumerate(aggregates) if i % 3 == w] for w in range(3)
    }
    assert all(aggregates_by_writer.values())
    threads = [threading.Thread(target=writer, args=(w,)) for w in range(3)]
    with (
        running_relay(engine, amqp_url, batch_size=100, partitions_per_claim=4),
        running_relay(engine, amqp_url, batch_size=100, partitions_per_claim=4),
    ):
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        def all_published() -> bool:
            with engine.connect() as conn:
                return backlog(conn).unpublished == 0

        wait_until(all_published, 60, what="outbox drained by two relays")

    received: dict[str, list[str]] = defaultdict(list)
    with connection.SimpleQueue(queue) as simple:
        for _ in range(total):
            message = simple.get(timeout=10)
            body = json.loads(message.body)
            received[body["subject"]].append(body["id"])
            message.ack()
    connection.release()

    for aggregate, ids in written.items():
        # Resends after doubt may repeat an event; order of first appearance must be kept.
        assert list(dict.fromkeys(received[aggregate])) == ids, aggregate

    with engine.connect() as conn:
        positions = []
        after = 0
        while page := read_feed(conn, after=after, limit=250):
            positions.extend(e.position for e in page)
            after = page[-1].position
    assert positions == list(range(1, total + 1))


def test_readiness_and_metrics_report_the_backlog(engine, pg_url):
    from services.registry.api import create_app
    from services.registry.bootstrap import bootstrap
    from services.registry.config import load_settings

    settings = load_settings({"AGENCY_CODE": "TG", "DATABASE_URL": pg_url})
    app = create_app(runtime=bootstrap(settings, engine=engine))
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        for n in range(7):
            effects.write_change_with_event(session, n)
    client = app.test_client()
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json["checks"]["outbox"]["unpublished"] == 7
    assert ready.json["checks"]["database"]["status"] == "up"
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'vir_outbox_backlog{service="registry"} 7.0' in metrics
    assert client.get("/health/live").json["status"] == "up"


def test_relay_settings_batch_bounds_each_iteration(engine, amqp_url):
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        for n in range(25):
            effects.write_change_with_event(session, n, "one-aggregate")
    relay = OutboxRelay(engine, ConfirmingPublisher(amqp_url), RelaySettings(batch_size=10))
    # One aggregate lives in one partition and the claim rotates over the partitions, so some
    # iterations find nothing: count the non-empty ones.
    published = [n for n in (relay.run_once() for _ in range(8)) if n]
    assert published == [10, 10, 5]


class _FirstWait:
    """A relay's wake-up that ends the relay at its first wait, counting the partition claims
    made before it."""

    def __init__(self, stop: threading.Event, claims: list[str]):
        self.stop, self.claims, self.claims_before_waiting = stop, claims, None

    def wait(self, timeout, stop=None):  # noqa: ANN001, ANN201
        self.claims_before_waiting = len(self.claims)
        self.stop.set()
        return False

    def close(self):  # noqa: ANN201
        return None


def test_a_wake_up_costs_the_relay_one_transaction_when_the_outbox_is_drained(engine, amqp_url):
    """Every commit of outbox rows wakes the relay: publishing them must not cost further empty
    rounds over the partitions (three transactions per wake-up before, each a write)."""
    from sqlalchemy import event

    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        for n in range(3):
            effects.write_change_with_event(session, n)
    claims: list[str] = []

    def _claim(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        if "FROM outbox_partition" in statement:
            claims.append(statement)

    stop = threading.Event()
    waiter = _FirstWait(stop, claims)
    relay = OutboxRelay(engine, ConfirmingPublisher(amqp_url), wakeup=waiter)
    event.listen(engine, "before_cursor_execute", _claim)
    try:
        relay.run(stop)
    finally:
        event.remove(engine, "before_cursor_execute", _claim)
    assert waiter.claims_before_waiting == 1
    with engine.connect() as conn:
        assert backlog(conn).unpublished == 0
