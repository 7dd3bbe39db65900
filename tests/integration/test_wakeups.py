"""Loops wake when their work is committed, not at their next poll.

Each loop runs with a safety-net poll of 30 s and the test waits a few seconds at most, so a test
can only pass if the commit itself woke the loop: LISTEN/NOTIFY on PostgreSQL, the in-process
signal on SQLite. Each waits until the loop is asleep (listening) before it commits."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from services.matching.adapters.orm import Proposal
from services.matching.bootstrap import PLANNER_CHANNEL, handle_and_wake_planner
from services.matching.handlers import handle as matching_handle
from services.matching.planning import run_planner
from services.notifications import handlers as notifications_handlers
from services.notifications.adapters.orm import Delivery
from services.notifications.dispatch import Dispatcher
from services.notifications.domain.messages import Notification, Recipient
from shared.db import make_engine, make_session_factory, outbox
from shared.events import Event, new_event
from shared.messaging.publisher import ConfirmingPublisher, KombuPublisher
from shared.migrations import upgrade
from shared.outbox import OutboxRelay
from shared.settings import RelaySettings
from shared.wakeup import OUTBOX_CHANNEL, PgListener, Waiter, listener
from tests.support import effects
from tests.support.infra import wait_until

pytestmark = pytest.mark.integration
NEVER = 30.0  # the safety-net poll: far longer than any wait of these tests
SOON = 5.0


class Watched:
    """A loop's real waiter, and a flag saying the loop is inside its wait (asleep)."""

    def __init__(self, inner: Waiter):
        self.inner = inner
        self.calls = 0
        self.asleep = threading.Event()
        self.woken = 0

    def wait(self, timeout: float, stop: threading.Event | None = None) -> bool:
        self.calls += 1
        self.asleep.set()
        try:
            woken = self.inner.wait(timeout, stop)
        finally:
            self.asleep.clear()
        self.woken += woken
        return woken

    def close(self) -> None:
        self.inner.close()

    def sleeping(self) -> bool:
        # The first wait of a PostgreSQL listener only opens its connection and LISTENs.
        listening = self.calls >= 2 or not isinstance(self.inner, PgListener)
        return listening and self.asleep.is_set()


