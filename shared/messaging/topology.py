"""Every exchange, queue, binding and dead-letter name of the network, declared in one place.

`deploy/rabbitmq/definitions.json` is generated from this module (`vir topology export`) and a
test fails when the two drift.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kombu import Exchange, Queue, binding

EVENTS_EXCHANGE = "vir.events"  # the agency network, routing key <type>.<agency codes>
PUBLIC_EXCHANGE = "vir.public"  # the partner feed: same routing, no personal data
RETRY_EXCHANGE = "vir.retry"  # direct: <consumer>.retry.<n> -> a TTL queue that returns home
DEAD_LETTER_EXCHANGE = "vir.dlx"  # direct: <consumer> -> <consumer>.dead

# Retry delays of a consumer, in milliseconds: bounded, growing; then the dead-letter queue.
DEFAULT_RETRY_DELAYS_MS: tuple[int, ...] = (1_000, 10_000, 60_000, 600_000)
# Redeliveries of one message (a consumer that crashes on it) before the queue dead-letters it.
DEFAULT_DELIVERY_LIMIT = 10


@dataclass(frozen=True)
class ConsumerSpec:
    """One consumer's durable quorum queue, its bindings, retry ladder and dead-letter queue."""

    name: str
    bindings: tuple[str, ...]
    exchange: str = EVENTS_EXCHANGE
    retry_delays_ms: tuple[int, ...] = DEFAULT_RETRY_DELAYS_MS
    delivery_limit: int = DEFAULT_DELIVERY_LIMIT
    extra_arguments: dict[str, Any] = field(default_factory=dict)
    # Bindings an earlier release made and this one does not: `declare` removes them.
    retired_bindings: tuple[str, ...] = ()

    @property
    def queue(self) -> str:
        return self.name

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.name}.dead"

    def retry_queue(self, attempt: int) -> str:
        return f"{self.name}.retry.{attempt}"

    def queue_arguments(self) -> dict[str, Any]:
        return {
            "x-queue-type": "quorum",
            "x-delivery-limit": self.delivery_limit,
            "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
            "x-dead-letter-routing-key": self.name,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
            **self.extra_arguments,
        }

    def retry_queue_arguments(self, attempt: int) -> dict[str, Any]:
        # Expired messages go back to the consumer's own queue through the default exchange,
        # so other consumers bound to the same routing key never see a retry.
        return {
            "x-queue-type": "quorum",
            "x-message-ttl": self.retry_delays_ms[attempt - 1],
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": self.name,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        }

    def dead_letter_queue_arguments(self) -> dict[str, Any]:
        return {"x-queue-type": "quorum"}


def registry_consumer(agency: str) -> ConsumerSpec:
    """A registry node applies agreement, match and mobility events concerning its agency."""
    return ConsumerSpec(
        name=f"registry.{agency}",
        bindings=(
            f"agreement.*.#.{agency}.#",
            f"match.*.#.{agency}.#",
            f"mobility.*.#.{agency}.#",
        ),
    )


def matching_consumer() -> ConsumerSpec:
    """Matching hears the registries' facts and the agencies' decisions, not its own match.*."""
    return ConsumerSpec(
        name="matching",
        bindings=(
            "volunteer.#",
            "placement.#",
            "agreement.#",
            "match.accepted.#",
            "match.declined.#",
        ),
    )


# The event types partners are told of (webhooks and the `vir.public` feed): what the network's
# notifications instance hears. Never a proposal, a check-in or an incident.
PARTNER_TYPES = frozenset(
    {
        "volunteer.registered",
        "match.confirmed",
        "match.declined",
        "match.cancelled",
        "agreement.proposed",
        "agreement.approved",
        "agreement.activated",
        "agreement.amended",
        "agreement.terminated",
        "mobility.started",
        "mobility.report_submitted",
        "mobility.completed",
        "mobility.interrupted",
        "placement.published",
        "placement.closed",
    }
)


def notifications_consumer(agency: str | None = None) -> ConsumerSpec:
    """An agency's instance hears what concerns its agency (and every placement, to word its
    messages); the network instance, which informs partners, hears what partners are told of
    (it was bound to every event, match.proposed included, and dropped what partners are not
    told: one delivery in eight of a registration)."""
    if agency is None:
        return ConsumerSpec(
            name="notifications",
            bindings=(
                "placement.#",
                *sorted(f"{t}.#" for t in PARTNER_TYPES if not t.startswith("placement.")),
            ),
            retired_bindings=("volunteer.#", "agreement.#", "match.#", "mobility.#"),
        )
    return ConsumerSpec(
        name=f"notifications.{agency}",
        bindings=(
            "placement.#",
            *(
                f"{family}.*.#.{agency}.#"
                for family in ("volunteer", "agreement", "match", "mobility")
            ),
        ),
    )


def network_consumers(agencies: Sequence[str]) -> list[ConsumerSpec]:
    """The consumers of a network of `agencies` sharing one broker (or one vhost)."""
    return [
        *(registry_consumer(a) for a in agencies),
        matching_consumer(),
        notifications_consumer(),
        *(notifications_consumer(a) for a in agencies),
    ]


# --- kombu entities ----------------------------------------------------------------------------


def exchanges() -> list[Exchange]:
    return [
        Exchange(EVENTS_EXCHANGE, type="topic", durable=True),
        Exchange(PUBLIC_EXCHANGE, type="topic", durable=True),
        Exchange(RETRY_EXCHANGE, type="direct", durable=True),
        Exchange(DEAD_LETTER_EXCHANGE, type="direct", durable=True),
    ]


def _exchange(name: str) -> Exchange:
    return next(e for e in exchanges() if e.name == name)


def main_queue(spec: ConsumerSpec) -> Queue:
    exchange = _exchange(spec.exchange)

    return Queue(
        spec.queue,
        bindings=[binding(exchange, routing_key=key) for key in spec.bindings],
        durable=True,
        queue_arguments=spec.queue_arguments(),
    )


def topic_matches(pattern: str, routing_key: str) -> bool:
    """AMQP topic semantics: `*` is exactly one word, `#` zero or more words."""

    def match(p: list[str], k: list[str]) -> bool:
        if not p:
            return not k
        if p[0] == "#":
            return any(match(p[1:], k[i:]) for i in range(len(k) + 1))
        if not k:
            return False
        return (p[0] == "*" or p[0] == k[0]) and match(p[1:], k[1:])

    return match(pattern.split("."), routing_key.split("."))


def embedded_queue(spec: ConsumerSpec) -> Queue:
    """For kombu's in-process broker, whose topic emulation mishandles `#` between words: bind
    everything and let the consumer apply `topic_matches` to the spec's bindings itself."""
    return Queue(spec.queue, exchange=_exchange(spec.exchange), routing_key="#", durable=True)


def consumer_queues(spec: ConsumerSpec) -> list[Queue]:
    """The main queue, each retry queue and the dead-letter queue of one consumer."""
    retry = [
        Queue(
            spec.retry_queue(n),
            exchange=_exchange(RETRY_EXCHANGE),
            routing_key=spec.retry_queue(n),
            durable=True,
            queue_arguments=spec.retry_queue_arguments(n),
        )
        for n in range(1, len(spec.retry_delays_ms) + 1)
    ]
    dead = Queue(
        spec.dead_letter_queue,
        exchange=_exchange(DEAD_LETTER_EXCHANGE),
        routing_key=spec.name,
        durable=True,
        queue_arguments=spec.dead_letter_queue_arguments(),
    )
    return [main_queue(spec), *retry, dead]


def declare(channel: Any, specs: Iterable[ConsumerSpec] = ()) -> None:
    """Declare the exchanges and the queues of `specs` (idempotent)."""
    for exchange in exchanges():
        exchange(channel).declare()
    for spec in specs:
        for queue in consumer_queues(spec):
            queue(channel).declare()
        for key in spec.retired_bindings:  # RabbitMQ unbinds what is not bound without error
            main_queue(spec)(channel).unbind_from(_exchange(spec.exchange), routing_key=key)


# --- RabbitMQ definitions (deploy/) -------------------------------------------------------------


def definitions(specs: Iterable[ConsumerSpec], vhost: str = "/") -> dict[str, Any]:
    """The exchanges, queues and bindings of `specs` in RabbitMQ's definitions format."""
    out: dict[str, Any] = {"exchanges": [], "queues": [], "bindings": []}
    for ex in exchanges():
        out["exchanges"].append(
            {
                "name": ex.name,
                "vhost": vhost,
                "type": ex.type,
                "durable": True,
                "auto_delete": False,
                "internal": False,
                "arguments": {},
            }
        )
    for spec in specs:
        for queue in consumer_queues(spec):
            out["queues"].append(
                {
                    "name": queue.name,
                    "vhost": vhost,
                    "durable": True,
                    "auto_delete": False,
                    "arguments": dict(queue.queue_arguments or {}),  # type: ignore[attr-defined]
                }
            )
            keys: list[tuple[str, str]]
            if queue.bindings:
                # kombu keeps bindings in a set: sort them so the generated files are stable.
                keys = sorted((b.exchange.name, b.routing_key) for b in queue.bindings)
            else:
                keys = [(queue.exchange.name, queue.routing_key)]
            for exchange_name, key in keys:
                out["bindings"].append(
                    {
                        "source": exchange_name,
                        "vhost": vhost,
                        "destination": queue.name,
                        "destination_type": "queue",
                        "routing_key": key,
                        "arguments": {},
                    }
                )
    return out
