"""kombu's in-process broker (`memory://`), woken by each message put instead of polled.

kombu's memory transport looks at its queues once per `polling_interval` (1 s by default) when
they are empty, which adds up to a second to every hop of the embedded network. This transport
shares kombu's in-memory queues and exchanges, and has its consumers wait on a condition that
every put signals.
"""

from __future__ import annotations

import threading
import time
from queue import Empty
from typing import Any

from kombu import Connection
from kombu.transport import memory

_arrived = threading.Condition()
_generation = 0


def _signal() -> None:
    global _generation
    with _arrived:
        _generation += 1
        _arrived.notify_all()


class Channel(memory.Channel):
    def _put(self, queue: str, message: Any, **kwargs: Any) -> None:
        super()._put(queue, message, **kwargs)
        _signal()

    def _put_fanout(
        self, exchange: str, message: Any, routing_key: Any = None, **kwargs: Any
    ) -> None:
        super()._put_fanout(exchange, message, routing_key, **kwargs)
        _signal()


class Transport(memory.Transport):
    Channel = Channel

    def drain_events(self, connection: Any, timeout: Any = None) -> None:  # type: ignore[override]
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with _arrived:
                seen = _generation
            try:
                self.cycle.get(self._deliver, timeout=timeout)  # type: ignore[attr-defined]
                return
            except Empty:
                pass
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise TimeoutError()
            with _arrived:
                if _generation == seen:  # nothing was put since we looked
                    _arrived.wait(remaining)


def is_memory(url: str) -> bool:
    return url.startswith("memory://")


def connection(url: str, **options: Any) -> Connection:
    """A kombu Connection to `url`; the woken in-process transport for `memory://`."""
    if is_memory(url):
        # A host name, or kombu warns on every connection that none was given.
        return Connection("memory://localhost/", transport=Transport, **options)
    return Connection(url, **options)
