"""Transactional outbox: write events with the change, relay them with confirms, page the feed."""

from __future__ import annotations

import math
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter
from sqlalchemy import Connection, Engine, bindparam, func, insert, select, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from shared.db import OUTBOX_PARTITIONS, outbox, outbox_partition
from shared.events import CONTENT_TYPE, Event, encode
from shared.logging import get_logger
from shared.messaging.publisher import OutgoingMessage, Publisher, PublishFailed
from shared.messaging.topology import EVENTS_EXCHANGE
from shared.security.signing import Signer
from shared.settings import RelaySettings
from shared.wakeup import OUTBOX_CHANNEL, Waiter, listener, wake_on_commit

log = get_logger(__name__)

# Serialises the moment relays give feed positions, so positions commit in increasing order and
# a reader paging by position never skips a row that commits later.
FEED_POSITION_LOCK = 0x56495246  # "VIRF"

# The relay's statements, built once: built at every round, they cost more Python than their
# round trips (the relay runs once per committed transaction that wrote events).
_CLAIM_PARTITIONS = text(
    "SELECT id FROM outbox_partition ORDER BY claimed_at NULLS FIRST, id "
    "LIMIT :k FOR UPDATE SKIP LOCKED"
)
_STAMP_PARTITIONS = (
    update(outbox_partition)
    .where(outbox_partition.c.id.in_(bindparam("ids", expanding=True)))
    .values(claimed_at=func.now())
)
_POSITION_LOCK = text("SELECT pg_advisory_xact_lock(:k)")
_MARK_POSTGRES = text(
    "UPDATE outbox AS o SET published_at = :now, attempts = o.attempts + 1, "
    "position = (SELECT coalesce(max(position), 0) FROM outbox) + v.ord "
    "FROM unnest(CAST(:seqs AS bigint[])) WITH ORDINALITY AS v(seq, ord) "
    "WHERE o.seq = v.seq"
)
_LAST_POSITION = select(func.coalesce(func.max(outbox.c.position), 0))
_MARK_ONE = text(
    "UPDATE outbox SET published_at = :now, position = :p, attempts = attempts + 1 WHERE seq = :s"
)

PUBLISHED = Counter("vir_outbox_published_total", "Events confirmed by the broker", ["service"])
# Longest first wait after a failed batch (doubled on each further failure, up to max_backoff).
RETRY_DELAY = 0.2
DATABASE_UNAVAILABLE = Counter(
    "vir_outbox_database_unavailable_total",
    "Relay rounds that found the database unreachable (retried with backoff)",
    ["service"],
)
PUBLISH_FAILURES = Counter(
    "vir_outbox_publish_failures_total", "Relay batches not confirmed (will be resent)", ["service"]
)


def partition_of(aggregate_id: str) -> int:
    return zlib.crc32(aggregate_id.encode()) % OUTBOX_PARTITIONS


_INSERT = insert(outbox)


def add_event(session: Session | Connection, event: Event) -> None:
    """Stage `event` in the caller's transaction: it is published only if that commits."""
    session.execute(
        _INSERT,  # values as parameters: one statement, compiled once
        {
            "event_id": event.id,
            "event_type": event.type,
            "routing_key": event.routing_key,
            "aggregate_id": event.subject,
            "partition": partition_of(event.subject),
            "payload": encode(event).decode(),
            "created_at": datetime.now(UTC),
        },
    )
    wake_on_commit(session, OUTBOX_CHANNEL)


def add_events(session: Session | Connection, events: Sequence[Event]) -> None:
    """Stage many events in the caller's transaction with one multi-row INSERT (a bulk import)."""
    if not events:
        return
    at = datetime.now(UTC)
    session.execute(
        _INSERT,
        [
            {
                "event_id": event.id,
                "event_type": event.type,
                "routing_key": event.routing_key,
                "aggregate_id": event.subject,
                "partition": partition_of(event.subject),
                "payload": encode(event).decode(),
                "created_at": at,
            }
            for event in events
        ],
    )
    wake_on_commit(session, OUTBOX_CHANNEL)


@dataclass(frozen=True)
class Backlog:
    unpublished: int
    oldest_age_seconds: float | None


def backlog(connection: Connection) -> Backlog:
    row = connection.execute(
        select(func.count(), func.min(outbox.c.created_at)).where(outbox.c.published_at.is_(None))
    ).one()
    oldest = row[1]
    age = None
    if oldest is not None:
        if oldest.tzinfo is None:  # SQLite returns naive datetimes
            oldest = oldest.replace(tzinfo=UTC)
        age = max(0.0, (datetime.now(UTC) - oldest).total_seconds())
    return Backlog(unpublished=int(row[0]), oldest_age_seconds=age)


@dataclass(frozen=True)
class FeedEntry:
    position: int
    payload: str


def read_feed(connection: Connection, after: int = 0, limit: int = 100) -> list[FeedEntry]:
    """Published events in publication order, strictly after `after`: catch-up and rebuilds."""
    rows = connection.execute(
        select(outbox.c.position, outbox.c.payload)
        .where(outbox.c.position > after)
        .order_by(outbox.c.position)
        .limit(limit)
    )
    return [FeedEntry(position=r.position, payload=r.payload) for r in rows]