@contextmanager
def looping(target: Any, *args: Any, **kwargs: Any) -> Iterator[threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=target, args=(*args, stop), kwargs=kwargs, daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(10)
        assert not thread.is_alive()


def _published(engine, event_id: str) -> bool:
    with engine.connect() as conn:
        return (
            conn.execute(
                select(outbox.c.published_at).where(outbox.c.event_id == event_id)
            ).scalar_one()
            is not None
        )


# -- the outbox relay -------------------------------------------------------------------------


def _relay_publishes_a_commit_at_once(engine, publisher) -> None:
    sessions = make_session_factory(engine)
    waiter = Watched(listener(engine, OUTBOX_CHANNEL))
    relay = OutboxRelay(engine, publisher, RelaySettings(idle_delay=NEVER), wakeup=waiter)
    with looping(lambda stop: relay.run(stop)):
        for n in range(3):  # each one while the relay sleeps
            wait_until(waiter.sleeping, SOON, what="relay asleep")
            with sessions.begin() as session:
                event = effects.write_change_with_event(session, n)
            wait_until(lambda e=event: _published(engine, e.id), SOON, what="event published")
    assert waiter.woken >= 3


def test_the_relay_publishes_a_committed_row_without_waiting_for_its_poll(pg_url, amqp_url):
    engine = make_engine(pg_url)
    effects.prepare_database(pg_url, engine)
    try:
        _relay_publishes_a_commit_at_once(engine, ConfirmingPublisher(amqp_url))
    finally:
        engine.dispose()


def test_the_embedded_relay_is_woken_by_the_commit_in_process(tmp_path):
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    engine = make_engine(url)
    effects.prepare_database(url, engine)
    try:
        _relay_publishes_a_commit_at_once(engine, KombuPublisher("memory://"))
    finally:
        engine.dispose()


class BatchSizes(KombuPublisher):
    """The in-process broker's publisher, noting the size of every batch the relay sends."""

    def __init__(self) -> None:
        super().__init__("memory://")
        self.sizes: list[int] = []

    def publish_batch(self, messages: Any) -> None:
        super().publish_batch(messages)
        self.sizes.append(len(messages))


def test_a_lingering_relay_publishes_what_commits_meanwhile_in_the_same_round(tmp_path):
    url = f"sqlite:///{tmp_path / 'notifications.db'}"
    engine = make_engine(url)
    effects.prepare_database(url, engine)
    sessions = make_session_factory(engine)
    waiter = Watched(listener(engine, OUTBOX_CHANNEL))
    publisher = BatchSizes()
    settings = RelaySettings(idle_delay=NEVER, linger=3.0)
    relay = OutboxRelay(engine, publisher, settings, wakeup=waiter)
    try:
        with looping(lambda stop: relay.run(stop)):
            wait_until(waiter.sleeping, SOON, what="relay asleep")
            with sessions.begin() as session:
                first = effects.write_change_with_event(session, 1)
            wait_until(lambda: waiter.woken >= 1, SOON, what="relay woken")
            events = [first]
            for n in (2, 3):  # while it lingers
                with sessions.begin() as session:
                    events.append(effects.write_change_with_event(session, n))
            wait_until(
                lambda: all(_published(engine, e.id) for e in events), 3 * SOON, what="published"
            )
        assert publisher.sizes == [3]
    finally:
        engine.dispose()


def test_a_rolled_back_transaction_wakes_nobody(tmp_path):
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    engine = make_engine(url)
    effects.prepare_database(url, engine)
    waiter = listener(engine, OUTBOX_CHANNEL)
    try:
        with pytest.raises(RuntimeError), make_session_factory(engine).begin() as session:
            effects.write_change_with_event(session, 1)
            raise RuntimeError("rolled back")
        assert waiter.wait(0.3) is False
        with make_session_factory(engine).begin() as session:
            effects.write_change_with_event(session, 2)
        assert waiter.wait(SOON) is True
    finally:
        waiter.close()
        engine.dispose()


# -- the matching planner ---------------------------------------------------------------------


def _event(type_: str, data: dict[str, Any], agencies: list[str], source: str) -> Event:
    subject = data.get("volunteer_id") or data.get("placement_id") or data["agreement_id"]
    return new_event(type_, source=source, subject=subject, agencies=agencies, data=data)


def _agreement_and_placement() -> list[Event]:
    from services.registry.domain.agreements import Quota, Terms

    terms = Terms(
        "agr-w",
        ("TG", "ML"),
        date(2027, 1, 1),
        date(2028, 12, 31),
        (Quota("TG", "ML", 4), Quota("ML", "TG", 2)),
        2,
        ("health",),
    )
    proposed = {
        "agreement_id": "agr-w",
        "parties": ["TG", "ML"],
        "start": "2027-01-01",
        "end": "2028-12-31",
        "quotas": [
            {"sending": "TG", "host": "ML", "volunteers": 4},
            {"sending": "ML", "host": "TG", "volunteers": 2},
        ],
        "balance_tolerance": 2,
        "fields_of_cooperation": ["health"],
        "terms_hash": terms.hash(),
        "revision": 1,
    }
    approved = {"agreement_id": "agr-w", "agency": "ML", "terms_hash": terms.hash(), "revision": 1}
    placement = {
        "placement_id": "pl-ml-w",
        "agency": "ML",
        "host_organisation_id": "org-w",
        "host_organisation_name": "Centre de santé",
        "city": "Sikasso",
        "title": "Animateur santé",
        "domain": "health",
        "required_skills": ["public health"],
        "required_languages": [{"code": "fr", "level": "B2"}],
        "start": "2027-03-01",
        "end": "2027-12-01",
        "slots": 1,
        "status": "open",
    }
    return [
        _event("agreement.proposed", proposed, ["TG", "ML"], "/agencies/TG/registry"),
        _event("agreement.approved", approved, ["TG", "ML"], "/agencies/ML/registry"),
        _event("placement.published", placement, ["ML"], "/agencies/ML/registry"),
    ]


def _volunteer() -> Event:
    data = {
        "volunteer_id": "vol-tg-w",
        "agency": "TG",
        "status": "available",
        "skills": ["public health"],
        "domains": ["health"],
        "languages": [{"code": "fr", "level": "native"}],
        "education_level": "master",
        "available_from": "2027-01-01",
        "available_until": "2028-12-31",
        "preferred_countries": [],
        "registered_at": "2026-06-01T00:00:00+00:00",
    }
    return _event("volunteer.registered", data, ["TG"], "/agencies/TG/registry")


def test_the_planner_plans_as_soon_as_its_consumer_commits_a_change(pg_url):
    upgrade("matching", pg_url)
    engine = make_engine(pg_url)
    sessions = make_session_factory(engine)
    waiter = Watched(listener(engine, PLANNER_CHANNEL))

    def proposals() -> list[Proposal]:
        with sessions() as session:
            return list(session.scalars(select(Proposal)))

    try:
        with sessions.begin() as session:
            for event in _agreement_and_placement():
                matching_handle(session, event)  # not through the consumer: wakes nobody
        with looping(run_planner, sessions, ttl=timedelta(days=14), interval=NEVER, wakeup=waiter):
            wait_until(waiter.sleeping, SOON, what="planner asleep")
            with sessions.begin() as session:
                handle_and_wake_planner(_volunteer(), session)  # what the consumer calls
            wait_until(lambda: len(proposals()) == 1, SOON, what="a proposal")
        assert proposals()[0].volunteer_id == "vol-tg-w"
    finally:
        engine.dispose()


# -- the notifications dispatcher ----------------------------------------------------------------


class RecordingChannel:
    """A channel that accepts every message and remembers when."""

    name = "email"

    def __init__(self) -> None:
        self.sent: list[tuple[datetime, Notification]] = []

    def send(self, notification: Notification) -> str:
        self.sent.append((datetime.now(UTC), notification))
        return "250 OK"


class StaffDirectory:
    def resolve(self, kind: str, recipient_id: str, channel: str) -> Recipient:
        return Recipient(kind, recipient_id, f"staff@{recipient_id.lower()}.example", "fr", "Staff")


def _agreement_proposed() -> Event:
    return _agreement_and_placement()[0]


@pytest.fixture
def notifications(pg_url):
    upgrade("notifications", pg_url)
    engine = make_engine(pg_url)
    yield engine
    engine.dispose()


def test_the_dispatcher_sends_a_committed_delivery_at_once(notifications):
    sessions = make_session_factory(notifications)
    channel = RecordingChannel()
    dispatcher = Dispatcher(sessions, {"email": channel}, StaffDirectory(), "/agencies/TG/n")
    waiter = Watched(listener(notifications, notifications_handlers.DELIVERIES_CHANNEL))
    with looping(dispatcher.run, interval=NEVER, wakeup=waiter):
        wait_until(waiter.sleeping, SOON, what="dispatcher asleep")
        with sessions.begin() as session:  # the consumer's transaction: stages staff e-mails
            notifications_handlers.handle(session, _agreement_proposed(), agency="TG")
        wait_until(lambda: len(channel.sent) == 1, SOON, what="the staff e-mail sent")
    assert channel.sent[0][1].recipient.address == "staff@tg.example"


def test_the_dispatcher_sleeps_until_a_retry_falls_due_and_not_longer(notifications):
    sessions = make_session_factory(notifications)
    channel = RecordingChannel()
    dispatcher = Dispatcher(sessions, {"email": channel}, StaffDirectory(), "/agencies/TG/n")
    with sessions.begin() as session:
        notifications_handlers.handle(session, _agreement_proposed(), agency="TG")
        session.flush()
        delivery = session.scalars(select(Delivery)).one()
        due = datetime.now(UTC) + timedelta(seconds=1.5)
        delivery.next_attempt_at = due
    waiter = Watched(listener(notifications, notifications_handlers.DELIVERIES_CHANNEL))
    with looping(dispatcher.run, interval=NEVER, wakeup=waiter):
        wait_until(lambda: len(channel.sent) == 1, SOON, what="the delivery sent when due")
    sent_at = channel.sent[0][0]
    assert due <= sent_at < due + timedelta(seconds=1)


@pytest.mark.parametrize("database", ["postgresql", "sqlite"])
def test_a_savepoint_rolled_back_loses_no_wake_up(database, request, tmp_path):
    """As in a bulk import: rows in savepoints, some refused and rolled back alone."""
    if database == "postgresql":
        url = request.getfixturevalue("pg_url")
    else:
        url = f"sqlite:///{tmp_path / 'registry.db'}"
    engine = make_engine(url)
    effects.prepare_database(url, engine)
    waiter = listener(engine, OUTBOX_CHANNEL)
    try:
        if isinstance(waiter, PgListener):
            assert waiter.wait(SOON) is True  # connected and listening
        assert waiter.wait(0.3) is False  # nothing pending
        for refused_first in (True, False):
            with make_session_factory(engine).begin() as session:
                if not refused_first:
                    effects.write_change_with_event(session, 1)
                with pytest.raises(RuntimeError), session.begin_nested():
                    effects.write_change_with_event(session, 2)  # rolled back with its savepoint
                    raise RuntimeError("this row is refused")
                if refused_first:
                    effects.write_change_with_event(session, 3)
            assert waiter.wait(SOON) is True
    finally:
        waiter.close()
        engine.dispose()


class ThreadRecordingChannel(RecordingChannel):
    """Also remembers which dispatcher thread sent each message."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[str] = set()

    def send(self, notification: Notification) -> str:
        self.threads.add(threading.current_thread().name)
        return super().send(notification)


def test_dispatcher_threads_share_the_work_and_keep_each_recipients_order(notifications):
    """Four threads send 60 messages to 12 recipients: all go out once, several threads take
    part, and each recipient's messages leave in the order they fell due."""
    sessions = make_session_factory(notifications)
    channel = ThreadRecordingChannel()
    dispatcher = Dispatcher(
        sessions, {"email": channel}, StaffDirectory(), "/agencies/TG/n", workers=4
    )
    start = datetime.now(UTC) - timedelta(minutes=5)
    with sessions.begin() as session:
        for n in range(60):
            at = start + timedelta(seconds=n)
            session.add(
                Delivery(
                    id=f"dlv-{n:03d}",
                    idempotency_key=f"k-{n:03d}",
                    event_id=f"e-{n:03d}",
                    event_type="agreement.proposed",
                    agencies=["TG"],
                    category="agreement",
                    mandatory=True,
                    recipient_kind="staff",
                    recipient_id=f"R{n % 12:02d}",
                    channel="email",
                    payload={},
                    status="pending",
                    attempts=0,
                    next_attempt_at=at,
                    created_at=at,
                    updated_at=at,
                )
            )
    waiter = Watched(listener(notifications, notifications_handlers.DELIVERIES_CHANNEL))
    with looping(dispatcher.run, interval=NEVER, wakeup=waiter):
        wait_until(lambda: len(channel.sent) == 60, SOON, what="the 60 messages sent")
    assert sorted(n.delivery_id for _, n in channel.sent) == [f"dlv-{n:03d}" for n in range(60)]
    assert len(channel.threads) > 1
    for r in range(12):
        mine = [n.delivery_id for _, n in channel.sent if n.recipient.id == f"R{r:02d}"]
        assert mine == sorted(mine)
