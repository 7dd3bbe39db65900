"""python -m tests.chaos --seed N --events N --duration S --out var/chaos/<run>"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tests.chaos.run import Options, run


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--events", type=int, default=10_000, help="published + consumed, at least")
    parser.add_argument(
        "--duration", type=float, default=1800, help="at most this many seconds of faults"
    )
    parser.add_argument("--out", type=Path, default=None, help="default var/chaos/<time>-seed<N>")
    parser.add_argument("--hold", type=float, default=3.0, help="seconds each fault lasts")
    parser.add_argument("--gap", type=float, default=2.0, help="calm seconds between faults")
    parser.add_argument("--workers", type=int, default=3, help="concurrent API clients")
    parser.add_argument(
        "--rounds", type=int, default=1, help="rounds of every fault kind, at least"
    )
    parser.add_argument("--faults", default="", help="only these fault kinds, comma-separated")
    parser.add_argument("--quiesce", type=float, default=600, help="longest wait for quiescence")
    args = parser.parse_args()
    out = args.out or Path("var/chaos") / f"{time.strftime('%Y%m%d-%H%M%S')}-seed{args.seed}"
    summary = run(
        Options(
            seed=args.seed,
            events=args.events,
            duration=args.duration,
            out=out,
            hold=args.hold,
            gap=args.gap,
            workers=args.workers,
            rounds=args.rounds,
            faults=tuple(k for k in args.faults.split(",") if k),
            quiesce=args.quiesce,
        ),
        say=lambda m: print(m, flush=True),
    )
    print(f"history: {out / 'history.jsonl'}  summary: {out / 'summary.json'}")
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
