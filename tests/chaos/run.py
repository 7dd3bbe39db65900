"""One chaos run: start the network, drive it while the nemesis breaks it, heal, check, write
`history.jsonl` and `summary.json` under the run's directory and print the summary table."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from shared.db import outbox
from tests.chaos import checker
from tests.chaos.child import applied
from tests.chaos.generator import Generator
from tests.chaos.history import History
from tests.chaos.nemesis import Nemesis
from tests.chaos.network import Network


@dataclass
class Options:
    seed: int = 1
    events: int = 10_000  # published + consumed, at least
    duration: float = 1800.0  # at most, seconds of faults
    out: Path = Path("var/chaos/run")
    hold: float = 3.0
    gap: float = 2.0
    workers: int = 3
    quiesce: float = 600.0
    sabotage: str = ""  # tests of the checker only (see tests/chaos/child.py)
    rounds: int = 1  # rounds of every fault kind, at least
    faults: tuple[str, ...] = ()  # only these kinds (default: all)


def live_events(engines: dict[str, Any]) -> int:
    total = 0
    for engine in engines.values():
        with engine.connect() as conn:
            total += conn.execute(
                select(func.count()).select_from(outbox).where(outbox.c.published_at.is_not(None))
            ).scalar_one()
            total += conn.execute(
                select(func.count(func.distinct(applied.c.event_id))).select_from(applied)
            ).scalar_one()
    return total


def run(options: Options, say: Any = print) -> dict[str, Any]:
    options.out.mkdir(parents=True, exist_ok=True)
    history = History(options.out / "history.jsonl")
    net = Network(options.out, sabotage=options.sabotage)
    began = time.monotonic()
    gen: Generator | None = None
    nemesis: Nemesis | None = None
    try:
        say(f"chaos: starting the network (seed {options.seed}) ...")
        net.start()
        engines = net.engines()
        started = time.monotonic() - began
        say(f"chaos: {len(net.procs)} processes ready in {started:.0f} s; setting up")
        gen = Generator(net, history, options.seed, workers=options.workers)
        gen.setup()
        nemesis = Nemesis(
            net, history, options.seed, hold=options.hold, gap=options.gap, only=options.faults
        )
        gen.start()
        nemesis.start()
        faults_began = time.monotonic()
        while True:
            time.sleep(3)
            try:
                events = live_events(engines)
            except OperationalError:  # PostgreSQL stopped by the nemesis: look again later
                continue
            elapsed = time.monotonic() - faults_began
            rounds = min((nemesis.counts[k] for k in nemesis.kinds()), default=0)
            say(
                f"chaos: {elapsed:5.0f} s  events {events:6d}  "
                f"faults {sum(nemesis.counts.values())}"
            )
            if (
                events >= options.events and rounds >= options.rounds
            ) or elapsed > options.duration:
                break
        nemesis.stop()
        gen.stop()
        faults_seconds = time.monotonic() - faults_began
        say("chaos: faults over; healing and waiting for quiescence ...")
        net.smtp.mode = net.webhook.mode = "ok"
        if not net.rabbit.links_running("tg") or not net.rabbit.links_running("ml"):
            net.rabbit.restore()
        quiet = checker.wait_quiescent(net, engines, options.quiesce)
        say(f"chaos: quiescent={quiet['quiescent']} after {quiet['seconds']} s; checking")
        result = checker.check(net, engines, history.ops, nemesis.poison)
        summary = {
            "seed": options.seed,
            "sabotage": options.sabotage or None,
            "seconds": {
                "start": round(started, 1),
                "faults": round(faults_seconds, 1),
                "quiescence": quiet["seconds"],
                "total": round(time.monotonic() - began, 1),
            },
            "quiescent": quiet["quiescent"],
            "faults": dict(sorted(nemesis.counts.items())),
            "per_fault": per_fault(history, options.gap),
            "fault_kinds": nemesis.kinds(),
            "crash_restarts": dict(net.restarts),
            **result,
        }
        if not quiet["quiescent"]:
            summary["violations"].append(f"not quiescent after {options.quiesce} s: {quiet}")
        for k in nemesis.kinds():
            if not nemesis.counts[k]:
                summary["violations"].append(f"fault {k} never injected")
        summary["ok"] = not summary["violations"]
        (options.out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
        say(table(summary))
        for engine in engines.values():
            engine.dispose()
        return summary
    finally:
        for part in (nemesis, gen):
            if part is not None:
                part.stop()
        history.close()
        net.stop()


def per_fault(history: History, gap: float) -> dict[str, dict[str, Any]]:
    """Per fault kind: how often it was injected and the API operations' outcomes while it held
    (and in the calm that followed)."""
    out: dict[str, dict[str, Any]] = {}
    for f in history.faults:
        entry = out.setdefault(f["fault"], {"injected": 0, "errors": 0, "operations": Counter()})
        entry["injected"] += 1
        entry["errors"] += f["outcome"] != "done"
        began, ended = f["t"] - f["seconds"], f["t"] + gap
        for op in history.ops:
            if began <= op["t"] <= ended and "outcome" in op:
                entry["operations"][op["outcome"]] += 1
    return {k: {**v, "operations": dict(v["operations"])} for k, v in sorted(out.items())}


def table(s: dict[str, Any]) -> str:
    lines = [
        f"chaos summary (seed {s['seed']}{', sabotage ' + s['sabotage'] if s['sabotage'] else ''})",
        f"  events: published {s['events']['published']}, consumed {s['events']['consumed']}, "
        f"total {s['events']['total']}",
        f"  acknowledged operations {s['acknowledged']}, lost {s['lost_acknowledged']}; "
        f"outbox rows unpublished {s['unpublished']}",
        f"  {'consumer':<18}{'expected':>9}{'applied':>9}{'lost':>6}{'twice':>7}{'unexp.':>7}",
    ]
    for name, c in s["consumers"].items():
        lines.append(
            f"  {name:<18}{c['expected']:>9}{c['applied']:>9}{c['lost']:>6}"
            f"{c['duplicates']:>7}{c['unexpected']:>7}"
        )
    d = s["dead_letters"]
    lines.append(
        f"  dead letters: poison {d['poison_dead_lettered']}/{d['poison_expected']} "
        f"(missing {d['poison_missing']}), other {d['other']}"
    )
    for ch, c in s["channels"].items():
        lines.append(
            f"  {ch}: sent {c['sent']}, received {c['received']}, lost {c['lost']}, "
            f"duplicates {c['duplicates']} (same id resent {c['resent_same_id']}), "
            f"pending {c['pending']}, failed {c['failed']}, "
            f"refused by the receiver {c['refused_by_receiver']}"
        )
    lines.append(f"  {'fault':<28}{'injected':>9}  API calls meanwhile (ok/refused/failed/unknown)")
    for kind, f in s["per_fault"].items():
        ops = f["operations"]
        calls = "/".join(str(ops.get(o, 0)) for o in ("ok", "refused", "failed", "unknown"))
        lines.append(f"  {kind:<28}{f['injected']:>9}  {calls}")
    if s["crash_restarts"]:
        lines.append(
            "  processes that exited by themselves (restarted): " + str(s["crash_restarts"])
        )
    lines.append(
        f"  LOST {s['lost']}  DUPLICATES {s['duplicates']}  -> {'OK' if s['ok'] else 'VIOLATIONS'}"
    )
    for v in s["violations"]:
        lines.append(f"  ! {v}")
    return "\n".join(lines)
