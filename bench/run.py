"""`make bench`: run every benchmark, write bench/results/<name>.json, print a table."""

from __future__ import annotations

import importlib
import json
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

BENCHMARKS = [
    "bench.outbox_relay",
    "bench.registry_import",
    "bench.registration_rate",
    "bench.dashboard_pages",
    "bench.matching_plan",
    "bench.matching_stability",
    "bench.signing",
    "bench.e2e_latency",
    "bench.load",
]
RESULTS = Path(__file__).resolve().parent / "results"


def main(selected: list[str]) -> int:
    RESULTS.mkdir(exist_ok=True)
    rows = []
    for module_name in BENCHMARKS:
        if selected and module_name.rsplit(".", 1)[-1] not in selected:
            continue
        result = importlib.import_module(module_name).run()
        result["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        result["machine"] = {
            "python": platform.python_version(),
            "cpus": __import__("os").cpu_count(),
        }
        (RESULTS / f"{result['name']}.json").write_text(json.dumps(result, indent=2) + "\n")
        rows.append(result)
    header = f"{'benchmark':<16} {'value':>12} {'unit':<10} {'baseline':>12} {'ratio':>7}  target"
    print(header)
    print("-" * len(header))
    for r in rows:
        verdict = "met" if r.get("meets_target", True) else "MISSED"
        print(
            f"{r['name']:<16} {r['value']:>12,.1f} {r['unit']:<10} {r['baseline_value']:>12,.1f} "
            f"{r['ratio']:>7.3f}  {verdict}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
