"""Events that wait together are applied together: one transaction for a batch, and any failure
in it splits the batch so that each event gets its usual outcome (applied, retried, dead)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from shared.events import encode
from shared.messaging.consumer import REASON_HEADER, PermanentError
from shared.messaging.topology import ConsumerSpec
from tests.integration.test_consumer import _dead_letters, _publish_raw
from tests.support import effects
from tests.support.infra import queue_depth, wait_until
from tests.support.running import running_consumer

pytestmark = pytest.mark.integration


def _waiting(engine, amqp_url, vhost, spec: ConsumerSpec, events: list) -> None:
    """Start and stop a consumer once (its queue is declared), publish `events`, and wait until
    they all wait in its queue."""
    with running_consumer(engine, amqp_url, spec, effects.record_effect):
        pass
    for event in events:
        _publish_raw(amqp_url, encode(event))
    wait_until(lambda: queue_depth(vhost, spec.queue) == len(events), 30, what="the events waiting")


class Recorder:
    """A handler noting, for each event it applies, the transaction it ran in."""

    def __init__(self, refuse: str | None = None, failing: str | None = None, failures: int = 0):
        self.refuse, self.failing, self.failures = refuse, failing, failures
        self.calls: list[tuple[str, int]] = []
        self.lock = threading.Lock()

    def __call__(self, event, session) -> None:  # noqa: ANN001
        txid = session.execute(text("SELECT txid_current()")).scalar_one()
        with self.lock:
            self.calls.append((event.id, txid))
            failing = event.id == self.failing and self.failures > 0
            if failing:
                self.failures -= 1
        if event.id == self.refuse:
            raise PermanentError("volunteer unknown to this node")
        if failing:
            raise RuntimeError("transient")
        effects.record_effect(event, session)


def test_waiting_events_are_applied_in_order_a_batch_per_transaction(engine, amqp_url, vhost):
    spec = ConsumerSpec(name="batched", bindings=("volunteer.#",), retry_delays_ms=(100,))
    events = [effects.volunteer_event(n) for n in range(30)]
    _waiting(engine, amqp_url, vhost, spec, events)
    handler = Recorder()
    with running_consumer(engine, amqp_url, spec, handler, batch_size=10):
        wait_until(lambda: effects.tally(engine).applied == 30, 30, what="all applied")
        wait_until(lambda: queue_depth(vhost, spec.queue) == 0, 30, what="all acked")
    assert [event_id for event_id, _ in handler.calls] == [e.id for e in events]
    transactions = {txid for _, txid in handler.calls}
    assert len(transactions) <= 6, f"{len(transactions)} transactions for 30 waiting events"
    assert effects.tally(engine).duplicates == 0


@pytest.mark.parametrize(("linger", "transactions"), [(0.0, 3), (3.0, 1)])
def test_a_lingering_consumer_gathers_events_arriving_one_by_one(
    engine, amqp_url, vhost, linger, transactions
):
    """Events published one after the other (each on a connection of its own: far more than
    BATCH_GAP apart) are applied each alone, unless the consumer lingers: then the first waits
    for the others and they share one transaction."""
    spec = ConsumerSpec(name="lingering", bindings=("volunteer.#",), retry_delays_ms=(100,))
    with running_consumer(engine, amqp_url, spec, effects.record_effect):
        pass  # its queue is declared
    events = [effects.volunteer_event(n) for n in range(3)]
    handler = Recorder()
    with running_consumer(engine, amqp_url, spec, handler, batch_size=20, linger=linger):
        for event in events:
            _publish_raw(amqp_url, encode(event))
        wait_until(lambda: effects.tally(engine).applied == 3, 30, what="all applied")
        wait_until(lambda: queue_depth(vhost, spec.queue) == 0, 30, what="all acked")
    assert [event_id for event_id, _ in handler.calls] == [e.id for e in events]
    assert len({txid for _, txid in handler.calls}) == transactions


def test_a_refused_event_in_a_batch_is_dead_lettered_and_the_others_applied_once(
    engine, amqp_url, vhost
):
    spec = ConsumerSpec(name="batched-strict", bindings=("volunteer.#",), retry_delays_ms=(100,))
    events = [effects.volunteer_event(n) for n in range(12)]
    bad = events[4]
    _waiting(engine, amqp_url, vhost, spec, [*events, events[7]])  # one of them delivered twice
    handler = Recorder(refuse=bad.id)
    with running_consumer(engine, amqp_url, spec, handler, batch_size=20):
        dead = _dead_letters(vhost, spec, 1)
        wait_until(lambda: effects.tally(engine).applied == 11, 30, what="the others applied")
        wait_until(lambda: queue_depth(vhost, spec.queue) == 0, 30, what="all acked")
    tally = effects.tally(engine)
    assert tally.ids == {e.id for e in events if e is not bad} and tally.duplicates == 0
    assert dead[0]["properties"]["headers"][REASON_HEADER] == (
        "refused by handler: volunteer unknown to this node"
    )


@pytest.mark.parametrize("failures", [1, 2])
def test_a_transient_failure_in_a_batch_retries_that_event_alone(engine, amqp_url, vhost, failures):
    spec = ConsumerSpec(name="batched-flaky", bindings=("volunteer.#",), retry_delays_ms=(100,))
    events = [effects.volunteer_event(n) for n in range(8)]
    _waiting(engine, amqp_url, vhost, spec, events)
    flaky = events[3]
    handler = Recorder(failing=flaky.id, failures=failures)
    with running_consumer(engine, amqp_url, spec, handler, batch_size=20):
        wait_until(lambda: effects.tally(engine).applied == 8, 30, what="all applied")
    assert effects.tally(engine).duplicates == 0
    # In the batch (failing), then alone at once; failing again alone, it goes to the retry
    # queue like any event, and comes back once.
    assert [event_id for event_id, _ in handler.calls].count(flaky.id) == 1 + failures
    others = [event_id for event_id, _ in handler.calls if event_id != flaky.id]
    assert set(others) == {e.id for e in events if e is not flaky}
    assert all(queue_depth(vhost, q) == 0 for q in (spec.queue, spec.dead_letter_queue))
