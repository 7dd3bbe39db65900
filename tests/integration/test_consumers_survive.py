"""Consumers no message can stop, on the real broker and databases: hostile bodies are
dead-lettered with their reasons, the flow goes on, and readiness tells the truth throughout."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection, Exchange, Producer
from sqlalchemy import func, select

from services.matching.adapters.orm import VolunteerView
from services.notifications.adapters.orm import Delivery
from services.notifications.config import Options
from shared.events import encode, new_event
from shared.events.examples import EXAMPLES
from shared.messaging.consumer import REASON_HEADER
from shared.messaging.topology import matching_consumer, notifications_consumer, registry_consumer
from tests.support.infra import get_messages, queue_depth, wait_until
from tests.support.keys import keyring
from tests.support.nodes import running_matching, running_notifications, running_registry, serving
from tests.support.registry import volunteer_payload

pytestmark = pytest.mark.integration

# match.accepted.TG.ML reaches TG's registry, matching and TG's notifications instance alike.
ROUTING_KEY = "match.accepted.TG.ML"


def _publish(amqp_url: str, body: bytes, routing_key: str = ROUTING_KEY) -> None:
    # Signed with TG's real key: a trusted node gone wrong (or a bug in it) must not stop anyone
    # either, so the bodies get past the signature check to the envelope's limits.
    with Connection(amqp_url) as conn:
        Producer(conn.default_channel).publish(
            body,
            headers=keyring().headers(body, "TG"),
            exchange=Exchange("vir.events", type="topic"),
            routing_key=routing_key,
            content_type="application/cloudevents+json",
            content_encoding="binary",
        )


def _decision(**attributes: Any) -> dict[str, Any]:
    agencies, data = EXAMPLES["match.accepted"]
    event = new_event(
        "match.accepted",
        source="/agencies/TG/registry",
        subject="m-1",
        agencies=agencies,
        data=data,
    )
    return {**json.loads(encode(event)), **attributes}


def hostile_bodies() -> dict[str, tuple[bytes, str]]:
    """name -> (body, what its dead-letter reason must say)."""
    nested = _decision()
    nested["data"]["reason"] = None
    deep = json.dumps(nested).replace('"reason": null', '"reason": ' + "[" * 1000 + "]" * 1000)
    big = _decision()
    big["data"]["reason"] = "x" * (10 * 1024 * 1024)
    utf8 = (
        json.dumps(_decision(subject="m-\u00e9"), ensure_ascii=False)
        .encode()
        .replace(b"\xc3\xa9", b"\xc3\x28")
    )
    return {
        "1,000 levels": (deep.encode(), "nested deeper than"),
        "2 MB id": (json.dumps(_decision(id="e" * 2_000_000)).encode(), "exceeds 262144"),
        "100 KB id": (json.dumps(_decision(id="e" * 100_000)).encode(), "'id' is longer than 64"),
        "10 MB body": (json.dumps(big).encode(), "exceeds 262144"),
        "invalid UTF-8": (utf8, "not valid UTF-8"),
    }


class ReadinessWatch:
    """Polls /health/ready of some apps while a test runs; keeps every answer."""

    def __init__(self, apps: dict[str, Any]):
        self.apps = apps
        self.answers: list[tuple[str, int, dict]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        clients = {name: app.test_client() for name, app in self.apps.items()}
        while not self.stop.wait(0.05):
            for name, client in clients.items():
                r = client.get("/health/ready")
                self.answers.append((name, r.status_code, r.get_json()))

    def __enter__(self) -> ReadinessWatch:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)


def _consumer_checks(body: dict) -> dict[str, dict]:
    return {k: v for k, v in body["checks"].items() if k.startswith("consumer ")}


def test_hostile_bodies_are_dead_lettered_with_reasons_and_a_registration_still_flows(
    amqp_url, vhost, tmp_path: Path
):
    from services.matching.api import create_app as matching_app
    from services.notifications.api import create_app as notifications_app

    bodies = hostile_bodies()
    with running_registry("TG", amqp_url) as tg, serving(tg.app) as tg_url:
        options = Options(
            registry_url=tg_url,
            registry_token=tg.tokens["node"],
            mail_dir=str(tmp_path / "mail"),
            sms_file=str(tmp_path / "sms.jsonl"),
            dispatch_interval=0.1,
        )
        with (
            running_matching(amqp_url) as matching,
            running_notifications(amqp_url, "TG", options) as notifications,
        ):
            apps = {
                "registry": tg.app,
                "matching": matching.app,
                "notifications": notifications_app(runtime=notifications),
            }
            assert matching_app  # the matching node's app is already built by the fixture
            with ReadinessWatch(apps) as watch:
                wait_until(lambda: len(watch.answers) >= 3, 10, what="first readiness answers")
                for body, _ in bodies.values():
                    _publish(amqp_url, body)

                for spec in (
                    registry_consumer("TG"),
                    matching_consumer(),
                    notifications_consumer("TG"),
                ):
                    wait_until(
                        lambda spec=spec: queue_depth(vhost, spec.dead_letter_queue) >= len(bodies),
                        60,
                        what=f"{spec.name} dead letters",
                    )
                    dead = get_messages(vhost, spec.dead_letter_queue, 100)
                    reasons = [m["properties"]["headers"][REASON_HEADER] for m in dead]
                    assert len(reasons) == len(bodies), reasons
                    for name, (_, expected) in bodies.items():
                        assert sum(expected in r for r in reasons) >= 1, (spec.name, name, reasons)

                r = tg.call(
                    "POST", "/api/v1/volunteers", json=volunteer_payload(7, email="new@example.tg")
                )
                assert r.status_code == 201, r.json
                volunteer_id = r.json["id"]

                def in_matching() -> bool:
                    with matching.runtime.sessions() as s:
                        return s.get(VolunteerView, volunteer_id) is not None

                def in_notifications() -> bool:
                    with notifications.sessions() as s:
                        return (
                            s.scalar(
                                select(func.count())
                                .select_from(Delivery)
                                .where(Delivery.status == "sent")
                                .where(
                                    Delivery.payload["event"]["volunteer_id"].as_string()
                                    == volunteer_id
                                )
                            )
                            or 0
                        ) >= 1

                wait_until(in_matching, 60, what="the registration in matching")
                wait_until(in_notifications, 60, what="the registration e-mail sent")
                n = len(watch.answers)
                wait_until(lambda: len(watch.answers) >= n + 3, 10, what="a last readiness round")

    # Truthful throughout: every consumer ran all along, and readiness said so every time.
    assert {name for name, _, _ in watch.answers} == set(apps)
    for name, status, body in watch.answers:
        consumers = _consumer_checks(body)
        assert consumers, (name, body)
        assert status == 200, (name, body)
        for check in consumers.values():
            assert check["status"] == "up" and check["restarts"] == 0, (name, body)


class BrokenPublisher:
    """Stands for a bug below `on_message`: publishing a dead letter raises what nobody catches."""

    def publish_batch(self, messages: list) -> None:
        raise RuntimeError("a bug in the dead-letter path")


def test_a_consumer_killed_by_an_unexpected_exception_is_restarted_and_not_ready_meanwhile(
    amqp_url, vhost
):
    with running_registry("TG", amqp_url) as tg:
        client = tg.app.test_client()
        consumer = tg.runtime.consumers[0]
        assert client.get("/health/ready").status_code == 200
        working = consumer.publisher
        consumer.publisher = BrokenPublisher()  # type: ignore[assignment]
        _publish(amqp_url, b"{not an event")

        answers: list[tuple[int, dict]] = []

        def answer() -> tuple[int, dict]:
            r = client.get("/health/ready")
            answers.append((r.status_code, r.get_json()))
            return answers[-1]

        wait_until(lambda: answer()[0] == 503, 30, interval=0.02, what="not ready")
        check = answers[-1][1]["checks"]["consumer registry.TG"]
        assert check["status"] == "down" and "RuntimeError" in check["last_error"]

        # The supervisor restarts it; the message comes back and kills it again until fixed.
        wait_until(
            lambda: answer()[1]["checks"]["consumer registry.TG"]["restarts"] >= 2,
            30,
            interval=0.02,
            what="restarted twice",
        )
        consumer.publisher = working
        wait_until(lambda: answer()[0] == 200, 60, interval=0.05, what="ready again")
        wait_until(
            lambda: queue_depth(vhost, registry_consumer("TG").dead_letter_queue) == 1,
            30,
            what="the message dead-lettered once the bug is gone",
        )
        wait_until(
            lambda: answer()[1]["checks"]["consumer registry.TG"]["status"] == "up",
            30,
            what="consuming again",
        )
        assert answers[-1][0] == 200


def test_vir_consume_serves_a_readiness_that_follows_its_consumer(pg_url, amqp_url, vhost):
    """A consumer process has no API: --health-port gives it /health/ready, 200 while its
    consumer consumes and 503 once it has been cut off from the broker for the grace period."""
    import os
    import signal
    import socket
    import subprocess
    import sys

    import requests

    from shared.migrations import upgrade
    from tests.support.infra import delete_vhost

    upgrade("registry", pg_url)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "AGENCY_CODE": "TG",
        "DATABASE_URL": pg_url,
        "AMQP_URL": amqp_url,
        "CONSUMER_CONNECT_GRACE": "1",
        "AMQP_RECONNECT_MAX_DELAY": "1",
        "LOG_LEVEL": "WARNING",
    }
    vir = str(Path(sys.executable).with_name("vir"))
    proc = subprocess.Popen(
        [vir, "consume", "registry", "--health-port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/health/ready"

    def ready() -> tuple[int, dict]:
        try:
            r = requests.get(url, timeout=2)
        except requests.ConnectionError:
            return 0, {}
        return r.status_code, r.json()

    try:
        wait_until(
            lambda: (
                ready()[1].get("checks", {}).get("consumer registry.TG", {}).get("status") == "up"
            ),
            60,
            what="the consumer up",
        )
        assert ready()[0] == 200
        delete_vhost(vhost)  # the broker closes the consumer's connection; it cannot come back
        wait_until(lambda: ready()[0] == 503, 30, what="not ready once cut off")
        assert "not connected" in ready()[1]["checks"]["consumer registry.TG"]["error"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
