"""Idempotent consumer: dead letters with reasons, retries through TTL queues, duplicates."""

from __future__ import annotations

import json

import pytest
from kombu import Connection, Exchange, Producer
from sqlalchemy import text

from shared.events import encode
from shared.messaging.consumer import REASON_HEADER, PermanentError
from shared.messaging.topology import ConsumerSpec
from tests.support import effects
from tests.support.infra import get_messages, queue_depth, wait_until
from tests.support.keys import keyring
from tests.support.running import running_consumer

pytestmark = pytest.mark.integration


def _publish_raw(amqp_url: str, body: bytes, routing_key: str = "volunteer.withdrawn.TG") -> None:
    """Publish `body` as TG's node would: signed with TG's key, whatever the body holds."""
    with Connection(amqp_url) as conn:
        Producer(conn.default_channel).publish(
            body,
            exchange=Exchange("vir.events", type="topic"),
            routing_key=routing_key,
            content_type="application/cloudevents+json",
            content_encoding="binary",
            headers=keyring().headers(body, "TG"),
        )


def _dead_letters(vhost: str, spec: ConsumerSpec, expected: int) -> list[dict]:
    wait_until(
        lambda: queue_depth(vhost, spec.dead_letter_queue) >= expected, 30, what="dead letters"
    )
    return get_messages(vhost, spec.dead_letter_queue, expected)


def test_malformed_and_invalid_messages_are_dead_lettered_with_reason_and_the_queue_flows(
    engine, amqp_url, vhost
):
    spec = effects.SPEC
    good = [effects.volunteer_event(n) for n in range(5)]
    schema_invalid = json.loads(encode(effects.volunteer_event(99)))
    schema_invalid["data"]["reason"] = "not-a-reason"
    with running_consumer(engine, amqp_url, spec, effects.record_effect):
        _publish_raw(amqp_url, encode(good[0]))
        _publish_raw(amqp_url, b"{not json at all")
        _publish_raw(amqp_url, json.dumps(schema_invalid).encode())
        for event in good[1:]:
            _publish_raw(amqp_url, encode(event))
        wait_until(lambda: effects.tally(engine).distinct == 5, 30, what="good events applied")
        dead = _dead_letters(vhost, spec, 2)

    assert effects.tally(engine).ids == {e.id for e in good}
    reasons = sorted(m["properties"]["headers"][REASON_HEADER] for m in dead)
    assert reasons[0].startswith("invalid event: body is not JSON")
    assert "data is invalid" in reasons[1] and "reason" in reasons[1]
    assert {m["payload"] for m in dead} >= {"{not json at all"}
    assert all(
        m["properties"]["headers"]["x-vir-routing-key"] == "volunteer.withdrawn.TG" for m in dead
    )


def test_a_failing_handler_is_retried_with_backoff_then_dead_lettered(engine, amqp_url, vhost):
    spec = ConsumerSpec(name="flaky", bindings=("volunteer.#",), retry_delays_ms=(100, 300))
    attempts: list[str] = []

    def always_fails(event, session):
        attempts.append(event.id)
        raise RuntimeError("the database of a partner is on fire")

    event = effects.volunteer_event(1)
    with running_consumer(engine, amqp_url, spec, always_fails):
        _publish_raw(amqp_url, encode(event))
        dead = _dead_letters(vhost, spec, 1)
    # First delivery plus one per retry queue, each after its TTL, then the dead-letter queue.
    assert attempts == [event.id] * 3
    headers = dead[0]["properties"]["headers"]
    assert headers[REASON_HEADER].startswith("gave up after 2 retries: RuntimeError(")
    assert headers["x-vir-attempt"] == 2
    # The retries and the dead letter keep the original signature: it verified on each attempt.
    assert headers["x-vir-key-id"] == keyring().key("TG").kid
    assert headers["x-vir-signature"] == keyring().headers(encode(event), "TG")["x-vir-signature"]
    assert effects.tally(engine).applied == 0


def test_a_handler_that_recovers_applies_the_event_once(engine, amqp_url):
    spec = ConsumerSpec(name="recovering", bindings=("volunteer.#",), retry_delays_ms=(100, 100))
    calls: list[int] = []

    def fails_once_then_works(event, session):
        calls.append(1)
        effects.record_effect(event, session)  # written, then rolled back by the failure
        if len(calls) == 1:
            raise RuntimeError("transient")

    event = effects.volunteer_event(1)
    with running_consumer(engine, amqp_url, spec, fails_once_then_works):
        _publish_raw(amqp_url, encode(event))
        wait_until(lambda: effects.tally(engine).applied == 1, 30, what="effect after retry")
    assert len(calls) == 2
    assert effects.tally(engine).applied == 1


def test_a_permanent_refusal_is_dead_lettered_at_once(engine, amqp_url, vhost):
    spec = ConsumerSpec(name="strict", bindings=("volunteer.#",), retry_delays_ms=(100,))

    def refuses(event, session):
        raise PermanentError("volunteer unknown to this node")

    with running_consumer(engine, amqp_url, spec, refuses):
        _publish_raw(amqp_url, encode(effects.volunteer_event(1)))
        dead = _dead_letters(vhost, spec, 1)
    assert dead[0]["properties"]["headers"][REASON_HEADER] == (
        "refused by handler: volunteer unknown to this node"
    )


def test_a_value_the_database_refuses_is_dead_lettered_at_once_not_retried(engine, amqp_url, vhost):
    spec = ConsumerSpec(name="stored", bindings=("volunteer.#",), retry_delays_ms=(100, 100))
    calls: list[str] = []

    def stores_too_long_a_value(event, session):
        calls.append(event.id)
        # What an over-long id does to a varchar(64) column on PostgreSQL.
        session.execute(text("CREATE TEMP TABLE IF NOT EXISTS short (v varchar(64))"))
        session.execute(text("INSERT INTO short VALUES (:v)"), {"v": event.id * 3})

    event = effects.volunteer_event(1)
    with running_consumer(engine, amqp_url, spec, stores_too_long_a_value):
        _publish_raw(amqp_url, encode(event))
        dead = _dead_letters(vhost, spec, 1)
    assert calls == [event.id]  # no retry: it would fail the same way
    reason = dead[0]["properties"]["headers"][REASON_HEADER]
    assert reason.startswith("refused by the database: value too long")
    assert all(queue_depth(vhost, spec.retry_queue(n)) == 0 for n in (1, 2))


def test_the_same_event_delivered_twice_is_applied_once(engine, amqp_url, vhost):
    event = effects.volunteer_event(7)
    marker = effects.volunteer_event(8)
    with running_consumer(engine, amqp_url, effects.SPEC, effects.record_effect):
        _publish_raw(amqp_url, encode(event))
        _publish_raw(amqp_url, encode(event))
        _publish_raw(amqp_url, encode(marker))
        wait_until(lambda: marker.id in effects.tally(engine).ids, 30, what="marker applied")
        wait_until(lambda: queue_depth(vhost, effects.SPEC.queue) == 0, 30, what="queue drained")
    tally = effects.tally(engine)
    assert tally.applied == 2 and tally.duplicates == 0
