"""Run a relay or a consumer in a background thread for the duration of a `with` block."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from kombu import Connection
from sqlalchemy import Engine

from shared.db import make_session_factory
from shared.messaging.consumer import EventConsumer, Handler
from shared.messaging.publisher import ConfirmingPublisher
from shared.messaging.topology import ConsumerSpec
from shared.outbox import OutboxRelay
from shared.settings import RelaySettings
from tests.support.infra import wait_until
from tests.support.keys import keyring


@contextmanager
def running_consumer(
    engine: Engine, amqp_url: str, spec: ConsumerSpec, handler: Handler, **options: object
) -> Iterator[EventConsumer]:
    consumer = EventConsumer(
        Connection(amqp_url, heartbeat=10),
        spec,
        handler,
        make_session_factory(engine),
        reconnect_max_delay=1.0,
        **{"verifier": keyring().verifier(), **options},  # type: ignore[arg-type]
    )
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    wait_until(consumer.ready.is_set, 30, what="consumer ready")
    try:
        yield consumer
    finally:
        consumer.stop()
        thread.join(15)


@contextmanager
def running_relay(
    engine: Engine,
    amqp_url: str,
    batch_size: int = 1000,
    principal: str = "TG",
    **options: object,
) -> Iterator[OutboxRelay]:
    """A relay signing as `principal` (the test events of tests/support/effects are TG's)."""
    relay = OutboxRelay(
        engine,
        ConfirmingPublisher(amqp_url, confirm_timeout=5, heartbeat=10),
        RelaySettings(batch_size=batch_size, idle_delay=0.05, **options),  # type: ignore[arg-type]
        signer=keyring().signer(principal),
    )
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop, 0.5), daemon=True)
    thread.start()
    try:
        yield relay
    finally:
        stop.set()
        thread.join(15)
