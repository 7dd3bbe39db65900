"""Single registrations through a registry served by gunicorn (`vir serve registry`) on PostgreSQL.

A bounded load from a separate process on loopback: wrk (Debian's package, written in C) keeps
`CONNECTIONS` connections busy for `SECONDS`, each `POST /api/v1/volunteers` with a new identity.
wrk rather than a Python load tool because this machine has 2 cores: the load generator must not
take the CPU the server is measured on (wrk needs a few percent of one core at these rates).

Ceiling, same server, same run: the bare `GET /health/live`, which passes through the same
gunicorn workers and Flask app but touches no database.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select

from services.registry.access import create_token
from services.registry.adapters.orm import Volunteer
from shared.auth import Role
from shared.db import outbox
from shared.migrations import upgrade
from tests.support import infra
from tests.support.infra import wait_until
from tests.support.registry import volunteer_payload

NAME = "registration_rate"
# Overridable from the environment to compare server set-ups on the same machine, e.g.
# REGISTRATION_RATE_WORKERS=3 REGISTRATION_RATE_THREADS=1 python -m bench.run registration_rate
WORKERS = int(os.environ.get("REGISTRATION_RATE_WORKERS", 2))  # `vir serve`'s defaults
THREADS = int(os.environ.get("REGISTRATION_RATE_THREADS", 4))
CONNECTIONS = int(os.environ.get("REGISTRATION_RATE_CONNECTIONS", 8))
SECONDS = int(os.environ.get("REGISTRATION_RATE_SECONDS", 15))
ROUNDS = int(os.environ.get("REGISTRATION_RATE_ROUNDS", 3))
TARGET_RATE = 500.0
TARGET_P95_MS = 50.0

# wrk's Lua: each request a new volunteer (thread number + counter in the identity number); the
# summary as one JSON line, latencies in microseconds.
_SCRIPT = """
local counter = 0
local threads = {}
function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  statuses = {}
end
function request()
  counter = counter + 1
  local body = string.gsub(TEMPLATE, "IDENTITY", string.format("TG-%d-%09d", tid, counter))
  return wrk.format("POST", nil, nil, body)
end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    local s = thread:get("statuses")
    for code, n in pairs(s) do counts[tostring(code)] = (counts[tostring(code)] or 0) + n end
  end
  local parts = {}
  for code, n in pairs(counts) do table.insert(parts, string.format('"%s":%d', code, n)) end
  io.write(string.format(
    'WRK {"requests":%d,"seconds":%f,"errors":%d,"p50":%d,"p95":%d,"p99":%d,"statuses":{%s}}\\n',
    summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.status + summary.errors.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99),
    table.concat(parts, ",")))
