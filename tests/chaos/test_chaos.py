"""The bounded chaos run of `make test` (every fault kind once, about a thousand events), and the
checker's own tests: with a protection removed in the service processes, it reports the
violation that protection prevents."""

from __future__ import annotations

import pytest

from tests.chaos.infra import PrivatePostgres, PrivateRabbit
from tests.chaos.run import Options, run

pytestmark = [
    pytest.mark.integration,
    # A hang guard, not a speed target: 16 processes and a fault schedule take 2 minutes on a
    # quiet machine and more than the suite's 300 s when other work shares the 2 cores.
    pytest.mark.timeout(1200),
    pytest.mark.skipif(
        not (PrivateRabbit.available() and PrivatePostgres.available()),
        reason="needs rabbitmq-server and PostgreSQL's binaries on this machine",
    ),
]


def test_a_bounded_chaos_run_with_every_fault_loses_nothing_and_applies_nothing_twice(tmp_path):
    summary = run(
        # One API client: about a thousand events a fault round, and a short backlog to drain.
        Options(
            seed=7, events=1000, workers=1, hold=1.0, gap=0.5, quiesce=180, out=tmp_path / "run"
        )
    )
    assert set(summary["faults"]) == set(summary["fault_kinds"])  # every kind at least once
    assert summary["events"]["total"] >= 1000
    assert summary["acknowledged"] > 0
    assert summary["dead_letters"]["poison_dead_lettered"] > 0
    assert summary["channels"]["email"]["sent"] > 0
    assert summary["channels"]["webhook"]["sent"] > 0
    assert summary["lost"] == 0
    assert summary["duplicates"] == 0
    assert summary["ok"], summary["violations"]


def test_without_the_inbox_deduplication_the_checker_counts_effects_applied_twice(tmp_path):
    summary = run(
        Options(
            seed=8,
            events=400,
            faults=("redeliver",),
            hold=1.0,
            gap=1.0,
            quiesce=60,
            sabotage="inbox",
            out=tmp_path / "run",
        )
    )
    assert summary["duplicates"] > 0
    assert any("applied twice" in v and "applied twice 0" not in v for v in summary["violations"])
    assert not summary["ok"]


def test_with_the_outbox_marked_before_the_broker_confirms_the_checker_counts_lost_events(
    tmp_path,
):
    summary = run(
        Options(
            seed=9,
            events=400,
            faults=("broker-restart",),
            hold=3.0,
            gap=1.0,
            quiesce=20,  # the lost events never come: no need to wait long
            sabotage="outbox",
            out=tmp_path / "run",
        )
    )
    assert summary["lost"] > 0
    assert any("lost" in v and "lost 0," not in v for v in summary["violations"])
    assert not summary["ok"]
