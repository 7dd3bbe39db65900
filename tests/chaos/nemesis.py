"""The nemesis: one fault at a time, in a seeded order, each held for a while and then healed.

Kinds: kill-<service>-<role> (SIGKILL of the process group; the supervisor restarts it),
broker-restart (stop_app/start_app of the private node), federation-cut, postgres-stop, smtp-slow,
smtp-fail, webhook-slow, webhook-fail; and two that add messages: poison (signed-but-invalid and
unsigned bodies, which must be dead-lettered and be the only dead letters) and redeliver (copies
of already published events, as a publisher resending after a lost confirm would produce).
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import create_engine, select

from shared.db import outbox
from shared.messaging.publisher import ConfirmingPublisher, OutgoingMessage
from shared.messaging.topology import EVENTS_EXCHANGE
from shared.security import principal_of_source
from tests.chaos.history import History
from tests.chaos.infra import pause
from tests.chaos.network import Network
from tests.support.keys import keyring

POISON_PREFIX = "chaos-poison-"


@dataclass
class Nemesis:
    net: Network
    history: History
    seed: int
    hold: float = 3.0  # how long a fault lasts
    gap: float = 2.0  # calm between two faults
    only: tuple[str, ...] = ()  # these kinds only (tests of the checker); default: every kind
    counts: Counter[str] = field(default_factory=Counter)
    poison: list[dict[str, Any]] = field(default_factory=list)  # message id, vhost, routing key
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def kinds(self) -> list[str]:
        kills = [f"kill-{kind}" for kind in self.net.kinds()]
        if self.only:
            return list(self.only)
        return [
            *kills,
            "broker-restart",
            "federation-cut",
            "postgres-stop",
            "smtp-slow",
            "smtp-fail",
            "webhook-slow",
            "webhook-fail",
            "poison",
            "redeliver",
        ]

    def every_kind_done(self) -> bool:
        return all(self.counts[k] > 0 for k in self.kinds())

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True, name="nemesis")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(300)

    def _run(self) -> None:
        rng = random.Random(self.seed)
        while not self._stop.is_set():
            order = self.kinds()
            rng.shuffle(order)  # every kind once per round, in a seeded order
            for kind in order:
                if self._stop.is_set():
                    return
                started = time.time()
                try:
                    detail = self.inject(kind, rng)
                    outcome = "done"
                except Exception as exc:  # noqa: BLE001 - a fault that failed is recorded
                    detail, outcome = repr(exc), "error"
                self.counts[kind] += 1
                self.history.record(
                    {
                        "kind": "fault",
                        "fault": kind,
                        "outcome": outcome,
                        "detail": detail,
                        "seconds": round(time.time() - started, 2),
                    }
                )
                self._stop.wait(self.gap)

    # -- the faults ------------------------------------------------------------------------------

    def inject(self, kind: str, rng: random.Random) -> Any:
        if kind.startswith("kill-"):
            proc = rng.choice(self.net.of_kind(kind.removeprefix("kill-")))
            proc.kill()  # the supervisor starts it again
            return proc.name
        if kind == "broker-restart":
            self.net.rabbit.stop_app()
            pause(self.hold)
            self.net.rabbit.start_app()
            return None
        if kind == "federation-cut":
            self.net.rabbit.cut()
            pause(self.hold * 2)
            self.net.rabbit.restore()
            return None
        if kind == "postgres-stop":
            self.net.postgres.stop("fast")
            pause(self.hold)
            self.net.postgres.start()
            return None
        if kind in ("smtp-slow", "smtp-fail", "webhook-slow", "webhook-fail"):
            sink = self.net.smtp if kind.startswith("smtp") else self.net.webhook
            sink.mode = kind.split("-")[1]
            try:
                pause(self.hold * 2)
            finally:
                sink.mode = "ok"
            return None
        if kind == "poison":
            return self._poison(rng)
        if kind == "redeliver":
            return self._redeliver(rng)
        raise ValueError(kind)

    def _publish(self, vhost: str, messages: list[OutgoingMessage]) -> None:
        publisher = ConfirmingPublisher(
            self.net.rabbit.amqp_url(vhost), confirm_timeout=10, declare_topology=False
        )
        try:
            publisher.publish_batch(messages)
        finally:
            publisher.close()

    def _poison(self, rng: random.Random) -> list[str]:
        """Per vhost, one body signed by its agency but invalid (no such data fields) and one
        valid-looking body without any signature."""
        ids = []
        for vhost, agency in (("tg", "TG"), ("ml", "ML")):
            key = f"volunteer.registered.{agency}"
            for signed in (True, False):
                message_id = f"{POISON_PREFIX}{uuid.UUID(int=rng.getrandbits(128)).hex[:20]}"
                body = json.dumps(
                    {
                        "specversion": "1.0",
                        "id": message_id,
                        "source": f"/agencies/{agency}/registry",
                        "type": "volunteer.registered",
                        "subject": message_id,
                        "time": "2027-01-01T00:00:00Z",
                        "datacontenttype": "application/json",
                        "dataschema": "https://schemas.vir-exchange.org/events/volunteer.registered/v1.json",
                        "viragencies": agency,
                        "data": {"chaos": "not a volunteer"} if signed else {"volunteer_id": "x"},
                    }
                ).encode()
                headers = keyring().headers(body, agency) if signed else {}
                self._publish(
                    vhost,
                    [
                        OutgoingMessage(
                            EVENTS_EXCHANGE,
                            key,
                            body,
                            message_id=message_id,
                            content_type="application/cloudevents+json",
                            headers=headers,
                        )
                    ],
                )
                self.poison.append({"id": message_id, "vhost": vhost, "routing_key": key})
                ids.append(message_id)
        return ids

    def _redeliver(self, rng: random.Random) -> int:
        """Copies of up to 50 events already published by a registry, signed by their sender."""
        node, vhost = rng.choice([("registry-tg", "tg"), ("registry-ml", "ml")])
        engine = create_engine(self.net.databases[node])
        try:
            with engine.connect() as conn:
                rows = conn.execute(
                    select(outbox.c.event_id, outbox.c.routing_key, outbox.c.payload)
                    .where(outbox.c.published_at.is_not(None))
                    .order_by(outbox.c.seq.desc())
                    .limit(50)
                ).all()
        finally:
            engine.dispose()
        messages = []
        for r in rows:
            body = r.payload.encode()
            source = json.loads(r.payload)["source"]
            principal = principal_of_source(source)
            assert principal
            messages.append(
                OutgoingMessage(
                    EVENTS_EXCHANGE,
                    r.routing_key,
                    body,
                    message_id=r.event_id,
                    content_type="application/cloudevents+json",
                    headers=keyring().headers(body, principal),
                )
            )
        if messages:
            self._publish(vhost, messages)
        return len(messages)
