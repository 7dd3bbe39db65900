"""After the faults: wait until the network is quiescent, then compare what was acknowledged
and published with what every consumer applied and every receiver got.

Rules:
- every acknowledged API operation has its event in its node's outbox (else: lost, acknowledged);
- every outbox row of every service is published;
- every published event reaches every consumer whose bindings match its routing key (the
  federation carries both ways), and is applied there exactly once (`chaos_applied`, written in
  the effect's transaction by tests/chaos/child.py, has no unique key);
- the dead-letter queues hold the nemesis's poison messages, each where its routing key leads,
  and nothing else;
- e-mails: every delivery the notifications services recorded as sent arrived at the SMTP server,
  and no Message-ID (derived from the delivery's idempotency key) arrived twice; none is left
  pending or failed. Webhooks alike, by `webhook-id`.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select, text, update

from services.notifications.adapters.email import message_id as email_message_id
from services.notifications.adapters.orm import Delivery
from services.notifications.adapters.webhook import message_id as webhook_message_id
from services.notifications.config import Options
from services.notifications.handlers import DELIVERIES_CHANNEL
from shared.db import outbox
from shared.messaging.topology import topic_matches
from tests.chaos import child
from tests.chaos.generator import EVENT_OF
from tests.chaos.network import NODES, Network, consumer_specs

NOTIFICATIONS = [n for n, service, *_ in NODES if service == "notifications"]


@dataclass
class Snapshot:
    outbox: dict[str, list[Any]]  # node -> rows
    applied: dict[str, Counter[str]]  # consumer -> event id -> times applied
    deliveries: list[Any]

    def published(self) -> dict[str, str]:
        """event id -> routing key of every published row."""
        return {
            r.event_id: r.routing_key
            for rows in self.outbox.values()
            for r in rows
            if r.published_at is not None
        }

    def unpublished(self) -> int:
        return sum(1 for rows in self.outbox.values() for r in rows if r.published_at is None)


def snapshot(net: Network, engines: dict[str, Engine]) -> Snapshot:
    rows: dict[str, list[Any]] = {}
    applied: dict[str, Counter[str]] = defaultdict(Counter)
    deliveries: list[Any] = []
    for node, engine in engines.items():
        with engine.connect() as conn:
            rows[node] = conn.execute(
                select(
                    outbox.c.event_id,
                    outbox.c.event_type,
                    outbox.c.routing_key,
                    outbox.c.aggregate_id,
                    outbox.c.published_at,
                )
            ).all()
            for consumer, event_id, n in conn.execute(
                select(child.applied.c.consumer, child.applied.c.event_id, func.count()).group_by(
                    child.applied.c.consumer, child.applied.c.event_id
                )
            ):
                applied[consumer][event_id] += n
            if node in NOTIFICATIONS:
                deliveries += [
                    (node, *d)
                    for d in conn.execute(
                        select(
                            Delivery.channel,
                            Delivery.status,
                            Delivery.idempotency_key,
                            Delivery.recipient_kind,
                        )
                    ).all()
                ]
    return Snapshot(rows, applied, deliveries)


def expected_by_consumer(published: dict[str, str]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for pairs in consumer_specs().values():
        for _, spec in pairs:
            out[spec.name] = {
                e
                for e, key in published.items()
                if any(topic_matches(b, key) for b in spec.bindings)
            }
    return out


def _queues_idle(net: Network) -> bool:
    for vhost in net.rabbit.VHOSTS:
        for q in net.rabbit.queues(vhost):
            if q["name"].endswith(".dead"):
                continue
            if q.get("messages", 0) or q.get("messages_unacknowledged", 0):
                return False
    return True


def bring_retries_forward(engines: dict[str, Engine]) -> int:
    """Deliveries waiting for a retry (minutes to hours away) are due now: time passing, for
    a run that cannot wait for it."""
    moved = 0
    for node in NOTIFICATIONS:
        with engines[node].begin() as conn:
            moved += conn.execute(
                update(Delivery.__table__)
                .where(Delivery.status == "pending", Delivery.next_attempt_at > func.now())
                .values(next_attempt_at=func.now())
            ).rowcount
            conn.execute(text("SELECT pg_notify(:c, '')"), {"c": DELIVERIES_CHANNEL})
    return moved


def wait_quiescent(net: Network, engines: dict[str, Engine], deadline_s: float) -> dict[str, Any]:
    """Until nothing moves any more (three calm looks in a row) or the deadline."""
    started = time.monotonic()
    calm, last = 0, None
    while time.monotonic() - started < deadline_s:
        bring_retries_forward(engines)
        snap = snapshot(net, engines)
        pending = sum(1 for d in snap.deliveries if d[2] == "pending")
        published = snap.published()
        expected = expected_by_consumer(published)
        missing = sum(len(ids - set(snap.applied.get(c, {}))) for c, ids in expected.items())
        state = (len(published), snap.unpublished(), pending, missing, len(snap.deliveries))
        idle = snap.unpublished() == 0 and pending == 0 and _queues_idle(net)
        calm = calm + 1 if idle and state == last else 0
        last = state
        if calm >= 3:
            return {"quiescent": True, "seconds": round(time.monotonic() - started, 1)}
        time.sleep(2)
    return {"quiescent": False, "seconds": round(time.monotonic() - started, 1), "last": last}


def check(
    net: Network,
    engines: dict[str, Engine],
    ops: list[dict[str, Any]],
    poison: list[dict[str, Any]],
) -> dict[str, Any]:
    snap = snapshot(net, engines)
    published = snap.published()
    violations: list[str] = []

    # Acknowledged operations -> their events.
    present = {
        (node, r.aggregate_id, r.event_type) for node, rows in snap.outbox.items() for r in rows
    }
    acknowledged = [o for o in ops if o.get("outcome") == "ok" and o.get("op") in EVENT_OF]
    lost_acked = [
        o for o in acknowledged if (o["node"], o.get("aggregate"), EVENT_OF[o["op"]]) not in present
    ]
    if lost_acked:
        violations.append(f"{len(lost_acked)} acknowledged operations have no event")
    if snap.unpublished():
        violations.append(f"{snap.unpublished()} outbox rows never published")

    # Every consumer: exactly once.
    consumers: dict[str, dict[str, int]] = {}
    expected = expected_by_consumer(published)
    for name, ids in sorted(expected.items()):
        got = snap.applied.get(name, Counter())
        lost = len(ids - set(got))
        duplicates = sum(n - 1 for n in got.values() if n > 1)
        unexpected = len(set(got) - ids)
        consumers[name] = {
            "expected": len(ids),
            "applied": len(set(got) & ids),
            "lost": lost,
            "duplicates": duplicates,
            "unexpected": unexpected,
        }
        if lost or duplicates or unexpected:
            violations.append(
                f"{name}: lost {lost}, applied twice {duplicates}, unexpected {unexpected}"
            )

    # Dead letters: the poison, where its routing key leads, and nothing else.
    dead: dict[str, list[dict[str, Any]]] = {}
    for vhost, pairs in consumer_specs().items():
        for _, spec in pairs:
            dead[spec.name] = net.rabbit.drain(vhost, spec.dead_letter_queue)
    expected_dead = Counter()
    for p in poison:
        for pairs in consumer_specs().values():
            for _, spec in pairs:
                if any(topic_matches(b, p["routing_key"]) for b in spec.bindings):
                    expected_dead[(spec.name, p["id"])] += 1
    found_dead: Counter[tuple[str, str]] = Counter()
    other_dead: list[dict[str, Any]] = []
    for name, messages in dead.items():
        for m in messages:
            mid = str((m.get("properties") or {}).get("message_id", ""))
            headers = (m.get("properties") or {}).get("headers") or {}
            if any(mid == p["id"] for p in poison):
                found_dead[(name, mid)] += 1
            else:
                other_dead.append(
                    {
                        "consumer": name,
                        "message_id": mid,
                        "reason": str(headers.get("x-vir-dead-letter-reason", ""))[:200],
                    }
                )
    poison_missing = sum(1 for k in expected_dead if found_dead[k] == 0)
    poison_twice = sum(n - 1 for n in found_dead.values() if n > 1)
    if other_dead:
        violations.append(f"{len(other_dead)} dead letters that are not the injected poison")
    if poison_missing:
        violations.append(f"{poison_missing} poison messages not dead-lettered where expected")
    poison_reasons = Counter()
    for messages in dead.values():
        for m in messages:
            headers = (m.get("properties") or {}).get("headers") or {}
            reason = str(headers.get("x-vir-dead-letter-reason", "")).split(":")[0][:60]
            poison_reasons[reason] += 1

    # E-mails and webhooks.
    sender = Options.smtp_from
    channels: dict[str, dict[str, int]] = {}
    for channel, sink, ident in (
        ("email", net.smtp, lambda k: email_message_id(k, sender)),
        ("webhook", net.webhook, webhook_message_id),
    ):
        rows = [d for d in snap.deliveries if d[1] == channel]
        sent = {ident(d[3]) for d in rows if d[2] == "sent"}
        statuses = Counter(d[2] for d in rows)
        received = sink.accepted
        lost = len(sent - set(received))
        # A receiver deduplicating on the id (the design's Message-ID and webhook-id are stable
        # across attempts of one delivery, for that purpose) sees each key once: raw resends
        # after a dispatcher died between sending and recording it are counted, not failed.
        resent = sum(n - 1 for n in received.values() if n > 1)
        duplicates = sum(1 for d in rows if d[2] == "sent") - len(sent)
        unknown = len(set(received) - {ident(d[3]) for d in rows})
        channels[channel] = {
            "deliveries": len(rows),
            "sent": len(sent),
            "pending": statuses["pending"],
            "failed": statuses["failed"],
            "received": len(received),
            "lost": lost,
            "duplicates": duplicates,
            "resent_same_id": resent,
            "unknown": unknown,
            "refused_by_receiver": sink.refused,
        }
        if lost or duplicates or unknown or statuses["pending"] or statuses["failed"]:
            violations.append(
                f"{channel}: lost {lost}, duplicates {duplicates}, unknown {unknown}, "
                f"pending {statuses['pending']}, failed {statuses['failed']}"
            )

    consumed = sum(c["applied"] for c in consumers.values())
    return {
        "events": {
            "published": len(published),
            "consumed": consumed,
            "total": len(published) + consumed,
        },
        "operations": dict(Counter(f"{o.get('op')}:{o.get('outcome')}" for o in ops)),
        "acknowledged": len(acknowledged),
        "lost_acknowledged": len(lost_acked),
        "lost_acknowledged_sample": lost_acked[:5],
        "unpublished": snap.unpublished(),
        "consumers": consumers,
        "lost": sum(c["lost"] for c in consumers.values()) + len(lost_acked),
        "duplicates": sum(c["duplicates"] for c in consumers.values()),
        "dead_letters": {
            "poison_injected": len(poison),
            "poison_expected": len(expected_dead),
            "poison_dead_lettered": len(found_dead),
            "poison_missing": poison_missing,
            "poison_twice": poison_twice,
            "other": len(other_dead),
            "other_sample": other_dead[:10],
            "reasons": dict(poison_reasons),
        },
        "channels": channels,
        "violations": violations,
    }
