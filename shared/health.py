"""Health and metrics endpoints every service mounts: /health/live, /health/ready, /metrics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest
from sqlalchemy import Engine, text

from shared.outbox import backlog

Check = Callable[[], dict[str, Any]]

OUTBOX_BACKLOG = Gauge(
    "vir_outbox_backlog", "Outbox events committed but not yet confirmed by the broker", ["service"]
)
OUTBOX_OLDEST = Gauge(
    "vir_outbox_oldest_unpublished_seconds",
    "Age of the oldest unpublished outbox event",
    ["service"],
)


@dataclass
class Readiness:
    """Readiness = the database answers and every consumer of this process is running.

    A broker outage degrades but does not stop a service: the API keeps writing into the outbox,
    and the backlog shows in the report and the metrics. A consumer that is not running (it died
    and waits for its restart), or has not been connected for longer than its grace period, makes
    the process not ready: the events it should apply are not being applied.
    """

    service: str
    engine: Engine
    backlog_warning: int = 10_000
    extra_checks: dict[str, Check] = field(default_factory=dict)
    # Checks whose "down" makes the process not ready (consumers), not merely degraded.
    required_checks: dict[str, Check] = field(default_factory=dict)

    def report(self) -> tuple[dict[str, Any], bool]:
        checks: dict[str, Any] = {}
        ready = True
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
                b = backlog(conn)
            checks["database"] = {"status": "up"}
            OUTBOX_BACKLOG.labels(self.service).set(b.unpublished)
            OUTBOX_OLDEST.labels(self.service).set(b.oldest_age_seconds or 0)
            checks["outbox"] = {
                "status": "degraded" if b.unpublished >= self.backlog_warning else "up",
                "unpublished": b.unpublished,
                "oldest_unpublished_seconds": b.oldest_age_seconds,
            }
        except Exception as exc:  # noqa: BLE001 - any database failure means not ready
            ready = False
            checks["database"] = {"status": "down", "error": str(exc).splitlines()[0]}
        for name, check in (self.extra_checks | self.required_checks).items():
            try:
                checks[name] = check()
            except Exception as exc:  # noqa: BLE001
                checks[name] = {"status": "down", "error": str(exc)}
            if name in self.required_checks and checks[name].get("status") == "down":
                ready = False
        degraded = any(c.get("status") != "up" for c in checks.values())
        status = "down" if not ready else ("degraded" if degraded else "up")
        return {"service": self.service, "status": status, "checks": checks}, ready


def health_blueprint(readiness: Readiness) -> Blueprint:
    bp = Blueprint("health", __name__)

    @bp.get("/health/live")
    def live() -> Response:
        return jsonify(status="up", service=readiness.service)

    @bp.get("/health/ready")
    def ready() -> tuple[Response, int]:
        body, ok = readiness.report()
        return jsonify(body), 200 if ok else 503

    @bp.get("/metrics")
    def metrics() -> Response:
        readiness.report()  # refresh the outbox gauges at scrape time
        return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)

    return bp
