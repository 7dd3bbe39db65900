"""The compose network, up once for the module's tests and down (volumes too) after them.

Run by `make compose-test` only (tests/conftest.py leaves this folder out otherwise). To run the
tests against a network already up: VIR_COMPOSE_ATTACH=ENV_FILE:PROJECT (nothing is torn down).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.compose.stack import PORTS, ROOT, Stack, Timings, init
from tests.support.infra import wait_until

HEALTH_TIMEOUT = 300


@pytest.fixture(scope="session")
def timings() -> Iterator[Timings]:
    t = Timings()
    yield t
    print("\n" + t.report(), flush=True)


def _attached(spec: str, log: Path) -> Stack:
    env_file, _, project = spec.rpartition(":")
    values = dict(
        line.split("=", 1) for line in Path(env_file).read_text().splitlines() if "=" in line
    )
    return Stack(Path(env_file), project, log, {p: int(values[p]) for p in PORTS})


@pytest.fixture(scope="session")
def stack(tmp_path_factory, timings: Timings) -> Iterator[Stack]:
    log = ROOT / "var" / "compose-test.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    print(f"\n== compose-test: docker-compose output in {log}", flush=True)
    if os.environ.get("VIR_COMPOSE_ATTACH"):
        yield _attached(os.environ["VIR_COMPOSE_ATTACH"], log)
        return
    with timings.step("vir compose init"):
        stack = init(tmp_path_factory.mktemp("compose"), log)
    healthy = False
    try:
        with timings.step("docker-compose up -d --build"):
            stack.compose("up", "-d", "--build")
        with timings.step("every health check passing"):
            wait_until(lambda: not stack.unready(), HEALTH_TIMEOUT, 2, what="healthy containers")
        healthy = True
        yield stack
    finally:
        if not healthy:  # what the containers said, for the log
            stack.compose("ps", check=False)
            stack.compose("logs", "--no-color", "--tail", "60", check=False)
            print(f"== compose-test: container logs in {log}", flush=True)
        if os.environ.get("VIR_COMPOSE_KEEP") != "1":
            with timings.step("docker-compose down -v"):
                stack.compose("down", "-v", "--remove-orphans", check=False)
