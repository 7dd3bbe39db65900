"""Stable matching through the REST API on PostgreSQL + RabbitMQ: TG registers 200 eligible
volunteers at 20/s for 100 single-slot ML placements (room for everyone in the agreement); how
long after the last registration every place is proposed, and how many proposals are cancelled
from then on until the whole network is quiet. Also 2,000 volunteers for 1,000 places.

Baseline, same run: the time the registrations themselves took (the floor for "all proposed").
"""

from __future__ import annotations

from dataclasses import asdict

from tests.support import infra
from tests.support.stability import run_stability

NAME = "matching_stability"
RATE = 20.0
TARGET_SECONDS = 5.0
SIZES = [(200, 100), (2000, 1000)]


def run() -> dict:
    results = []
    for volunteers, places in SIZES:
        vhost = infra.create_vhost()
        try:
            results.append(
                run_stability(infra.amqp_url(vhost), volunteers, places, rate=RATE, timeout=600.0)
            )
        finally:
            infra.delete_vhost(vhost)
    small, large = results
    meets = all(
        r.open_proposals == r.places
        and r.all_proposed_after <= TARGET_SECONDS
        and r.cancelled_after_all_proposed == 0
        for r in results
    )
    return {
        "name": NAME,
        "value": small.all_proposed_after,
        "unit": "s",
        "baseline_name": "registering the 200 volunteers at 20/s (same run)",
        "baseline_value": small.registration_seconds,
        "ratio": round(small.all_proposed_after / small.registration_seconds, 3),
        "target": {
            "all_places_proposed_within_seconds": TARGET_SECONDS,
            "cancelled_after_all_proposed": 0,
        },
        "meets_target": meets,
        "details": {"rate_per_second": RATE, "runs": [asdict(r) for r in results]},
    }


if __name__ == "__main__":
    import json
    import sys

    if len(sys.argv) > 1:  # e.g. "200x100": one size only
        volunteers, places = (int(x) for x in sys.argv[1].split("x"))
        SIZES[:] = [(volunteers, places)] * 2
    print(json.dumps(run(), indent=2))
