"""Fault tests, counted like Jepsen's checkers: events lost = 0, effects applied twice = 0."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from kombu import Connection
from sqlalchemy import func, select

from shared.db import make_session_factory, outbox
from shared.messaging import topology
from shared.outbox import backlog
from tests.support import effects
from tests.support.infra import broker_is_up, rabbitmqctl, wait_until
from tests.support.keys import keyring
from tests.support.running import running_consumer, running_relay

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
VIR = str(Path(sys.executable).with_name("vir"))


def _write(engine, count: int) -> set[str]:
    sessions = make_session_factory(engine)
    ids = set()
    for n in range(count):
        with sessions.begin() as session:
            ids.add(effects.write_change_with_event(session, n).id)
    return ids


def _published(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(
            select(func.count()).select_from(outbox).where(outbox.c.published_at.is_not(None))
        ).scalar_one()


def _assert_nothing_lost_nothing_twice(engine, written: set[str]) -> None:
    tally = effects.tally(engine)
    lost = written - tally.ids
    assert len(lost) == 0, f"{len(lost)} events lost"
    assert tally.duplicates == 0, f"{tally.duplicates} effects applied twice"
    assert tally.ids == written


@contextmanager
def _process(args: list[str], env: dict[str, str]):
    proc = subprocess.Popen(args, cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.mark.skipif(shutil.which("rabbitmqctl") is None, reason="needs rabbitmqctl on this machine")
def test_broker_stopped_while_1000_events_are_written_then_all_arrive_once(engine, amqp_url):
    with (
        running_consumer(engine, amqp_url, effects.SPEC, effects.record_effect),
        running_relay(engine, amqp_url),
    ):
        rabbitmqctl("stop_app")
        try:
            wait_until(lambda: not broker_is_up(), 60, what="broker down")
            written = _write(engine, 1000)  # the service keeps writing while the broker is down
            with engine.connect() as conn:
                assert backlog(conn).unpublished == 1000
        finally:
            rabbitmqctl("start_app")
        rabbitmqctl("await_startup")
        wait_until(lambda: effects.tally(engine).distinct == 1000, 180, what="1000 effects")
    _assert_nothing_lost_nothing_twice(engine, written)
    with engine.connect() as conn:
        assert backlog(conn).unpublished == 0


def test_relay_killed_mid_batch_and_restarted_loses_nothing_and_applies_nothing_twice(
    engine, amqp_url, pg_url
):
    total = 6000
    written = _write(engine, total)
    env = {
        "AGENCY_CODE": "TG",
        "DATABASE_URL": pg_url,
        "AMQP_URL": amqp_url,
        "OUTBOX_BATCH_SIZE": "50",
        "OUTBOX_IDLE_DELAY": "0.05",
        "LOG_LEVEL": "WARNING",
        **keyring().env("TG"),  # the relay process signs with TG's key of the test trust list
    }
    with running_consumer(engine, amqp_url, effects.SPEC, effects.record_effect):
        with _process([VIR, "relay", "registry"], env) as relay:
            wait_until(lambda: _published(engine) >= total // 5, 120, what="relay under way")
            relay.send_signal(signal.SIGKILL)
            relay.wait(10)
        killed_at = _published(engine)
        assert killed_at < total, "the relay finished before it could be killed"
        with _process([VIR, "relay", "registry"], env):
            wait_until(lambda: effects.tally(engine).distinct == total, 180, what="all effects")
    _assert_nothing_lost_nothing_twice(engine, written)


def test_consumer_killed_mid_batch_and_restarted_loses_nothing_and_applies_nothing_twice(
    engine, amqp_url, pg_url
):
    total = 3000
    written = _write(engine, total)
    args = [sys.executable, "-m", "tests.support.run_consumer", pg_url, amqp_url, "200"]
    # As in a deployment, the queue exists before anything is published (deploy/ definitions).
    with Connection(amqp_url) as conn:
        topology.declare(conn.default_channel, [effects.SPEC])
    with running_relay(engine, amqp_url):
        with _process(args, {}) as consumer:
            wait_until(
                lambda: effects.tally(engine).applied >= total // 4, 120, what="consumer under way"
            )
            consumer.send_signal(signal.SIGKILL)
            consumer.wait(10)
        assert effects.tally(engine).applied < total, "the consumer finished before it was killed"
        with _process(args, {}):
            wait_until(lambda: effects.tally(engine).distinct == total, 180, what="all effects")
    _assert_nothing_lost_nothing_twice(engine, written)
