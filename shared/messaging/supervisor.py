"""Keeps a consumer running: restarts its thread when it dies, and tells readiness the truth."""

from __future__ import annotations

import threading
import time
from typing import Any

from prometheus_client import Counter, Gauge

from shared.logging import get_logger
from shared.messaging.consumer import EventConsumer

log = get_logger(__name__)

RESTARTS = Counter(
    "vir_consumer_restarts_total", "Consumer threads restarted after they died", ["consumer"]
)
RUNNING = Gauge(
    "vir_consumer_running", "1 while a consumer is running and connected, else 0", ["consumer"]
)


class Supervisor:
    """Runs `consumer.run` until `stop` is set; when it raises or returns early, waits (doubling
    from `restart_delay` up to `max_restart_delay`, reset once a run lasted `stable_after`
    seconds) and starts it again.

    `status()` is a readiness check: down while the consumer is not running (between a crash and
    its restart), or not connected to the broker for longer than `connect_grace` seconds.
    """

    def __init__(
        self,
        consumer: EventConsumer,
        stop: threading.Event,
        *,
        restart_delay: float = 1.0,
        max_restart_delay: float = 30.0,
        connect_grace: float = 30.0,
        stable_after: float = 60.0,
    ):
        self.consumer = consumer
        self.stop = stop
        self.restart_delay = restart_delay
        self.max_restart_delay = max_restart_delay
        self.connect_grace = connect_grace
        self.stable_after = stable_after
        self.name = consumer.spec.name
        self.running = False
        self.restarts = 0
        self.last_error: str | None = None

    def run(self) -> None:
        delay = self.restart_delay
        while not self.stop.is_set():
            started = time.monotonic()
            self.running = True
            try:
                self.consumer.run()
                if self.stop.is_set() or self.consumer.should_stop:
                    return
                self.last_error = "consumer returned"
                log.error("consumer.stopped_unexpectedly", consumer=self.name)
            except Exception as exc:  # noqa: BLE001 - the point is to survive anything
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                log.exception("consumer.died", consumer=self.name)
            finally:
                self.running = False
                self.consumer.not_consuming()
            if time.monotonic() - started >= self.stable_after:
                delay = self.restart_delay
            log.warning("consumer.restarting", consumer=self.name, in_seconds=delay)
            if self.stop.wait(delay):
                return
            delay = min(delay * 2, self.max_restart_delay)
            self.restarts += 1
            RESTARTS.labels(self.name).inc()

    def status(self) -> dict[str, Any]:
        connected = self.running and self.consumer.ready.is_set()
        RUNNING.labels(self.name).set(1 if connected else 0)
        report: dict[str, Any] = {"restarts": self.restarts}
        if self.last_error:
            report["last_error"] = self.last_error
        if connected:
            return {"status": "up", **report}
        if not self.running:
            return {"status": "down", "error": "consumer not running", **report}
        since = self.consumer.disconnected_since
        waited = time.monotonic() - since if since is not None else 0.0
        if waited > self.connect_grace:
            return {"status": "down", "error": f"not connected for {waited:.0f}s", **report}
        return {"status": "connecting", **report}
