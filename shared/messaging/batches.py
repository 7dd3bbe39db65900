"""Events that wait together are applied together: the batching half of `EventConsumer`.

Checked events wait until no delivery arrives within BATCH_GAP (or `batch_size` wait; with a
`linger`, until the first of them has waited that long, so that a steady trickle is gathered
too), then are applied in one transaction, in their order, and acked after its commit. Any
failure rolls the batch back and applies each event on its own (`EventConsumer._apply`), so one
bad event never holds back the others and each gets the outcome it would have had alone. A lost
connection drops the waiting batch unacked: the broker delivers it again.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from itertools import count
from time import monotonic
from typing import Any

from kombu import Message
from kombu.mixins import ConsumerMixin
from sqlalchemy.orm import Session, sessionmaker

from shared import inbox
from shared.events import Event
from shared.logging import get_logger
from shared.messaging.topology import ConsumerSpec

log = get_logger(__name__)

# With events waiting in a batch, how long to wait for one more before applying them (seconds).
BATCH_GAP = 0.001


class Batches(ConsumerMixin, ABC):
    """The base of `EventConsumer`, which provides the two abstract methods below."""

    batch_size: int = 1
    linger: float = 0.0  # seconds the first waiting event may wait for others (0: BATCH_GAP)
    _waiting: list[tuple[Message, Event]]
    _apply_at: float = 0.0  # with a linger: when the waiting batch is applied at the latest
    spec: ConsumerSpec
    session_factory: sessionmaker[Session]
    handler: Any

    @abstractmethod
    def _apply(self, message: Message, event: Event) -> None:
        """Apply one event in a transaction of its own, with its own outcome."""

    @abstractmethod
    def count(self, outcome: str) -> None:
        """Count an outcome in the consumer's metrics."""

    def wait_or_apply(self, message: Message, event: Event) -> None:
        """Apply `event` now (batches of one), or add it to the waiting batch."""
        if self.batch_size == 1:
            self._apply(message, event)
            return
        if not self._waiting:
            self._apply_at = monotonic() + self.linger
        self._waiting.append((message, event))
        if len(self._waiting) >= self.batch_size:
            self._apply_waiting()

    def consume(
        self,
        limit: int | None = None,
        timeout: float | None = None,
        safety_interval: float = 1,
        **kwargs: Any,
    ) -> Iterator[None]:
        """kombu's consume loop, which also applies the waiting batch as soon as no delivery
        arrives within BATCH_GAP."""
        elapsed = 0.0
        with self.consumer_context(**kwargs) as (conn, _channel, _consumers):
            try:
                for _ in range(limit) if limit else count():
                    if self.should_stop:
                        break
                    self.on_iteration()
                    batching = bool(self._waiting)
                    wait = safety_interval
                    if batching:
                        wait = max(0.0, self._apply_at - monotonic()) if self.linger else BATCH_GAP
                        if wait == 0.0:
                            self._apply_waiting()
                            continue
                    try:
                        conn.drain_events(timeout=wait)
                    except TimeoutError:  # socket.timeout
                        if batching:
                            self._apply_waiting()
                            continue
                        conn.heartbeat_check()
                        elapsed += safety_interval
                        if timeout and elapsed >= timeout:
                            raise
                    except OSError:
                        if not self.should_stop:
                            raise
                    else:
                        yield
                        elapsed = 0
                if self._waiting and not self.should_stop:
                    self._apply_waiting()
            finally:
                self._waiting = []  # unacked: the broker delivers them again

    def _apply_waiting(self) -> None:
        """Apply the waiting events in one transaction; on any failure, each on its own."""
        batch, self._waiting = self._waiting, []
        if len(batch) == 1:
            self._apply(*batch[0])
            return
        outcomes = []
        try:
            with self.session_factory.begin() as session:
                for _, event in batch:
                    if inbox.record_once(session, self.spec.name, event):
                        self.handler(event, session)
                        outcomes.append("applied")
                    else:
                        outcomes.append("duplicate")
        except Exception as exc:  # noqa: BLE001 - whichever failed, apply them one by one
            log.info(
                "consumer.batch_split", consumer=self.spec.name, events=len(batch), error=repr(exc)
            )
            for message, event in batch:
                self._apply(message, event)
            return
        for (message, _), outcome in zip(batch, outcomes, strict=True):
            message.ack()
            self.count(outcome)
