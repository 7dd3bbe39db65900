"""Wake a waiting loop the moment what it waits for is committed, instead of polling.

A writer calls `wake_on_commit(session, channel)` in the transaction that creates the work (an
outbox row, a delivery, a dirty agreement). A loop waits with `listener(engine, channel).wait()`:

- PostgreSQL: the writer's transaction runs `pg_notify(channel)`, which PostgreSQL delivers only
  if and when that transaction commits, to every process LISTENing on the channel; the waiter
  LISTENs on a dedicated psycopg connection of its own (not one of the pool's).
- SQLite (the embedded mode, one process): an in-process signal, raised by the session's
  `after_commit` hook, so a waiter never wakes before the row is visible to it.

Every waiter keeps a timeout as its safety net (a lost connection, a writer on a bare SQLAlchemy
Connection with SQLite): it then does what it did before, a poll, only slower.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session, SessionTransaction

from shared.logging import get_logger

log = get_logger(__name__)

OUTBOX_CHANNEL = "vir_outbox"
# How often a waiter looks at its stop event while it waits (bounds the time a shutdown takes).
STOP_CHECK = 0.25
_NOTIFIED = "vir_wakeup_notified"  # session.info: channel -> the transaction that notified it
_PENDING = "vir_wakeup_pending"  # session.info: in-process signals to raise after the commit


class Waiter(Protocol):
    def wait(self, timeout: float, stop: threading.Event | None = None) -> bool:
        """True when woken within `timeout` seconds; False on timeout or when `stop` is set."""
        ...

    def close(self) -> None: ...


class Signal:
    """An in-process wake-up for one waiting thread; any thread may `set()` it."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def wait(self, timeout: float, stop: threading.Event | None = None) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (stop is not None and stop.is_set()):
                return False
            if self._event.wait(min(remaining, STOP_CHECK)):
                # Cleared before the caller works: a signal raised from here on is for a commit
                # the caller may not see yet, so it wakes the next wait.
                self._event.clear()
                return True

    def close(self) -> None:
        return None


# -- in-process signals, by database and channel ----------------------------------------------

_lock = threading.Lock()
_subscribers: dict[str, set[Signal]] = {}


def _key(url: URL, channel: str) -> str:
    return f"{channel}@{url.render_as_string(hide_password=True)}"


def raise_signal(key: str) -> None:
    with _lock:
        waiting = list(_subscribers.get(key, ()))
    for signal in waiting:
        signal.set()


class _LocalListener(Signal):
    def __init__(self, key: str) -> None:
        super().__init__()
        self._key = key
        with _lock:
            _subscribers.setdefault(key, set()).add(self)

    def close(self) -> None:
        with _lock:
            _subscribers.get(self._key, set()).discard(self)


# -- PostgreSQL LISTEN ------------------------------------------------------------------------


class PgListener:
    """LISTENs on `channel` on its own connection, opened at the first wait and after a loss."""

    def __init__(self, url: URL, channel: str) -> None:
        self._conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._channel = channel
        self._conn: Any = None

    def _connect(self) -> None:
        import psycopg
        from psycopg import sql

        conn = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5)
        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
        self._conn = conn

    def wait(self, timeout: float, stop: threading.Event | None = None) -> bool:
        import psycopg

        if self._conn is None:
            try:
                self._connect()
            except psycopg.Error as exc:
                log.warning("wakeup.listen_failed", channel=self._channel, error=str(exc))
                if stop is not None:
                    stop.wait(timeout)
                else:
                    time.sleep(timeout)
                return False
            # What committed before LISTEN took effect sent no notice we can see: look once more.
            return True
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (stop is not None and stop.is_set()):
                return False
            try:
                # stop_after=1 still returns every notice already received, in one go.
                slice_ = min(remaining, STOP_CHECK)
                notices = list(self._conn.notifies(timeout=slice_, stop_after=1))
            except psycopg.Error as exc:
                log.warning("wakeup.listen_lost", channel=self._channel, error=str(exc))
                self.close()
                return True  # reconnect at the next wait; meanwhile the caller looks once more
            if notices:
                return True

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - the connection is gone already
                pass


def listener(engine: Engine, channel: str) -> Waiter:
    """A waiter woken by `wake_on_commit(…, channel)` on `engine`'s database."""
    if engine.dialect.name == "postgresql":
        return PgListener(engine.url, channel)
    return _LocalListener(_key(engine.url, channel))


# -- the writer's side ------------------------------------------------------------------------


def wake_on_commit(session: Session | Connection, channel: str) -> None:
    """Wake the listeners of `channel` when the caller's transaction commits (never before)."""
    if isinstance(session, Session):
        bind = session.get_bind()
        if bind.dialect.name == "postgresql":
            # Once per transaction; but a notice sent inside a savepoint that was rolled back is
            # gone, so it is sent again unless the (sub)transaction that sent it is still open.
            notified: dict[str, Any] = session.info.setdefault(_NOTIFIED, {})
            sent_in = notified.get(channel)
            if sent_in is None or not sent_in.is_active:
                session.execute(text("SELECT pg_notify(:c, '')"), {"c": channel})
                notified[channel] = session.get_nested_transaction() or session.get_transaction()
        else:
            session.info.setdefault(_PENDING, set()).add(_key(bind.engine.url, channel))
        return
    if session.dialect.name == "postgresql":
        # PostgreSQL folds identical notices of one transaction into one.
        session.execute(text("SELECT pg_notify(:c, '')"), {"c": channel})


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    session.info.pop(_NOTIFIED, None)
    keys: Iterable[str] = session.info.pop(_PENDING, ())
    for key in keys:
        raise_signal(key)


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    # Only the outermost transaction's end forgets: a savepoint rolled back keeps what the
    # transaction around it still has to signal.
    if transaction.parent is None:
        session.info.pop(_NOTIFIED, None)
        session.info.pop(_PENDING, None)
