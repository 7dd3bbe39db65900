"""An embedded notifications instance (SQLite, kombu's in-process broker) that no event can jam.

Before: a volunteer.registered with a 2 MB id was staged, e-mailed, and then its
notification.delivered report (whose `about_event_id` has a 64-character limit) raised, rolling
the "sent" mark back, so the same e-mail went out again on every dispatch round, once a second.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

import pytest
from kombu import Connection, Exchange, Producer
from sqlalchemy import select

from services.notifications import bootstrap as notifications
from services.notifications.adapters.orm import Delivery
from services.notifications.config import Options, load_settings
from services.notifications.dependencies import dependencies
from services.notifications.domain.messages import Notification, Recipient
from shared.events import encode, new_event
from shared.events.examples import EXAMPLES
from shared.migrations import upgrade
from tests.support.infra import wait_until
from tests.support.keys import keyring


class CountingChannel:
    """An e-mail channel that records what it sends; optionally crashes on one volunteer."""

    name = "email"

    def __init__(self, crash_on: str | None = None) -> None:
        self.sent: list[Notification] = []
        self.threads: list[str] = []  # which dispatcher thread sent each
        self.crash_on = crash_on
        self.lock = threading.Lock()

    def send(self, notification: Notification) -> str:
        if notification.payload["event"].get("volunteer_id") == self.crash_on:
            raise KeyError("a bug in a channel")
        with self.lock:
            self.sent.append(notification)
            self.threads.append(threading.current_thread().name)
        return "250 OK"


class Volunteers:
    def resolve(self, kind: str, recipient_id: str, channel: str) -> Recipient:
        return Recipient(kind, recipient_id, f"{recipient_id}@example.tg", "fr", "Ama")


def _instance(tmp_path, channel):
    database = f"sqlite:///{tmp_path / 'notifications-tg.db'}"
    upgrade("notifications", database)
    env = {
        "DATABASE_URL": database,
        "AMQP_URL": "memory://",
        "AGENCY_CODE": "TG",
        **keyring().env("TG"),
    }
    runtime = notifications.bootstrap(
        load_settings(env),
        options=Options(dispatch_interval=0.05, mail_dir=str(tmp_path / "mail")),
        channels={"email": channel},
    )
    dependencies(runtime).dispatcher.directory = Volunteers()
    return runtime


def _registered(volunteer_id: str) -> dict:
    agencies, data = EXAMPLES["volunteer.registered"]
    event = new_event(
        "volunteer.registered",
        source="/agencies/TG/registry",
        subject=volunteer_id,
        agencies=agencies,
        data={**data, "volunteer_id": volunteer_id},
    )
    return json.loads(encode(event))


def _publish(body: bytes, routing_key: str = "volunteer.registered.TG") -> None:
    with Connection("memory://") as conn:
        Producer(conn.default_channel).publish(
            body,
            headers=keyring().headers(body, "TG"),  # TG's own registry, as far as trust goes
            exchange=Exchange("vir.events", type="topic"),
            routing_key=routing_key,
            content_type="application/cloudevents+json",
            content_encoding="binary",
        )


def _sent_to(channel: CountingChannel, volunteer_id: str) -> int:
    return sum(1 for n in channel.sent if n.payload["event"]["volunteer_id"] == volunteer_id)


def test_a_two_megabyte_event_id_neither_jams_nor_repeats_an_embedded_instance(tmp_path):
    channel = CountingChannel()
    runtime = _instance(tmp_path, channel)
    consumer = notifications.event_consumers(runtime)[0]
    runtime.start_consumer(consumer)
    wait_until(consumer.ready.is_set, 10, what="consumer ready")
    # The test is the instance's one dispatcher (SQLite has no SKIP LOCKED: two would race).
    dispatcher = dependencies(runtime).dispatcher
    try:
        huge = _registered("vol-tg-huge")
        huge["id"] = "e" * 2_000_000
        _publish(json.dumps(huge).encode())
        _publish(json.dumps(_registered("vol-tg-after")).encode())
        wait_until(
            lambda: dispatcher.run_once() >= 0 and _sent_to(channel, "vol-tg-after") == 1,
            20,
            what="next e-mail",
        )
        # Several more dispatch rounds: the count must not move. (kombu's in-process broker is
        # shared by the whole test process, so other tests' events may still come in here.)
        for _ in range(3):
            dispatcher.run_once()
        assert _sent_to(channel, "vol-tg-after") == 1
        assert _sent_to(channel, "vol-tg-huge") == 0
        body, ready = runtime.readiness.report()
        assert ready and body["checks"][f"consumer {consumer.spec.name}"]["status"] == "up"
    finally:
        runtime.shutdown()


def _delivery(volunteer_id: str, at: datetime, **fields) -> Delivery:
    """A pending registration e-mail to `volunteer_id`, due at `at`; `fields` replace columns."""
    values = {
        "id": f"dlv-{volunteer_id}",
        "idempotency_key": f"{volunteer_id}:email",
        "event_id": f"e-{volunteer_id}",
        "event_type": "volunteer.registered",
        "agencies": ["TG"],
        "category": "registration",
        "mandatory": True,
        "recipient_kind": "volunteer",
        "recipient_id": volunteer_id,
        "channel": "email",
        "payload": {"event": {"volunteer_id": volunteer_id}, "agencies": ["TG"]},
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": at,
        "created_at": at,
        "updated_at": at,
    }
    return Delivery(**(values | fields))


def _stage(runtime, volunteer_id: str, event_id: str) -> str:
    with runtime.sessions.begin() as session:
        delivery = _delivery(volunteer_id, datetime.now(UTC), event_id=event_id)
        session.add(delivery)
        return delivery.id


def _status(runtime, delivery_id: str) -> tuple[str, str | None]:
    with runtime.sessions() as session:
        d = session.scalars(select(Delivery).where(Delivery.id == delivery_id)).one()
        return d.status, d.last_error


@pytest.mark.parametrize("crash", [False, True])
def test_a_delivery_whose_report_or_channel_fails_is_sent_at_most_once_and_spares_the_others(
    tmp_path, crash
):
    # A row staged by an older version that let 2 MB ids in, or a channel with a bug.
    channel = CountingChannel(crash_on="vol-bad" if crash else None)
    runtime = _instance(tmp_path, channel)
    try:
        first = _stage(runtime, "vol-first", "e-1")
        bad = _stage(runtime, "vol-bad", "e" * 2_000_000)
        last = _stage(runtime, "vol-last", "e-3")
        dispatcher = dependencies(runtime).dispatcher
        assert dispatcher.run_once() == 3
        for _ in range(3):
            assert dispatcher.run_once() == 0
        assert _sent_to(channel, "vol-first") == _sent_to(channel, "vol-last") == 1
        assert _status(runtime, first)[0] == _status(runtime, last)[0] == "sent"
        if crash:
            assert _sent_to(channel, "vol-bad") == 0
            assert _status(runtime, bad) == ("failed", "internal error: KeyError")
        else:
            assert _sent_to(channel, "vol-bad") == 1
            assert _status(runtime, bad)[0] == "sent"
    finally:
        runtime.shutdown()


def test_a_backlog_is_read_once_in_due_order_not_again_at_every_step(tmp_path):
    """After an outage thousands of deliveries are due at once. One dispatch pass sends each
    exactly once, oldest first, and no query reads more than a round's worth of rows (before:
    each step re-read every row already attempted, a quadratic pass over the backlog)."""
    from datetime import timedelta

    from sqlalchemy import event

    from services.notifications.dispatch import ROUND

    channel = CountingChannel()
    runtime = _instance(tmp_path, channel)
    backlog = 2 * ROUND + 37
    start = datetime.now(UTC) - timedelta(hours=1)
    try:
        with runtime.sessions.begin() as session:
            for n in range(backlog):
                session.add(
                    _delivery(
                        f"vol-{n:05d}",
                        start + timedelta(seconds=n),
                        id=f"dlv-{backlog - n:05d}",  # ids in the opposite order of due times
                        idempotency_key=f"backlog-{n}",
                        event_id=f"e-{n}",
                    )
                )
        limits: list[int] = []

        def _limit(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
            if "LIMIT" in statement and "next_attempt_at <=" in statement:
                limits.append(parameters[-2])  # LIMIT ? OFFSET ?: SQLite's positional binds

        engine = runtime.sessions.kw["bind"]
        event.listen(engine, "before_cursor_execute", _limit)
        try:
            assert dependencies(runtime).dispatcher.run_once() == backlog
        finally:
            event.remove(engine, "before_cursor_execute", _limit)
        sent = [n.payload["event"]["volunteer_id"] for n in channel.sent]
        assert sent == [f"vol-{n:05d}" for n in range(backlog)]
        assert limits and max(limits) == ROUND
    finally:
        runtime.shutdown()


def test_a_commit_wakes_one_reader_which_hands_the_delivery_to_its_shares_worker(tmp_path):
    """Four workers send at once, each for its share of recipients. A new delivery's wake-up
    reaches the first worker, which reads what is due once (a short page is the last of its
    round) and hands the delivery to the worker of its share, who sends it without reading the
    due deliveries again; the other workers stay asleep (before: every commit made all four
    read; then the first and the share's worker each read)."""
    import zlib

    from sqlalchemy import event

    from shared.wakeup import Signal

    channel = CountingChannel()
    runtime = _instance(tmp_path, channel)
    dispatcher = dependencies(runtime).dispatcher
    dispatcher.workers = 4
    # Shares are crc32("kind:id") modulo the workers: this volunteer's is the third worker's.
    volunteer = next(
        f"vol-{n}" for n in range(100) if zlib.crc32(f"volunteer:vol-{n}".encode()) % 4 == 2
    )
    readers: list[str] = []

    def _read(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        if "LIMIT" in statement and "next_attempt_at <=" in statement:
            readers.append(threading.current_thread().name)

    engine = runtime.sessions.kw["bind"]
    event.listen(engine, "before_cursor_execute", _read)
    stop, wakeup = threading.Event(), Signal()
    thread = threading.Thread(
        target=dispatcher.run, args=(stop, 3600.0, wakeup), name="dispatcher-0", daemon=True
    )
    thread.start()
    try:
        # Each worker reads once as it starts (nothing is due), then sleeps for an hour.
        everyone = {f"dispatcher-{k}" for k in range(4)}
        wait_until(lambda: set(readers) == everyone, 10, what="every worker's first round")
        readers.clear()
        _stage(runtime, volunteer, "e-share")
        wakeup.set()
        wait_until(lambda: _sent_to(channel, volunteer) == 1, 10, what="the e-mail")
        assert readers == ["dispatcher-0"]
        assert channel.threads == ["dispatcher-2"]
    finally:
        event.remove(engine, "before_cursor_execute", _read)
        stop.set()
        thread.join(30)
        runtime.shutdown()


def test_a_retry_scheduled_in_a_round_is_when_the_dispatcher_wakes_next(tmp_path):
    """A round ends on its short page without reading again; the retry one of its attempts
    scheduled is still when the dispatcher next wakes (not the safety net's interval later)."""
    from datetime import timedelta

    from services.notifications.domain.messages import RetryLater

    class Busy(CountingChannel):
        def send(self, notification: Notification) -> str:
            raise RetryLater("451 try again later", retry_after=timedelta(minutes=7))

    runtime = _instance(tmp_path, Busy())
    dispatcher = dependencies(runtime).dispatcher
    try:
        delivery_id = _stage(runtime, "vol-busy", "e-busy")
        assert dispatcher.run_once() == 1
        with runtime.sessions() as session:
            retried = session.get(Delivery, delivery_id)
            assert retried is not None and retried.status == "pending" and retried.attempts == 1
            due = retried.next_attempt_at
        assert dispatcher.next_due is not None
        assert dispatcher.next_due.replace(tzinfo=None) == due.replace(tzinfo=None)
        assert dispatcher.run_once() == 0  # not due before its time
    finally:
        runtime.shutdown()


def test_a_delivery_handed_twice_is_sent_once_and_a_retried_one_waits_its_time(tmp_path):
    """The first worker may hand a delivery again that its worker has not attempted yet, or has
    attempted and scheduled for a retry since: it is attempted once, and a retry waits for its
    time (the claim takes only what is pending and due)."""
    from datetime import timedelta

    from services.notifications.domain.messages import RetryLater
    from services.notifications.shares import Handed

    class BusyOnce(CountingChannel):
        def send(self, notification: Notification) -> str:
            if notification.payload["event"]["volunteer_id"] == "vol-busy":
                with self.lock:
                    self.threads.append("busy")
                raise RetryLater("451 try again later", retry_after=timedelta(minutes=7))
            return super().send(notification)

    channel = BusyOnce()
    runtime = _instance(tmp_path, channel)
    dispatcher = dependencies(runtime).dispatcher
    try:
        sent, busy = _stage(runtime, "vol-ok", "e-ok"), _stage(runtime, "vol-busy", "e-busy")
        box = Handed()
        for delivery_id in (sent, busy, sent, busy):
            box.put(delivery_id)
        assert box.take() == [sent, busy]
        assert dispatcher._attempt_all([sent, busy, sent, busy], None)[0] == 2
        assert _sent_to(channel, "vol-ok") == 1 and channel.threads.count("busy") == 1
        assert _status(runtime, sent)[0] == "sent" and _status(runtime, busy)[0] == "pending"
    finally:
        runtime.shutdown()


def test_staff_messages_about_different_matches_leave_side_by_side_about_one_in_order(tmp_path):
    """An agency's staff mailbox gets a message about every proposal. While the SMTP answer to
    one about match A is slow, one about match B is sent by another worker (before: every staff
    message of the agency waited for the one before it); the messages about one match still
    leave one after the other, in the order they fell due."""
    from datetime import timedelta

    from services.notifications.shares import share_index
    from shared.wakeup import Signal

    class SlowForA(CountingChannel):
        def __init__(self) -> None:
            super().__init__(crash_on="no one")
            self.b_started = threading.Event()
            self.a_saw_b: bool | None = None
            self.senders: dict[str, set[str]] = {}

        def send(self, notification: Notification) -> str:
            match_id = notification.payload["event"]["match_id"]
            with self.lock:
                self.senders.setdefault(match_id, set()).add(threading.current_thread().name)
            if match_id == slow and self.a_saw_b is None:
                self.a_saw_b = self.b_started.wait(10)  # the SMTP answer, slow
            elif match_id == other:
                self.b_started.set()
            return super().send(notification)

    workers = 4
    subjects = [f"m-{n}" for n in range(100)]
    slow = subjects[0]
    other = next(
        s
        for s in subjects
        if share_index("staff", "TG", workers, s) != share_index("staff", "TG", workers, slow)
    )
    channel = SlowForA()
    runtime = _instance(tmp_path, channel)
    dispatcher = dependencies(runtime).dispatcher
    dispatcher.workers = workers
    start = datetime.now(UTC) - timedelta(minutes=1)
    staged = [(slow, "proposed"), (slow, "cancelled"), (other, "proposed"), (slow, "re-proposed")]
    with runtime.sessions.begin() as session:
        for n, (match_id, what) in enumerate(staged):
            session.add(
                _delivery(
                    "TG",
                    start + timedelta(seconds=n),
                    id=f"dlv-{n}",
                    idempotency_key=f"staff-{n}",
                    event_id=f"e-{n}-{what}",
                    event_type="match.proposed",
                    agencies=["TG", "ML"],
                    category="proposals",
                    mandatory=False,
                    recipient_kind="staff",
                    subject=match_id,
                    payload={"event": {"match_id": match_id}, "agencies": ["TG", "ML"]},
                )
            )
    stop, wakeup = threading.Event(), Signal()
    thread = threading.Thread(
        target=dispatcher.run, args=(stop, 3600.0, wakeup), name="dispatcher-0", daemon=True
    )
    thread.start()
    try:
        wait_until(lambda: len(channel.sent) == len(staged), 30, what="every staff message")
        assert channel.a_saw_b is True
        about_slow = [n.event_id for n in channel.sent if n.payload["event"]["match_id"] == slow]
        assert about_slow == ["e-0-proposed", "e-1-cancelled", "e-3-re-proposed"]
        assert len(channel.senders[slow]) == 1
        assert channel.senders[slow] != channel.senders[other]
    finally:
        stop.set()
        thread.join(30)
        runtime.shutdown()