end
"""

_GET_SCRIPT = """
function done(summary, latency, requests)
  io.write(string.format(
    'WRK {"requests":%d,"seconds":%f,"errors":%d,"p50":%d,"p95":%d,"p99":%d,"statuses":{}}\\n',
    summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.status + summary.errors.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _lua_string(text: str) -> str:
    return "[==[" + text + "]==]"


def _wrk(url: str, script: str, headers: dict[str, str], seconds: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    try:
        command = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "-s", f.name]
        for name, value in headers.items():
            command += ["-H", f"{name}: {value}"]
        out = subprocess.run(
            [*command, url], capture_output=True, text=True, timeout=seconds + 60, check=True
        ).stdout
    finally:
        os.unlink(f.name)
    line = next(x for x in out.splitlines() if x.startswith("WRK "))
    result = json.loads(line[4:])
    result["rate"] = result["requests"] / result["seconds"]
    return result


def _serve(database_url: str, port: int, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "AGENCY_CODE": "TG",
        "DATABASE_URL": database_url,
        "AMQP_URL": "memory://",
        "LOG_LEVEL": "WARNING",
        "VIR_VAR_DIR": str(log.parent),
    }
    vir = Path(sys.executable).with_name("vir")
    command = [str(vir), "serve", "registry", "--port", str(port)]
    command += ["--workers", str(WORKERS), "--threads", str(THREADS), "--no-access-log"]
    return subprocess.Popen(
        command, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )


def _live(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/health/live", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def _round(workdir: Path) -> dict[str, Any]:
    url = infra.create_database()
    server: subprocess.Popen | None = None
    try:
        upgrade("registry", url)
        engine = create_engine(url)
        with engine.begin() as conn:
            token = create_token(conn, "TG", Role.STAFF, "bench")[1]
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        server = _serve(url, port, workdir / "gunicorn.log")
        wait_until(lambda: _live(base), timeout=60, what="gunicorn to answer")
        payload = json.dumps(volunteer_payload(0, identity_number="IDENTITY"))
        post_script = f"TEMPLATE = {_lua_string(payload)}\n" + _SCRIPT
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        _wrk(f"{base}/health/live", _GET_SCRIPT, {}, 2)  # warm-up: workers, imports, pools
        ceiling = _wrk(f"{base}/health/live", _GET_SCRIPT, {}, SECONDS)
        post = _wrk(f"{base}/api/v1/volunteers", post_script, headers, SECONDS)
        server.terminate()  # gunicorn finishes the requests in flight, then stops
        server.wait(60)
        with engine.connect() as conn:
            stored = conn.scalar(select(func.count()).select_from(Volunteer))
            events = conn.scalar(
                select(func.count())
                .select_from(outbox)
                .where(outbox.c.event_type == "volunteer.registered")
            )
        engine.dispose()
        created = post["statuses"].get("201", 0)
        # Every answered registration is stored with its event (wrk stops with some in flight).
        assert post["errors"] == 0 and set(post["statuses"]) == {"201"}, post
        assert created <= stored <= created + CONNECTIONS, (created, stored)
        assert events == stored, (stored, events)
        return {"post": post, "get": ceiling, "stored": stored}
    finally:
        if server is not None and server.poll() is None:
            server.terminate()
            server.wait(30)
        infra.drop_database(url)


def run() -> dict:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: apt-get install wrk (make prepare does it)")
    rounds = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(ROUNDS):
            rounds.append(_round(Path(tmp)))
    median = sorted(rounds, key=lambda r: r["post"]["rate"])[(len(rounds) - 1) // 2]
    post, get = median["post"], median["get"]
    value, ceiling = post["rate"], get["rate"]
    p95_ms = post["p95"] / 1000
    return {
        "name": NAME,
        "value": round(value, 1),
        "unit": "requests/s",
        "baseline_name": "GET /health/live on the same gunicorn server, same run (ceiling)",
        "baseline_value": round(ceiling, 1),
        "ratio": round(value / ceiling, 3),
        "meets_target": value >= TARGET_RATE and p95_ms < TARGET_P95_MS,
        "details": {
            "target": f">= {TARGET_RATE:.0f} requests/s with p95 < {TARGET_P95_MS:.0f} ms",
            "p50_ms": round(post["p50"] / 1000, 1),
            "p95_ms": round(p95_ms, 1),
            "p99_ms": round(post["p99"] / 1000, 1),
            "health_p95_ms": round(get["p95"] / 1000, 1),
            "registered": post["statuses"].get("201", 0),
            "stored_with_event": median["stored"],
            "rates": [round(r["post"]["rate"], 1) for r in rounds],
            "p95s_ms": [round(r["post"]["p95"] / 1000, 1) for r in rounds],
            "ceilings": [round(r["get"]["rate"], 1) for r in rounds],
            "gunicorn": {
                "workers": WORKERS,
                "threads": THREADS,
                "worker_class": "gthread" if THREADS > 1 else "sync",
                "access_log": False,
            },
            "load": f"wrk, 2 threads, {CONNECTIONS} connections, {SECONDS} s per measure",
            "load_average_at_end": round(os.getloadavg()[0], 1),
            "rounds": ROUNDS,
        },
    }
