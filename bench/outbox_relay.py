"""Outbox relay throughput: committed PostgreSQL outbox rows -> broker-confirmed in a quorum queue.

Baseline, same run, same messages, same queue: raw pika publishing without confirms.
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from datetime import UTC, datetime

import pika
from kombu import Connection, Exchange, Queue
from sqlalchemy import insert

from shared.db import make_engine, outbox
from shared.events import encode, new_event
from shared.events.examples import EXAMPLES
from shared.messaging.publisher import ConfirmingPublisher
from shared.migrations import upgrade
from shared.outbox import OutboxRelay, backlog, partition_of
from shared.settings import RelaySettings
from tests.support import infra

NAME = "outbox_relay"
EVENTS = 20_000
ROUNDS = 3
TARGET_RATE = 5_000
TARGET_RATIO = 0.4


def _bodies(count: int) -> list[tuple[str, str, str, bytes]]:
    """(event id, subject, routing key, body) of `count` volunteer.updated events (~650 bytes)."""
    agencies, data = EXAMPLES["volunteer.updated"]
    template = json.loads(
        encode(
            new_event(
                "volunteer.updated",
                source="/agencies/TG/registry",
                subject="v",
                agencies=agencies,
                data=data,
            )
        )
    )
    out = []
    for n in range(count):
        event_id, subject = str(uuid.uuid4()), f"vol-tg-{n % 2000:04d}"
        body = {**template, "id": event_id, "subject": subject}
        body["data"] = {**template["data"], "volunteer_id": subject}
        out.append((event_id, subject, "volunteer.updated.TG", json.dumps(body).encode()))
    return out


def _raw_pika_rate(url: str, queue: str, bodies) -> float:  # noqa: ANN001
    params = pika.URLParameters(url)
    connection = pika.BlockingConnection(params)
    channel = connection.channel()
    props = pika.BasicProperties(content_type="application/cloudevents+json", delivery_mode=2)
    start = time.perf_counter()
    for _event_id, _subject, key, body in bodies:
        channel.basic_publish("vir.events", key, body, props)
    # Make sure the last message left the client: a round trip on the same channel.
    channel.queue_declare(queue, passive=True)
    elapsed = time.perf_counter() - start
    channel.queue_purge(queue)
    connection.close()
    return len(bodies) / elapsed


def _relay_rate(engine, url: str, queue: str, bodies) -> float:  # noqa: ANN001
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(outbox),
            [
                {
                    "event_id": event_id,
                    "event_type": "volunteer.updated",
                    "routing_key": key,
                    "aggregate_id": subject,
                    "partition": partition_of(subject),
                    "payload": body.decode(),
                    "created_at": now,
                }
                for event_id, subject, key, body in bodies
            ],
        )
    relay = OutboxRelay(engine, ConfirmingPublisher(url), RelaySettings(batch_size=1000))
    start = time.perf_counter()
    published = 0
    while published < len(bodies):
        published += relay.run_once()
    elapsed = time.perf_counter() - start
    with engine.connect() as conn:
        assert backlog(conn).unpublished == 0
    relay.publisher.close()
    with Connection(url) as conn:
        depth = conn.default_channel.queue_declare(queue, passive=True).message_count
        assert depth == len(bodies), f"{depth} messages in the queue, expected {len(bodies)}"
        conn.default_channel.queue_purge(queue)
    return len(bodies) / elapsed


def run() -> dict:
    db_url = infra.create_database()
    vhost = infra.create_vhost()
    url = infra.amqp_url(vhost)
    try:
        upgrade("registry", db_url)
        engine = make_engine(db_url)
        queue = "bench.outbox"
        with Connection(url) as conn:
            Queue(
                queue,
                Exchange("vir.events", type="topic", durable=True),
                routing_key="#",
                durable=True,
                queue_arguments={"x-queue-type": "quorum"},
            )(conn.default_channel).declare()
        raw, relayed = [], []
        for _ in range(ROUNDS):
            bodies = _bodies(EVENTS)
            raw.append(_raw_pika_rate(url, queue, bodies))
            relayed.append(_relay_rate(engine, url, queue, _bodies(EVENTS)))
        engine.dispose()
    finally:
        infra.delete_vhost(vhost)
        infra.drop_database(db_url)
    value, baseline = statistics.median(relayed), statistics.median(raw)
    ratio = value / baseline
    return {
        "name": NAME,
        "value": round(value, 1),
        "unit": "events/s",
        "baseline_name": "raw pika publish, no confirms, same messages and queue",
        "baseline_value": round(baseline, 1),
        "ratio": round(ratio, 3),
        "target": {"min_value": TARGET_RATE, "min_ratio": TARGET_RATIO},
        "meets_target": value >= TARGET_RATE and ratio >= TARGET_RATIO,
        "details": {
            "events_per_round": EVENTS,
            "rounds": ROUNDS,
            "relay_batch_size": 1000,
            "relay_rates": [round(r, 1) for r in relayed],
            "raw_rates": [round(r, 1) for r in raw],
            "queue": "quorum",
        },
    }
