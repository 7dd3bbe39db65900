"""A hostile peer with full broker permissions: publish anything, then read what was refused."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kombu import Connection, Exchange, Producer

from shared.events import Event, encode, new_event
from shared.messaging import topology
from shared.messaging.consumer import REASON_HEADER
from shared.security import Signer, load_or_create_key
from tests.support.infra import wait_until
from tests.support.keys import keyring


def source_of(principal: str) -> str:
    if principal in ("matching", "notifications"):
        return f"/network/{principal}"
    return f"/agencies/{principal}/registry"


def event_as(
    type_: str, source: str, agencies: Iterable[str], data: Mapping[str, Any], **kw: Any
) -> Event:
    subject = str(
        next((data[k] for k in ("match_id", "mobility_id", "agreement_id") if k in data), "s")
    )
    return new_event(type_, source=source, subject=subject, agencies=agencies, data=data, **kw)


def publish(
    amqp_url: str,
    body: bytes,
    routing_key: str,
    headers: Mapping[str, Any] | None = None,
    message_id: str | None = None,
) -> None:
    """Publish as any process holding full permissions on the broker could (guest here)."""
    with Connection(amqp_url) as conn:
        Producer(conn.default_channel).publish(
            body,
            exchange=Exchange(topology.EVENTS_EXCHANGE, type="topic"),
            routing_key=routing_key,
            content_type="application/cloudevents+json",
            content_encoding="binary",
            headers=dict(headers or {}),
            message_id=message_id,
        )


def publish_signed(amqp_url: str, event: Event, principal: str, routing_key: str | None = None):
    body, headers = keyring().signed(event, principal)
    publish(amqp_url, body, routing_key or event.routing_key, headers, event.id)


def stranger_signer(tmp_dir: Any, principal: str) -> Signer:
    """A well-formed key that no trust list names."""
    return Signer(load_or_create_key(tmp_dir / f"stranger-{principal}.json", principal))


@dataclass
class DeadLetters:
    """Every message that reached the dead-letter queues of `specs`, by queue and message id."""

    amqp_url: str
    specs: list[topology.ConsumerSpec]
    seen: dict[str, dict[str, str]] = field(default_factory=dict)

    def drain(self) -> None:
        with Connection(self.amqp_url) as conn:
            channel = conn.default_channel
            for spec in self.specs:
                found = self.seen.setdefault(spec.name, {})
                while True:
                    message = channel.basic_get(spec.dead_letter_queue, no_ack=True)
                    if message is None:
                        break
                    mid = str(message.properties.get("message_id") or "")
                    found[mid] = str((message.headers or {}).get(REASON_HEADER, ""))

    def reasons(self, message_id: str, consumers: Iterable[str], timeout: float = 30) -> dict:
        names = list(consumers)

        def arrived() -> bool:
            self.drain()
            return all(message_id in self.seen.get(n, {}) for n in names)

        wait_until(arrived, timeout, 0.05, what=f"{message_id} dead-lettered by {names}")
        return {n: self.seen[n][message_id] for n in names}


def bound(specs: Iterable[topology.ConsumerSpec], routing_key: str) -> list[str]:
    """The consumers whose queue receives `routing_key`."""
    return [
        s.name for s in specs if any(topology.topic_matches(p, routing_key) for p in s.bindings)
    ]


def body_of(event: Event) -> bytes:
    return encode(event)


# Who may publish each example of shared/events/examples.py, and one principal who may not.
ENTITLED: dict[str, tuple[str, str]] = {
    "volunteer.registered": ("TG", "ML"),
    "volunteer.updated": ("TG", "NE"),
    "volunteer.withdrawn": ("TG", "matching"),
    "placement.published": ("ML", "TG"),
    "placement.updated": ("ML", "notifications"),
    "placement.closed": ("ML", "TG"),
    "agreement.proposed": ("TG", "ML"),  # ML is a party, but not the proposer named first
    "agreement.approved": ("ML", "TG"),  # TG is a party, but data.agency is ML
    "agreement.activated": ("TG", "NE"),
    "agreement.amended": ("ML", "NE"),
    "agreement.terminated": ("TG", "ML"),
    "agreement.lessons_shared": ("TG", "ML"),  # data.agency is TG
    "match.proposed": ("matching", "TG"),
    "match.confirmed": ("matching", "ML"),
    "match.cancelled": ("matching", "notifications"),
    "match.accepted": ("ML", "TG"),
    "match.declined": ("ML", "NE"),
    "mobility.checklist_updated": ("TG", "ML"),  # ML hosts: the checklist is TG's
    "mobility.started": ("TG", "ML"),  # the departure is the sending agency's step
    "mobility.check_in_submitted": ("ML", "TG"),  # the example is ML's answer as host
    "mobility.check_in_due": ("TG", "ML"),  # the example is an overdue alert: TG sends
    "mobility.hosted": ("ML", "TG"),
    "mobility.review_submitted": ("ML", "TG"),  # the host organisation's review, via ML
    "mobility.incident_reported": ("ML", "TG"),  # reported by ML (data.reported_by)
    "mobility.incident_updated": ("ML", "NE"),
    "mobility.report_submitted": ("ML", "TG"),
    "mobility.completed": ("ML", "matching"),
    "mobility.interrupted": ("TG", "NE"),
    "notification.delivered": ("notifications", "TG"),
    "notification.failed": ("notifications", "matching"),
}