class OutboxRelay:
    """Moves committed outbox rows to the broker; marks them only after the broker confirms.

    Each iteration claims some partitions (FOR UPDATE SKIP LOCKED on PostgreSQL), publishes their
    oldest unpublished rows in sequence order as one confirmed batch, then marks them published
    in the same transaction. A failure or a crash before that commit leaves the rows unpublished:
    they are sent again (consumers deduplicate by event id). With a `signer`, every message
    carries the signature of its exact body (headers, see shared/security/signing.py).
    """

    def __init__(
        self,
        engine: Engine,
        publisher: Publisher,
        settings: RelaySettings | None = None,
        service: str = "relay",
        sleep: Callable[[float], None] = time.sleep,
        signer: Signer | None = None,
        wakeup: Waiter | None = None,
    ):
        self.engine = engine
        self.publisher = publisher
        self.settings = settings or RelaySettings()
        self.service = service
        self._sleep = sleep
        self.signer = signer
        self._postgres = engine.dialect.name == "postgresql"
        self.wakeup = wakeup  # default: listen for commits of outbox rows on `engine`
        self.drained = False  # set by run_once: the outbox held nothing more when it looked
        self._unpublished = (
            select(outbox.c.seq, outbox.c.event_id, outbox.c.routing_key, outbox.c.payload)
            .where(
                outbox.c.published_at.is_(None),
                outbox.c.partition.in_(bindparam("partitions", expanding=True)),
            )
            .order_by(outbox.c.seq)
            .limit(self.settings.batch_size)
        )

    def run_once(self) -> int:
        """Publish one batch; return how many events were confirmed and marked."""
        self.drained = False
        with self.engine.connect() as conn, conn.begin():
            partitions = self._claim_partitions(conn)
            if not partitions:
                return 0
            rows = conn.execute(self._unpublished, {"partitions": partitions}).all()
            if not rows:
                return 0
            messages = [self._message(r.event_id, r.routing_key, r.payload) for r in rows]
            self.publisher.publish_batch(messages)
            self._mark_published(conn, [r.seq for r in rows])
            # Every partition looked at and less than a batch found: nothing committed before
            # this round is left, and what commits after it sends its own wake-up.
            self.drained = (
                len(partitions) == OUTBOX_PARTITIONS and len(rows) < self.settings.batch_size
            )
        PUBLISHED.labels(self.service).inc(len(rows))
        return len(rows)

    def _message(self, event_id: str, routing_key: str, payload: str) -> OutgoingMessage:
        body = payload.encode()
        return OutgoingMessage(
            exchange=EVENTS_EXCHANGE,
            routing_key=routing_key,
            body=body,
            message_id=event_id,
            content_type=CONTENT_TYPE,
            headers=self.signer.headers(body) if self.signer else {},
        )

    def run(self, stop: threading.Event, max_backoff: float | None = None) -> None:
        """Relay until `stop` is set; back off while the broker is unreachable.

        Between batches the relay sleeps until a transaction that added outbox rows commits
        (LISTEN/NOTIFY on PostgreSQL, an in-process signal on SQLite), or `idle_delay` passes:
        that slow poll is only the safety net. Once woken it claims partitions until it has
        looked at all of them, so a row in a partition it did not claim first waits for nothing.
        """
        limit = max_backoff if max_backoff is not None else 15.0
        failures = 0
        waiter = self.wakeup or listener(self.engine, OUTBOX_CHANNEL)
        rounds = math.ceil(OUTBOX_PARTITIONS / self.settings.partitions_per_claim)
        empty_rounds = 0
        try:
            while not stop.is_set():
                try:
                    published = self.run_once()
                except PublishFailed as exc:
                    failures += 1
                    PUBLISH_FAILURES.labels(self.service).inc()
                    wait = min(limit, min(self.settings.idle_delay, RETRY_DELAY) * (2**failures))
                    log.warning("outbox.publish_failed", error=str(exc), retry_in=round(wait, 2))
                    stop.wait(wait)
                    continue
                except OperationalError as exc:
                    # The database is gone (stopped, restarting, network): nothing was marked,
                    # so wait and look again rather than let the relay process die.
                    failures += 1
                    DATABASE_UNAVAILABLE.labels(self.service).inc()
                    wait = min(limit, min(self.settings.idle_delay, RETRY_DELAY) * (2**failures))
                    log.warning(
                        "outbox.database_unavailable",
                        error=str(exc).splitlines()[0],
                        retry_in=round(wait, 2),
                    )
                    stop.wait(wait)
                    continue
                if failures:
                    log.info("outbox.publishing_resumed", after_failures=failures)
                failures = 0
                if published and not self.drained:
                    empty_rounds = 0
                    continue
                empty_rounds += 1
                if self._postgres and empty_rounds < rounds:
                    continue  # other partitions may hold what woke us
                self.publisher.heartbeat()
                if waiter.wait(self.settings.idle_delay, stop) and self.settings.linger:
                    stop.wait(self.settings.linger)  # what commits meanwhile: the same round
                empty_rounds = 0
        finally:
            if self.wakeup is None:
                waiter.close()
            self.publisher.close()

    def _claim_partitions(self, conn: Connection) -> list[int]:
        if not self._postgres:
            return list(range(OUTBOX_PARTITIONS))
        ids = list(
            conn.execute(_CLAIM_PARTITIONS, {"k": self.settings.partitions_per_claim}).scalars()
        )
        if ids:
            conn.execute(_STAMP_PARTITIONS, {"ids": ids})
        return ids

    def _mark_published(self, conn: Connection, seqs: Sequence[int]) -> None:
        now = datetime.now(UTC)
        if self._postgres:
            conn.execute(_POSITION_LOCK, {"k": FEED_POSITION_LOCK})
            conn.execute(_MARK_POSTGRES, {"now": now, "seqs": list(seqs)})
            return
        base = conn.execute(_LAST_POSITION).scalar_one()
        params: list[dict[str, Any]] = [
            {"s": seq, "p": base + i, "now": now} for i, seq in enumerate(seqs, start=1)
        ]
        conn.execute(_MARK_ONE, params)
