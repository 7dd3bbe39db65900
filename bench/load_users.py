"""The load generator of `bench.load`: Locust, headless, used as a library, in its own process.

Locust patches the standard library for gevent when imported, so it runs in a process of its
own (`python -m bench.load_users CONFIG.json RESULT.json`), started by `bench.load`, which keeps
the network, the SMTP server and the API watchers free of gevent.

One user is one registration per second (`constant_throughput(1)`), so the number of users is
the target rate. `StepShape` starts at the first rate, holds each step for `step_seconds`, and
moves on to the next rate only while the step just finished was below the knee: error rate at
most 1 %, p95 at most 1 s, and at least 90 % of the target rate achieved. Every request is
recorded (start on the system-wide monotonic clock, duration, status, the volunteer's id), so
`bench.load` can place each registration in its step and follow it to its proposal and e-mails.
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from typing import Any

import gevent
from locust import FastHttpUser, LoadTestShape, constant_throughput, task
from locust.env import Environment
from locust.runners import STATE_STOPPED

from bench.payloads import volunteer

MAX_ERROR_RATE = 0.01
MAX_P95_MS = 1000.0
MIN_ACHIEVED = 0.9

CONFIG: dict[str, Any] = {}
RECORDS: list[tuple[float, float, int, str | None]] = []  # start, ms, status, volunteer id
_numbers = itertools.count()


class Registrant(FastHttpUser):
    """A staff member of TG registering one volunteer a second."""

    wait_time = constant_throughput(1)

    @task
    def register(self) -> None:
        n = next(_numbers)
        start = time.monotonic()
        with self.client.post(
            "/api/v1/volunteers",
            json=volunteer(n, "LOAD"),
            headers={"Authorization": f"Bearer {CONFIG['token']}"},
            name="POST /api/v1/volunteers",
            catch_response=True,
        ) as response:
            elapsed = (time.monotonic() - start) * 1000
            status = response.status_code or 0
            volunteer_id = None
            if status == 201:
                volunteer_id = response.json()["id"]
            else:
                response.failure(f"status {status}")
            RECORDS.append((start, elapsed, status, volunteer_id))


def step_figures(records: list[tuple[float, float, int, str | None]], begin: float, end: float):
    """Requests started in [begin, end): count, error rate, achieved rate, p95 ms."""
    inside = [r for r in records if begin <= r[0] < end]
    if not inside:
        return {"requests": 0, "error_rate": 1.0, "achieved_per_s": 0.0, "p95_ms": None}
    ok = sorted(r[1] for r in inside if r[2] == 201)
    errors = len(inside) - len(ok)
    p95 = ok[min(len(ok) - 1, int(0.95 * len(ok)))] if ok else None
    return {
        "requests": len(inside),
        "error_rate": errors / len(inside),
        "achieved_per_s": len(ok) / (end - begin),
        "p95_ms": p95,
    }


def below_knee(figures: dict[str, Any], rate: float) -> bool:
    return (
        figures["error_rate"] <= MAX_ERROR_RATE
        and figures["p95_ms"] is not None
        and figures["p95_ms"] <= MAX_P95_MS
        and figures["achieved_per_s"] >= MIN_ACHIEVED * rate
    )


class StepShape(LoadTestShape):
    """20/s, 40/s, 80/s, … each for `step_seconds`, until the knee or the last rate."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[dict[str, Any]] = []  # rate, begin, end (monotonic), figures
        self.stopped_because = "last step done"

    def tick(self) -> tuple[int, float] | None:
        rates, hold = CONFIG["rates"], CONFIG["step_seconds"]
        now = time.monotonic()
        if not self.steps:
            self.steps.append({"rate": rates[0], "begin": now})
        current = self.steps[-1]
        if now - current["begin"] >= hold:
            current["end"] = now
            # Requests started in the step's last second may still be in flight: left out.
            current["figures"] = step_figures(RECORDS, current["begin"], now - 1.0)
            if not below_knee(current["figures"], current["rate"]):
                self.stopped_because = f"knee at {current['rate']}/s"
                return None
            if len(self.steps) == len(rates):
                return None
            current = {"rate": rates[len(self.steps)], "begin": now}
            self.steps.append(current)
        rate = int(current["rate"])
        return rate, float(rate)  # all of a step's users start within a second


def main(config_path: str, result_path: str) -> None:
    with open(config_path) as f:
        CONFIG.update(json.load(f))
    Registrant.host = CONFIG["host"]
    shape = StepShape()
    env = Environment(user_classes=[Registrant], shape_class=shape)
    runner = env.create_local_runner()
    began = time.monotonic()
    runner.start_shape()
    gevent.sleep(1)
    while runner.state != STATE_STOPPED:
        gevent.sleep(0.2)
    # Let the requests in flight finish (a user stops after its current task).
    gevent.sleep(2)
    ended = time.monotonic()
    total = env.stats.total
    runner.quit()
    with open(result_path, "w") as f:
        json.dump(
            {
                "began": began,
                "ended": ended,
                "steps": shape.steps,
                "stopped_because": shape.stopped_because,
                "records": RECORDS,
                "locust_totals": {
                    "requests": total.num_requests,
                    "failures": total.num_failures,
                    "p50_ms": total.get_response_time_percentile(0.5),
                    "p95_ms": total.get_response_time_percentile(0.95),
                    "p99_ms": total.get_response_time_percentile(0.99),
                },
            },
            f,
        )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
