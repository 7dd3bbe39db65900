"""Signed events: relay throughput with signing plus consumer-side verification, against the
same relay and consumer without signatures, same run, same messages, same quorum queue.

Each measurement times the relay publishing N committed outbox rows (broker-confirmed), then a
consumer taking the N messages off the queue and doing what EventConsumer does before the
handler: decode and validate the body; with signatures also verify the Ed25519 signature
against the trust list, the routing key and the entitlement table.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from kombu import Connection, Consumer, Exchange, Queue
from sqlalchemy import insert

from bench.outbox_relay import _bodies
from shared.db import make_engine, outbox
from shared.events import decode
from shared.messaging.publisher import ConfirmingPublisher
from shared.migrations import upgrade
from shared.outbox import OutboxRelay, backlog, partition_of
from shared.security import (
    Signer,
    TrustStore,
    Verifier,
    create_key_file,
    trust_list_document,
    trusted_jwk,
    write_trust_list,
)
from shared.settings import RelaySettings
from tests.support import infra

NAME = "signing"
EVENTS = 10_000
ROUNDS = 5
TARGET_RATIO = 0.8


def _stage(engine, bodies) -> None:  # noqa: ANN001
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


def _relay_and_consume(engine, url, queue, signer, verifier) -> float:  # noqa: ANN001
    """Events per second through relay + consumer-side checks (without signer: no checks)."""
    bodies = _bodies(EVENTS)
    _stage(engine, bodies)
    relay = OutboxRelay(engine, ConfirmingPublisher(url), RelaySettings(batch_size=1000))
    relay.signer = signer
    start = time.perf_counter()
    published = 0
    while published < len(bodies):
        published += relay.run_once()
    relayed = time.perf_counter()
    relay.publisher.close()
    with engine.connect() as conn:
        assert backlog(conn).unpublished == 0

    seen = 0

    def on_message(message) -> None:  # noqa: ANN001
        nonlocal seen
        body = message.body
        if verifier is None:
            decode(body)
        else:
            key = verifier.signer_of(body, message.headers)
            verifier.check_event(key, decode(body), message.delivery_info["routing_key"])
        seen += 1

    consumed_start = time.perf_counter()
    with Connection(url) as conn:
        channel = conn.channel()
        consumer = Consumer(
            channel, [Queue(queue, no_declare=True)], on_message=on_message, no_ack=True
        )
        consumer.qos(prefetch_count=1000)
        with consumer:
            while seen < len(bodies):
                conn.drain_events(timeout=30)
        channel.close()
    done = time.perf_counter()
    return len(bodies) / ((relayed - start) + (done - consumed_start))


def _cpu_microseconds(key, verifier) -> dict[str, float]:  # noqa: ANN001
    """CPU time per event of each step alone (process time: less sensitive to a busy machine)."""
    bodies = [body for _, _, _, body in _bodies(2000)]
    signer = Signer(key)
    headers = [signer.headers(b) for b in bodies]

    def per_event(step) -> float:  # noqa: ANN001
        start = time.process_time()
        for body, h in zip(bodies, headers, strict=True):
            step(body, h)
        return round((time.process_time() - start) / len(bodies) * 1e6, 1)

    return {
        "sign": per_event(lambda b, h: signer.headers(b)),
        "verify_signature": per_event(lambda b, h: verifier.signer_of(b, h)),
        "decode_and_validate": per_event(lambda b, h: decode(b)),
        "routing_and_entitlement": per_event(
            lambda b, h: verifier.check_event(
                verifier.signer_of(b, h), decode(b), "volunteer.updated.TG"
            )
        ),
    }


def run() -> dict:
    db_url = infra.create_database()
    vhost = infra.create_vhost()
    url = infra.amqp_url(vhost)
    keys = Path(tempfile.mkdtemp(prefix="vir-bench-keys-"))
    try:
        upgrade("registry", db_url)
        engine = make_engine(db_url)
        key = create_key_file(keys / "TG.json", "TG")
        write_trust_list(keys / "trust-list.json", trust_list_document([("TG", trusted_jwk(key))]))
        verifier = Verifier(TrustStore(keys / "trust-list.json"))
        queue = "bench.signing"
        with Connection(url) as conn:
            Queue(
                queue,
                Exchange("vir.events", type="topic", durable=True),
                routing_key="#",
                durable=True,
                queue_arguments={"x-queue-type": "quorum"},
            )(conn.default_channel).declare()
        plain, signed = [], []
        for n in range(ROUNDS):
            # Alternate which goes first, so neither always meets a warmer broker.
            order = [(plain, None, None), (signed, Signer(key), verifier)]
            for rates, signer, check in order if n % 2 == 0 else reversed(order):
                rates.append(_relay_and_consume(engine, url, queue, signer, check))
        cpu = _cpu_microseconds(key, verifier)
        engine.dispose()
    finally:
        infra.delete_vhost(vhost)
        infra.drop_database(db_url)
    value, baseline = statistics.median(signed), statistics.median(plain)
    ratio = value / baseline
    return {
        "name": NAME,
        "value": round(value, 1),
        "unit": "events/s",
        "baseline_name": "the same relay and consumer without signing or verification",
        "baseline_value": round(baseline, 1),
        "ratio": round(ratio, 3),
        "target": {"min_ratio": TARGET_RATIO},
        "meets_target": ratio >= TARGET_RATIO,
        "details": {
            "events_per_round": EVENTS,
            "rounds": ROUNDS,
            "relay_batch_size": 1000,
            "signed_rates": [round(r, 1) for r in signed],
            "plain_rates": [round(r, 1) for r in plain],
            "signature": "Ed25519 over the body (cryptography), headers x-vir-signature/key-id",
            "consumer_side": "decode+validate; signed: + signature, trust list, routing, "
            "entitlement",
            "queue": "quorum",
            "cpu_microseconds_per_event": cpu,
            "note": "routing_and_entitlement includes a signature check and a decode",
        },
    }
