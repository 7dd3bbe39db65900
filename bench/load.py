"""Sustained load: registrations on TG at 20/s, 40/s, 80/s, … until the knee, with Locust.

The network runs as in `bench.e2e_latency` on PostgreSQL + RabbitMQ, one process per node
(registries TG and ML, matching, notifications and each agency's notifications); this process
runs the SMTP server (aiosmtpd) and looks at the matches committed in both registries, with
the same probes as `e2e_latency`. The load comes from Locust, headless, used as a library in a
process of its own (`bench.load_users`): one user per registration per second, a
`LoadTestShape` stepping the rate up and stopping at the knee (error rate > 1 %, p95 > 1 s, or
under 90 % of the target achieved) or after the last step.

Per step: API latency of `POST /api/v1/volunteers` (p50/p95/p99), achieved rate, and for the
registrations started in that step the time to their `match.proposed` on both registries and to
both staff e-mails (lower bounds when some had not arrived by the end: `lower_bound`). At the
end: resident memory (RSS) of every process, and CPU used by each. Writes
bench/results/load.json (through `bench.run`) and the chart docs/img/load.png.

    python -m bench.load                      # the whole bench, 2-4 minutes
    python -m bench.load --step-seconds 10    # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psutil

from bench.e2e_hops import percentiles
from bench.e2e_latency import (
    STAFF,
    Mailbox,
    Network,
    Observed,
    _all_matches,
    _start_network,
    _watch,
)

NAME = "load"
RATES = [20, 40, 80, 160, 320]
STEP_SECONDS = 15.0
MAX_SLOTS = 10_000  # the most an agreement's quota may be (the event contract's limit)
DRAIN = 30.0  # after the load, how long to wait for outstanding proposals and e-mails
CHART = Path(__file__).resolve().parent.parent / "docs" / "img" / "load.png"


def _rss(pid: int) -> int:
    """Resident memory of a process and its children, in bytes."""
    try:
        process = psutil.Process(pid)
        return process.memory_info().rss + sum(
            c.memory_info().rss for c in process.children(recursive=True)
        )
    except psutil.Error:
        return 0


def _per_registration(observed: Observed) -> dict[str, tuple[float | None, float | None]]:
    """Volunteer id -> (monotonic time its proposal was on both registries, of both e-mails)."""
    first: dict[str, tuple[float, str]] = {}
    for match_id, volunteer_id in observed.volunteer_of.items():
        tg, ml = observed.seen["TG"].get(match_id), observed.seen["ML"].get(match_id)
        if tg is None or ml is None:
            continue
        both = max(tg, ml)
        if volunteer_id not in first or both < first[volunteer_id][0]:
            first[volunteer_id] = (both, match_id)
    out: dict[str, tuple[float | None, float | None]] = {}
    for volunteer_id, (seen_at, match_id) in first.items():
        tg, ml = observed.mails["TG"].get(match_id), observed.mails["ML"].get(match_id)
        out[volunteer_id] = (seen_at, None if tg is None or ml is None else max(tg, ml))
    return out


def _step_results(
    generated: dict[str, Any], observed: Observed, ended: float
) -> list[dict[str, Any]]:
    arrived = _per_registration(observed)
    results = []
    for step in generated["steps"]:
        begin, end = step["begin"], step.get("end", generated["ended"])
        inside = [r for r in generated["records"] if begin <= r[0] < end]
        ok = [r for r in inside if r[2] == 201]
        proposal, proposal_missing, mail, mail_missing = [], [], [], []
        for start, _, _, volunteer_id in ok:
            seen_at, mailed_at = arrived.get(volunteer_id, (None, None))
            waited = (ended - start) * 1000
            if seen_at is None:
                proposal_missing.append(waited)
            else:
                proposal.append((seen_at - start) * 1000)
            if mailed_at is None:
                mail_missing.append(waited)
            else:
                mail.append((mailed_at - start) * 1000)
        results.append(
            {
                "target_per_s": step["rate"],
                "seconds": round(end - begin, 1),
                "requests": len(inside),
                "registered": len(ok),
                "errors": len(inside) - len(ok),
                "error_rate": round((len(inside) - len(ok)) / max(1, len(inside)), 4),
                "achieved_per_s": round(len(ok) / (end - begin), 1),
                "api_ms": percentiles([r[1] for r in ok]),
                "to_proposal_on_both_registries_ms": percentiles(proposal, proposal_missing),
                "to_both_staff_emails_ms": percentiles(mail, mail_missing),
                "without_proposal": len(proposal_missing),
                "without_both_emails": len(mail_missing),
            }
        )
    return results


def _chart(steps: list[dict[str, Any]], knee: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates = [s["target_per_s"] for s in steps]
    fig, (api, e2e) = plt.subplots(1, 2, figsize=(11, 4.2))
    for key, style in (("p50", "o-"), ("p95", "s-"), ("p99", "^-")):
        api.plot(rates, [s["api_ms"][key] or float("nan") for s in steps], style, label=key)
    api.axhline(1000, color="grey", linestyle=":", linewidth=1)
    api.set_xscale("log", base=2)
    api.set_yscale("log")
    api.set_xticks(rates, [str(r) for r in rates])
    api.set_xlabel("target registrations/s (Locust step)")
    api.set_ylabel("POST /api/v1/volunteers, ms")
    twin = api.twinx()
    twin.plot(rates, [s["achieved_per_s"] for s in steps], "k--", label="achieved/s")
    twin.plot(rates, rates, ":", color="grey", label="target/s")
    twin.set_ylim(0, max(rates) * 1.1)
    twin.set_ylabel("registrations/s")
    lines = api.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    labels = api.get_legend_handles_labels()[1] + twin.get_legend_handles_labels()[1]
    api.legend(lines, labels, loc="upper left", fontsize=8)
    api.set_title(f"API latency per step ({knee})", fontsize=10)
    share = e2e.twinx()
    share.bar(
        rates,
        [100 * (1 - s["without_proposal"] / max(1, s["registered"])) for s in steps],
        width=[r * 0.25 for r in rates],
        color="lightgrey",
        label="% proposed by the end",
    )
    share.set_ylim(0, 105)
    share.set_ylabel("% of the step's registrations proposed by the end")
    e2e.set_zorder(share.get_zorder() + 1)
    e2e.patch.set_visible(False)
    for key, label, marker in (
        ("to_proposal_on_both_registries_ms", "proposal", "o"),
        ("to_both_staff_emails_ms", "e-mails", "s"),
    ):
        for q, line in (("p50", "-"), ("p95", "--")):
            values = [(s[key][q] or float("nan")) / 1000 for s in steps]
            e2e.plot(rates, values, marker + line, label=f"{label} {q}")
            # Hollow markers: a lower bound (some had not arrived by the end of the run).
            bounds = [r for r, s in zip(rates, steps, strict=True) if s[key].get("lower_bound")]
            lows = [v for v, s in zip(values, steps, strict=True) if s[key].get("lower_bound")]
            e2e.plot(bounds, lows, marker, color="white", markersize=4, linestyle="none")
    e2e.set_xscale("log", base=2)
    e2e.set_yscale("log")
    e2e.set_xticks(rates, [str(r) for r in rates])
    e2e.set_xlabel("target registrations/s (Locust step)")
    e2e.set_ylabel("seconds after the registration")
    e2e.set_title(
        "registration → match.proposed → staff e-mails\n(hollow: lower bound, not all arrived)",
        fontsize=10,
    )
    lines = e2e.get_legend_handles_labels()[0] + share.get_legend_handles_labels()[0]
    labels = e2e.get_legend_handles_labels()[1] + share.get_legend_handles_labels()[1]
    e2e.legend(lines, labels, fontsize=8, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def run(
    rates: list[int] | None = None,
    step_seconds: float | None = None,
    chart: Path | None = CHART,
) -> dict[str, Any]:
    from aiosmtpd.controller import Controller

    from tests.support import infra

    rates = rates or RATES
    step_seconds = step_seconds or float(os.environ.get("LOAD_STEP_SECONDS", STEP_SECONDS))
    observed = Observed()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        smtp_port = probe.getsockname()[1]
    controller = Controller(Mailbox(observed), hostname="127.0.0.1", port=smtp_port)
    controller.start()
    env = {k: v for k, v in os.environ.items() if k not in ("AMQP_URL", "DATABASE_URL")}
    env.update(SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp_port), LOG_LEVEL="WARNING")
    env.update(NOTIFY_LINK_SECRET=uuid.uuid4().hex, DASHBOARD_SECRET_KEY=uuid.uuid4().hex)
    prefix = f"vir_load_{uuid.uuid4().hex[:8]}_"
    var_dir = tempfile.mkdtemp(prefix="vir-load-")
    env["VIR_VAR_DIR"] = var_dir
    vhost = infra.create_vhost()
    env["AMQP_URL"] = infra.amqp_url(vhost)
    env["DATABASE_URL"] = infra.postgres_admin_url()
    net = Network(env, prefix)
    # Room under the agreement for every registration the steps can make (15 s steps: 9,300).
    slots = min(MAX_SLOTS, int(sum(rates) * step_seconds) + 100)
    try:
        tokens = _start_network(net, "postgres", slots)
        bases = {c: f"http://127.0.0.1:{net.ports[f'registry-{c.lower()}']}" for c in STAFF}
        stop = threading.Event()
        watchers = [
            threading.Thread(
                target=_watch,
                args=(c, net.databases[f"registry-{c.lower()}"], observed, stop),
                daemon=True,
            )
            for c in ("TG", "ML")
        ]
        for w in watchers:
            w.start()
        cpu_before = net.cpu_seconds()
        config = {
            "host": bases["TG"],
            "token": tokens["TG"],
            "rates": rates,
            "step_seconds": step_seconds,
        }
        config_path = Path(var_dir) / "load-config.json"
        result_path = Path(var_dir) / "load-result.json"
        config_path.write_text(json.dumps(config))
        generator = subprocess.Popen(
            [sys.executable, "-m", "bench.load_users", str(config_path), str(result_path)],
            cwd=Path(__file__).resolve().parent.parent,
        )
        generator_rss = 0
        while generator.poll() is None:
            generator_rss = max(generator_rss, _rss(generator.pid))
            time.sleep(0.5)
        if generator.returncode != 0:
            raise RuntimeError(f"the load generator failed ({generator.returncode})")
        generated = json.loads(result_path.read_text())
        registered = {r[3]: r[0] for r in generated["records"] if r[2] == 201}
        with observed.lock:
            observed.registered.update(registered)

        def settled() -> bool:
            with observed.lock:
                seen = set(observed.seen["TG"]) & set(observed.seen["ML"])
                proposed = {observed.volunteer_of[m] for m in seen}
                mailed = set(observed.mails["TG"]) & set(observed.mails["ML"])
                return set(registered) <= proposed and seen <= mailed

        deadline = time.monotonic() + DRAIN
        while not settled() and time.monotonic() < deadline:
            time.sleep(0.1)
        stop.set()
        ended = time.monotonic()
        cpu_after = net.cpu_seconds()
        rss = {
            name: round(_rss(process.pid) / 2**20, 1)
            for name, (process, _) in zip(net.names, net.processes, strict=True)
        }
        for w in watchers:
            w.join(10)
        for c in ("TG", "ML"):
            _all_matches(c, bases[c], tokens[c], observed)
    finally:
        net.stop()
        controller.stop()
        infra.delete_vhost(vhost)
        for url in net.databases.values():
            if url.startswith("postgresql"):
                infra.drop_database(url)
    steps = _step_results(generated, observed, ended)
    at_knee = generated["stopped_because"].startswith("knee")
    knee_step = steps[-1] if at_knee and steps else None
    below = steps[:-1] if at_knee else steps
    sustained = max((s["achieved_per_s"] for s in below), default=0.0)
    cpu = {name: round(cpu_after[name] - cpu_before[name], 1) for name in cpu_before}
    if chart is not None:
        _chart(steps, generated["stopped_because"], chart)
    last_good = below[-1]["target_per_s"] if below else None
    return {
        "name": NAME,
        "value": float(last_good or 0),
        "unit": "reg/s",
        "baseline_name": "the first step's target rate (20 registrations/s)",
        "baseline_value": float(rates[0]),
        "ratio": round((last_good or 0) / rates[0], 2),
        "meets_target": True,  # the bench finds the knee; it has no target of its own
        "details": {
            "value_is": "the highest step below the knee (its target rate)",
            "stopped_because": generated["stopped_because"],
            "knee": knee_step["target_per_s"] if knee_step else None,
            "highest_achieved_per_s_below_knee": sustained,
            "knee_rule": "error rate > 1 %, API p95 > 1 s, or < 90 % of the target achieved",
            "step_seconds": step_seconds,
            "rates": rates,
            "steps": steps,
            "drain_s": DRAIN,
            "rss_mib_at_end": {**rss, "locust (peak)": round(generator_rss / 2**20, 1)},
            "cpu_s_during_load": cpu,
            "locust": generated["locust_totals"],
            "load_generator": "Locust (FastHttpUser, constant_throughput(1) per user), headless, "
            "in its own process",
            "servers": "each node as `vir network` runs it: Werkzeug's threaded server, "
            "PostgreSQL + RabbitMQ",
            "load_average_at_end": round(os.getloadavg()[0], 1),
            "chart": str(chart.relative_to(CHART.parent.parent.parent)) if chart else None,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step-seconds", type=float, default=STEP_SECONDS)
    parser.add_argument("--rates", default=",".join(map(str, RATES)))
    parser.add_argument("--write", action="store_true", help="also write bench/results/load.json")
    args = parser.parse_args()
    result = run([int(r) for r in args.rates.split(",")], args.step_seconds)
    text = json.dumps(result, indent=2)
    if args.write:
        (Path(__file__).resolve().parent / "results" / f"{NAME}.json").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
