"""Idempotent event consumer: decode, validate, apply once, ack after commit, retry, dead-letter."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from kombu import Connection, Message
from prometheus_client import Counter
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session, sessionmaker

from shared import inbox
from shared.events import CONTENT_TYPE, Event, InvalidEvent, decode
from shared.events.envelope import MAX_BODY_BYTES
from shared.logging import get_logger
from shared.messaging import topology
from shared.messaging.batches import Batches
from shared.messaging.publisher import OutgoingMessage, Publisher, PublishFailed, make_publisher
from shared.messaging.topology import ConsumerSpec
from shared.security.signing import Refused, Verifier

log = get_logger(__name__)

Handler = Callable[[Event, Session], None]

ATTEMPT_HEADER = "x-vir-attempt"
ROUTING_KEY_HEADER = "x-vir-routing-key"
REASON_HEADER = "x-vir-dead-letter-reason"
CONSUMER_HEADER = "x-vir-consumer"

PROCESSED = Counter(
    "vir_events_consumed_total", "Events taken off a queue, by outcome", ["consumer", "outcome"]
)
REFUSED = Counter(
    "vir_events_refused_total",
    "Events refused by the signature, trust list, routing or entitlement checks",
    ["consumer", "reason"],
)


class PermanentError(Exception):
    """The handler can never apply this event (a business rule refuses it): dead-letter it now."""


class EventConsumer(Batches):
    """Consumes one spec's queue. Every effect commits together with its inbox row, then acks.

    Before anything else, `verifier` checks the signature over the raw body against the trust
    list, then (once decoded) that the routing key is the body's own and that the signer is
    entitled to the event (shared/security). A refused event is dead-lettered with its reason
    code (bad-signature, unknown-key, expired-key, routing-mismatch, not-entitled), counted and
    logged; no handler runs and no inbox row is written.

    Outcomes of a delivery:
    - refused: failed the checks above: dead-lettered, never applied;
    - applied: handler ran, effect and inbox row committed, message acked;
    - duplicate: the inbox already holds (consumer, source, id): acked, handler not run;
    - retry: handler raised; the message goes to the next TTL retry queue, then acked;
    - dead: oversized, undecodable, schema-invalid, refused by the database, PermanentError, or
      retries exhausted: published to the dead-letter queue with the reason in a header, then
      acked. Nothing a message contains escapes `on_message`.
    Retry and dead-letter copies are confirmed by the broker before the original is acked; a crash
    in between only yields a duplicate, which the inbox absorbs.

    Batches: events that passed the checks wait until no other delivery is at hand (or
    `batch_size` are waiting; with `linger`, until the first has waited that long), then are
    applied in one transaction, in their order, and acked after its commit. If anything in it
    fails, it is rolled back and each event is applied on its own as above, so one bad event never
    holds back or takes down the others. A lost connection drops the waiting batch unacked: the
    broker delivers it again.
    """

    def __init__(
        self,
        connection: Connection,
        spec: ConsumerSpec,
        handler: Handler,
        session_factory: sessionmaker[Session],
        *,
        verifier: Verifier,
        publisher: Publisher | None = None,
        prefetch_count: int = 50,
        declare_topology: bool = True,
        reconnect_max_delay: float = 15.0,
        max_event_bytes: int = MAX_BODY_BYTES,
        batch_size: int = 1,
        linger: float = 0.0,
    ):
        self.connection = connection
        self.spec = spec
        self.handler = handler
        self.verifier = verifier
        self.session_factory = session_factory
        self.prefetch_count = prefetch_count
        self.declare_topology = declare_topology
        self.reconnect_max_delay = reconnect_max_delay
        self.max_event_bytes = max_event_bytes
        self.batch_size = max(1, batch_size)
        self.linger = max(0.0, linger)
        self._waiting: list[tuple[Message, Event]] = []
        self.embedded = connection.transport.driver_type == "memory"
        self.publisher = publisher or make_publisher(
            connection.as_uri(include_password=True), declare_topology=declare_topology
        )
        self.ready = threading.Event()
        # Monotonic time since when this consumer has not been consuming (None while it is).
        self.disconnected_since: float | None = time.monotonic()

    # -- kombu wiring ----------------------------------------------------------------------------

    def get_consumers(self, Consumer: Any, channel: Any) -> list[Any]:  # noqa: N803 - kombu API
        if self.embedded:
            topology.declare(channel)
            queue = topology.embedded_queue(self.spec)
        else:
            if self.declare_topology:
                topology.declare(channel, [self.spec])
            queue = topology.main_queue(self.spec)
        return [
            Consumer(
                queues=[queue],
                on_message=self.on_message,
                prefetch_count=self.prefetch_count,
                auto_declare=self.declare_topology,
            )
        ]

    def on_consume_ready(
        self, connection: Any, channel: Any, consumers: Any, **kwargs: Any
    ) -> None:
        self.ready.set()
        self.disconnected_since = None
        log.info("consumer.ready", consumer=self.spec.name)

    def on_consume_end(self, connection: Any, channel: Any) -> None:
        self.not_consuming()

    def not_consuming(self) -> None:
        self.ready.clear()
        if self.disconnected_since is None:
            self.disconnected_since = time.monotonic()

    def on_connection_error(self, exc: Exception, interval: float) -> None:
        self.not_consuming()
        log.warning(
            "consumer.broker_unreachable",
            consumer=self.spec.name,
            retry_in=interval,
            error=str(exc),
        )

    def establish_connection(self):  # noqa: ANN201 - context manager as in kombu
        from contextlib import contextmanager

        @contextmanager
        def _ctx():  # noqa: ANN202
            # A new connection means the last one is gone, whatever the reason (kombu calls no
            # hook for a refused login or a reset socket): not consuming until ready again.
            self.not_consuming()
            with self.create_connection() as conn:
                conn.ensure_connection(
                    self.on_connection_error,
                    self.connect_max_retries,
                    interval_start=0.5,
                    interval_step=1.0,
                    interval_max=self.reconnect_max_delay,
                )
                yield conn

        return _ctx()

    def on_decode_error(self, message: Message, exc: Exception) -> None:
        # kombu's default acks (drops) the message; never lose it silently.
        self._dead_letter(message, f"undecodable body: {exc}")

    def stop(self) -> None:
        self.should_stop = True

    # -- one delivery ----------------------------------------------------------------------------

    def on_message(self, message: Message) -> None:
        if self.embedded and not self._bound(message):
            message.ack()
            return
        body = message.body if isinstance(message.body, bytes) else str(message.body).encode()
        if len(body) > self.max_event_bytes:
            self._dead_letter(
                message, f"invalid event: body of {len(body)} bytes exceeds {self.max_event_bytes}"
            )
            return
        try:
            signer = self.verifier.signer_of(body, message.headers)
        except Refused as exc:
            self._refuse(message, exc)
            return
        event = self._decode(message, body)
        if event is None:
            return
        try:
            self.verifier.check_event(signer, event, self._routing_key_to_check(message))
        except Refused as exc:
            self._refuse(message, exc, event)
            return
        self.wait_or_apply(message, event)

    def _apply(self, message: Message, event: Event) -> None:
        """Apply one event in its own transaction, then ack; retry or dead-letter on failure."""
        try:
            with self.session_factory.begin() as session:
                if inbox.record_once(session, self.spec.name, event):
                    self.handler(event, session)
                    outcome = "applied"
                else:
                    outcome = "duplicate"
        except PermanentError as exc:
            self._dead_letter(message, f"refused by handler: {exc}", event)
            return
        except DataError as exc:
            # A value the database cannot store never will be: retrying would only loop.
            reason = str(exc.orig or exc).splitlines()[0]
            self._dead_letter(message, f"refused by the database: {reason}", event)
            return
        except Exception as exc:  # noqa: BLE001 - any handler failure is retried, then dead-lettered
            self._retry(message, event, exc)
            return
        message.ack()
        PROCESSED.labels(self.spec.name, outcome).inc()

    def count(self, outcome: str) -> None:
        PROCESSED.labels(self.spec.name, outcome).inc()

    def _refuse(self, message: Message, refused: Refused, event: Event | None = None) -> None:
        REFUSED.labels(self.spec.name, refused.code).inc()
        log.warning(
            "consumer.event_refused",
            consumer=self.spec.name,
            reason=refused.code,
            detail=refused.detail,
            event_id=event.id if event else str(message.properties.get("message_id") or "")[:64],
            event_type=event.type if event else None,
        )
        self._dead_letter(message, refused.reason, event)

    def _routing_key_to_check(self, message: Message) -> str:
        # Straight off the events exchange (or a federation link into it), the broker's routing
        # key is the truth and a publisher's x-vir-routing-key header is not believed; a retry
        # comes back through the default exchange and keeps its original key in the header.
        info = message.delivery_info or {}
        if info.get("exchange") == self.spec.exchange:
            return str(info.get("routing_key", ""))
        return self._original_routing_key(message)

    def _decode(self, message: Message, body: bytes) -> Event | None:
        """The event in `body`, or None once the message has been dead-lettered."""
        try:
            return decode(body, max_bytes=self.max_event_bytes)
        except InvalidEvent as exc:
            self._dead_letter(message, f"invalid event: {exc.reason} {exc.errors or ''}".strip())
        except Exception as exc:  # noqa: BLE001 - whatever a body does, it must not stop us
            self._dead_letter(message, f"undecodable body: {type(exc).__name__}: {exc}")
        return None

    def _bound(self, message: Message) -> bool:
        key = self._original_routing_key(message)
        return key == self.spec.queue or any(
            topology.topic_matches(p, key) for p in self.spec.bindings
        )

    def _attempt(self, message: Message) -> int:
        headers = message.headers or {}
        try:
            return int(headers.get(ATTEMPT_HEADER, 0))
        except (TypeError, ValueError):
            return 0

    def _original_routing_key(self, message: Message) -> str:
        headers = message.headers or {}
        return str(headers.get(ROUTING_KEY_HEADER) or message.delivery_info.get("routing_key", ""))

    def _retry(self, message: Message, event: Event, exc: Exception) -> None:
        attempt = self._attempt(message) + 1
        if attempt > len(self.spec.retry_delays_ms):
            self._dead_letter(message, f"gave up after {attempt - 1} retries: {exc!r}", event)
            return
        log.warning(
            "consumer.retry",
            consumer=self.spec.name,
            event_id=event.id,
            event_type=event.type,
            attempt=attempt,
            delay_ms=self.spec.retry_delays_ms[attempt - 1],
            error=repr(exc),
        )
        if self.embedded:
            # The in-process broker has no TTL queues: retry at once through the main queue.
            exchange, key = "", self.spec.queue
        else:
            exchange, key = topology.RETRY_EXCHANGE, self.spec.retry_queue(attempt)
        self._forward(message, exchange, key, {ATTEMPT_HEADER: attempt}, "retry")

    def _dead_letter(self, message: Message, reason: str, event: Event | None = None) -> None:
        reason = reason[:1000]  # a hostile body's values end up in reasons: keep them short
        log.error(
            "consumer.dead_letter",
            consumer=self.spec.name,
            event_id=event.id if event else message.properties.get("message_id"),
            reason=reason,
        )
        self._forward(
            message,
            topology.DEAD_LETTER_EXCHANGE,
            self.spec.name,
            {REASON_HEADER: reason, CONSUMER_HEADER: self.spec.name},
            "dead",
        )

    def _forward(
        self, message: Message, exchange: str, key: str, headers: dict[str, Any], outcome: str
    ) -> None:
        merged = {
            **(message.headers or {}),
            ROUTING_KEY_HEADER: self._original_routing_key(message),
            **headers,
        }
        merged.pop("x-death", None)
        out = OutgoingMessage(
            exchange=exchange,
            routing_key=key,
            body=message.body if isinstance(message.body, bytes) else str(message.body).encode(),
            message_id=str(message.properties.get("message_id") or ""),
            content_type=message.content_type or CONTENT_TYPE,
            headers=merged,
        )
        try:
            self.publisher.publish_batch([out])
        except PublishFailed as exc:
            # Leave the original unacked: the broker redelivers it after we reconnect.
            log.warning("consumer.forward_failed", consumer=self.spec.name, error=str(exc))
            raise ConnectionError(str(exc)) from exc
        message.ack()
        PROCESSED.labels(self.spec.name, outcome).inc()
