"""Publishers: pipelined publisher confirms on RabbitMQ, plain kombu for the embedded broker."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import amqp
from kombu import Connection, Producer

from shared.logging import get_logger
from shared.messaging import memory, topology

log = get_logger(__name__)


class PublishFailed(Exception):
    """The broker did not confirm every message of a batch: treat the whole batch as unsent."""


@dataclass(frozen=True)
class OutgoingMessage:
    exchange: str
    routing_key: str
    body: bytes
    message_id: str
    content_type: str = "application/json"
    headers: dict[str, Any] = field(default_factory=dict)


class Publisher(Protocol):
    def publish_batch(self, messages: Sequence[OutgoingMessage]) -> None: ...
    def heartbeat(self) -> None: ...
    def close(self) -> None: ...


class ConfirmingPublisher:
    """Publishes a batch on a channel in confirm mode, then waits for every confirm at once.

    One round trip per batch instead of per message; a nack, a timeout or a lost connection
    raises PublishFailed and drops the connection, so nothing of that batch counts as sent.
    """

    def __init__(
        self,
        url: str,
        *,
        confirm_timeout: float = 10.0,
        heartbeat: int = 30,
        connect_timeout: float = 5.0,
        declare_topology: bool = True,
    ):
        self.url = url
        self.confirm_timeout = confirm_timeout
        self.heartbeat_interval = heartbeat
        self.connect_timeout = connect_timeout
        self.declare_topology = declare_topology
        self._connection: Connection | None = None
        self._channel: Any = None
        self._next_tag = 1
        self._pending: set[int] = set()
        self._nacked = False

    # -- connection ------------------------------------------------------------------------------

    def _connect(self) -> Any:
        if self._channel is not None:
            return self._channel
        connection = Connection(
            self.url, heartbeat=self.heartbeat_interval, connect_timeout=self.connect_timeout
        )
        try:
            connection.connect()
            channel = connection.channel()
            if self.declare_topology:
                for exchange in topology.exchanges():
                    exchange(channel).declare()
            channel.confirm_select()
            channel.events["basic_ack"].add(self._on_ack)
            channel.events["basic_nack"].add(self._on_nack)
        except Exception as exc:
            connection.release()
            raise PublishFailed(f"cannot reach broker: {exc}") from exc
        self._connection, self._channel = connection, channel
        self._next_tag, self._pending, self._nacked = 1, set(), False
        return channel

    def _drop(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            try:
                connection.release()
            except Exception:  # noqa: BLE001 - the connection is already broken
                pass

    def close(self) -> None:
        self._drop()

    def heartbeat(self) -> None:
        """Keep an idle connection alive (and notice a dead one)."""
        if self._connection is None:
            return
        try:
            self._connection.heartbeat_check()
            self._connection.drain_events(timeout=0)
        except TimeoutError:
            pass
        except Exception as exc:  # noqa: BLE001 - any failure means reconnect on next batch
            log.info("publisher.connection_lost", error=str(exc))
            self._drop()

    # -- confirms --------------------------------------------------------------------------------

    def _on_ack(self, delivery_tag: int, multiple: bool) -> None:
        if multiple:
            self._pending = {t for t in self._pending if t > delivery_tag}
        else:
            self._pending.discard(delivery_tag)

    def _on_nack(self, delivery_tag: int, multiple: bool) -> None:
        self._nacked = True
        self._on_ack(delivery_tag, multiple)

    def publish_batch(self, messages: Sequence[OutgoingMessage]) -> None:
        if not messages:
            return
        channel = self._connect()
        try:
            for m in messages:
                channel.basic_publish(
                    amqp.Message(
                        m.body,
                        content_type=m.content_type,
                        message_id=m.message_id,
                        delivery_mode=2,
                        application_headers=m.headers or None,
                    ),
                    exchange=m.exchange,
                    routing_key=m.routing_key,
                )
                self._pending.add(self._next_tag)
                self._next_tag += 1
            deadline = time.monotonic() + self.confirm_timeout
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise PublishFailed(
                        f"{len(self._pending)} of {len(messages)} messages not confirmed "
                        f"within {self.confirm_timeout}s"
                    )
                try:
                    self._connection.drain_events(timeout=remaining)  # type: ignore[union-attr]
                except TimeoutError:
                    continue
        except PublishFailed:
            self._drop()
            raise
        except Exception as exc:  # noqa: BLE001 - connection and channel errors of any transport
            self._drop()
            raise PublishFailed(f"publish interrupted: {exc!r}") from exc
        if self._nacked:
            self._drop()
            raise PublishFailed("the broker refused (nacked) a message of the batch")


class KombuPublisher:
    """For kombu's in-process `memory://` broker (embedded demo): it has no confirms at all."""

    def __init__(self, url: str = "memory://", connection: Connection | None = None):
        self._connection = connection or memory.connection(url)
        self._producer: Producer | None = None

    def publish_batch(self, messages: Sequence[OutgoingMessage]) -> None:
        if self._producer is None:
            channel = self._connection.default_channel
            topology.declare(channel)
            self._producer = Producer(channel)
        for m in messages:
            self._producer.publish(
                m.body,
                exchange=m.exchange,
                routing_key=m.routing_key,
                content_type=m.content_type,
                content_encoding="binary",
                message_id=m.message_id,
                headers=m.headers,
                delivery_mode=2,
            )

    def heartbeat(self) -> None:
        return None

    def close(self) -> None:
        self._connection.release()


def make_publisher(url: str, **options: Any) -> Publisher:
    if url.startswith("memory://"):
        return KombuPublisher(url)
    return ConfirmingPublisher(url, **options)
