"""The declared topology is accepted by the real broker and routes as the contract says."""

from __future__ import annotations

import pytest
from kombu import Connection

from shared.events import new_event
from shared.events.examples import EXAMPLES
from shared.messaging import topology
from shared.messaging.publisher import ConfirmingPublisher, OutgoingMessage
from tests.support.infra import get_messages, queue_depth, wait_until

pytestmark = pytest.mark.integration


def _publish(amqp_url: str, routing_keys: list[str]) -> None:
    publisher = ConfirmingPublisher(amqp_url)
    publisher.publish_batch(
        [
            OutgoingMessage(topology.EVENTS_EXCHANGE, key, key.encode(), message_id=key)
            for key in routing_keys
        ]
    )
    publisher.close()


def test_each_consumer_receives_exactly_the_events_it_is_bound_to(amqp_url, vhost):
    specs = topology.network_consumers(["TG", "ML", "NE"])
    with Connection(amqp_url) as conn:
        topology.declare(conn.default_channel, specs)
    keys = [
        "agreement.approved.TG.ML",
        "agreement.proposed.ML.NE",
        "match.proposed.NE.TG",
        "match.accepted.NE.TG",
        "volunteer.registered.TG",
        "mobility.started.TG.ML",
    ]
    _publish(amqp_url, keys)
    expected = {
        "registry.TG": {
            "agreement.approved.TG.ML",
            "match.proposed.NE.TG",
            "match.accepted.NE.TG",
            "mobility.started.TG.ML",
        },
        "registry.ML": {
            "agreement.approved.TG.ML",
            "agreement.proposed.ML.NE",
            "mobility.started.TG.ML",
        },
        "registry.NE": {
            "agreement.proposed.ML.NE",
            "match.proposed.NE.TG",
            "match.accepted.NE.TG",
        },
        # Matching hears the agencies' decisions, not its own proposals.
        "matching": set(keys) - {"mobility.started.TG.ML", "match.proposed.NE.TG"},
        # The network's instance hears what partners are told of: no proposal, no acceptance.
        "notifications": set(keys) - {"match.proposed.NE.TG", "match.accepted.NE.TG"},
        "notifications.TG": {
            "agreement.approved.TG.ML",
            "match.proposed.NE.TG",
            "match.accepted.NE.TG",
            "volunteer.registered.TG",
            "mobility.started.TG.ML",
        },
        "notifications.NE": {
            "agreement.proposed.ML.NE",
            "match.proposed.NE.TG",
            "match.accepted.NE.TG",
        },
    }
    for queue, want in expected.items():
        count = len(want)
        wait_until(lambda q=queue, n=count: queue_depth(vhost, q) == n, 30, what=queue)
        got = {m["routing_key"] for m in get_messages(vhost, queue, 50)}
        assert got == want, queue


def test_declaring_removes_the_bindings_an_earlier_release_made(amqp_url, vhost):
    """The network's notifications queue of an earlier release was bound to every match.*; once
    declared by this one it no longer receives proposals, and still receives confirmations."""
    spec = topology.notifications_consumer()
    earlier = topology.ConsumerSpec(name=spec.name, bindings=spec.retired_bindings)
    with Connection(amqp_url) as conn:
        topology.declare(conn.default_channel, [earlier])
        topology.declare(conn.default_channel, [spec])
        topology.declare(conn.default_channel, [spec])  # again: nothing left to unbind
    _publish(amqp_url, ["match.proposed.TG.ML", "match.confirmed.TG.ML"])
    wait_until(lambda: queue_depth(vhost, spec.queue) >= 1, 30, what="the confirmation")
    got = [m["routing_key"] for m in get_messages(vhost, spec.queue, 50)]
    assert got == ["match.confirmed.TG.ML"]


def test_a_retry_queue_returns_its_message_to_the_consumer_queue_after_its_ttl(amqp_url, vhost):
    spec = topology.ConsumerSpec(
        name="ttl-check", bindings=("volunteer.#",), retry_delays_ms=(200,)
    )
    with Connection(amqp_url) as conn:
        topology.declare(conn.default_channel, [spec])
    agencies, data = EXAMPLES["volunteer.withdrawn"]
    event = new_event(
        "volunteer.withdrawn",
        source="/agencies/TG/registry",
        subject="v",
        agencies=agencies,
        data=data,
    )
    publisher = ConfirmingPublisher(amqp_url)
    publisher.publish_batch(
        [
            OutgoingMessage(
                topology.RETRY_EXCHANGE, spec.retry_queue(1), b"again", message_id=event.id
            )
        ]
    )
    publisher.close()
    wait_until(lambda: queue_depth(vhost, spec.queue) == 1, 30, what="message back home")
    assert queue_depth(vhost, spec.retry_queue(1)) == 0
