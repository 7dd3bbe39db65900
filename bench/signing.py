"""Signed events: the event pipeline's throughput with signing and verification, against the
same pipeline without them, same run, same messages, same quorum queue.

Each measurement times what every event goes through in production: the outbox relay publishing
N committed PostgreSQL outbox rows (broker-confirmed batches; signed: each body Ed25519-signed),
then the real `EventConsumer` taking them off the queue and applying each once (decode and
validate, inbox row committed in PostgreSQL, ack); signed, it first verifies the signature
against the trust list, the routing key and the entitlement table. The baseline consumer gets a
verifier that checks nothing. The CPU cost of each step alone is reported too, and the
relay-only and consumer-only ratios, so the price of the signatures is visible on its own.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from kombu import Connection
from sqlalchemy import func, insert, select

from bench.outbox_relay import _bodies
from shared.db import inbox, make_engine, make_session_factory, outbox
from shared.events import decode
from shared.messaging import topology
from shared.messaging.consumer import EventConsumer
from shared.messaging.publisher import ConfirmingPublisher
from shared.messaging.topology import ConsumerSpec
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
EVENTS = 5_000
ROUNDS = 3
TARGET_RATIO = 0.8
SPEC = ConsumerSpec(name="bench-signing", bindings=("volunteer.#",))


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


class _Unchecked:
    """The baseline: a consumer that believes every message (what there was before signatures)."""

    def signer_of(self, body, headers):  # noqa: ANN001, ANN201
        return None

    def check_event(self, key, event, routing_key) -> None:  # noqa: ANN001
        return None


def _applied(engine) -> int:  # noqa: ANN001
    with engine.connect() as conn:
        return conn.execute(
            select(func.count()).select_from(inbox).where(inbox.c.consumer == SPEC.name)
        ).scalar_one()


def _relay_and_consume(engine, url, signer, verifier) -> tuple[float, float, float]:  # noqa: ANN001
    """(pipeline events/s, relay µs/event, consumer µs/event) for one round of EVENTS."""
    bodies = _bodies(EVENTS)
    _stage(engine, bodies)
    before = _applied(engine)
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

    consumer = EventConsumer(
        Connection(url, heartbeat=10),
        SPEC,
        lambda event, session: None,  # the inbox row is the effect
        make_session_factory(engine),
        verifier=verifier or _Unchecked(),
        prefetch_count=200,
    )
    consumed_start = time.perf_counter()
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    deadline = consumed_start + 600
    while _applied(engine) - before < len(bodies):
        if time.perf_counter() > deadline:
            raise RuntimeError("the consumer did not apply every event within 600 s")
        time.sleep(0.02)
    done = time.perf_counter()
    consumer.stop()
    thread.join(30)
    relay_s, consume_s = relayed - start, done - consumed_start
    return (
        len(bodies) / (relay_s + consume_s),
        relay_s / len(bodies) * 1e6,
        consume_s / len(bodies) * 1e6,
    )


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
        with Connection(url) as conn:
            topology.declare(conn.default_channel, [SPEC])
        plain: list[tuple[float, float, float]] = []
        signed: list[tuple[float, float, float]] = []
        for n in range(ROUNDS):
            # Alternate which goes first, so neither always meets a warmer broker.
            order = [(plain, None, None), (signed, Signer(key), verifier)]
            for rounds, signer, check in order if n % 2 == 0 else reversed(order):
                rounds.append(_relay_and_consume(engine, url, signer, check))
        cpu = _cpu_microseconds(key, verifier)
        engine.dispose()
    finally:
        infra.delete_vhost(vhost)
        infra.drop_database(db_url)
    value = statistics.median(r[0] for r in signed)
    baseline = statistics.median(r[0] for r in plain)
    ratio = value / baseline
    relay_us = [statistics.median(r[1] for r in x) for x in (plain, signed)]
    consume_us = [statistics.median(r[2] for r in x) for x in (plain, signed)]
    return {
        "name": NAME,
        "value": round(value, 1),
        "unit": "events/s",
        "baseline_name": "the same relay and EventConsumer without signing or verification",
        "baseline_value": round(baseline, 1),
        "ratio": round(ratio, 3),
        "target": {"min_ratio": TARGET_RATIO},
        "meets_target": ratio >= TARGET_RATIO,
        "details": {
            "events_per_round": EVENTS,
            "rounds": ROUNDS,
            "relay_batch_size": 1000,
            "signed_rates": [round(r[0], 1) for r in signed],
            "plain_rates": [round(r[0], 1) for r in plain],
            "relay_microseconds_per_event": {
                "plain": round(relay_us[0]),
                "signed": round(relay_us[1]),
            },
            "relay_only_ratio": round(relay_us[0] / relay_us[1], 3),
            "consumer_microseconds_per_event": {
                "plain": round(consume_us[0]),
                "signed": round(consume_us[1]),
            },
            "consumer_only_ratio": round(consume_us[0] / consume_us[1], 3),
            "signature": "Ed25519 over the body (PyNaCl/libsodium), headers x-vir-signature/key-id",
            "consumer_side": "EventConsumer: decode+validate, inbox row committed in PostgreSQL, "
            "ack; signed: + signature, trust list, routing, entitlement",
            "queue": "quorum",
            "cpu_microseconds_per_event": cpu,
            "note": "routing_and_entitlement includes a signature check and a decode",
        },
    }
