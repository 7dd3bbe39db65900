"""Where a registration's time goes on its way to the proposal and the e-mails (`e2e_latency`).

After a run on PostgreSQL, and before its databases are dropped, the timestamps each service
wrote are read back and set against the moment the bench sent the registration: when the TG
registry recorded the volunteer, when its relay published `volunteer.registered`, when matching's
planning round started and wrote `match.proposed`, when its relay published it, when both
registries recorded the match, when the bench saw it committed in both, when both agencies'
notifications instances staged, attempted and (per the SMTP server) delivered the staff e-mails.

Each stage is reported as p50/p95 in ms after the registration request started, over the
registrations that went through every stage. The clocks are the same machine's: the services'
wall clock, and the bench's monotonic clock shifted by one offset read at the start.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import text

STAGES = (
    ("volunteer_recorded", "the TG registry recorded the volunteer"),
    ("volunteer_published", "TG's relay published volunteer.registered"),
    ("planning_started", "matching's planning round that proposed it started"),
    ("proposal_written", "matching wrote match.proposed (its outbox)"),
    ("proposal_published", "matching's relay published match.proposed"),
    ("recorded_by_tg_registry", "TG's registry recorded the match"),
    ("recorded_by_ml_registry", "ML's registry recorded the match"),
    ("recorded_by_both_registries", "the later of TG's and ML's registry recorded the match"),
    ("listed_by_both_registries", "the bench's look saw it committed in both registries"),
    ("staff_emails_staged", "both notifications instances staged their staff e-mail"),
    ("staff_emails_attempted", "both staff e-mails' sending started"),
    ("staff_emails_accepted", "the SMTP server accepted both staff e-mails"),
)


def _rows(url: str, sql: str) -> list[Any]:
    from shared.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql)))
    finally:
        engine.dispose()


def percentiles(values: list[float], bounds: list[float] | None = None) -> dict[str, Any]:
    """Percentiles in ms. `bounds` are samples that had not arrived by the end of the run, as the
    time they had waited by then: each true value is at least that, so the percentiles of all
    samples together are lower bounds, and say so (`lower_bound`)."""
    ordered = sorted([*values, *(bounds or [])])
    if not ordered:
        return {"p50": None, "p95": None, "p99": None, "max": None}

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    result: dict[str, Any] = {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": at(1.0)}
    if bounds:
        result["lower_bound"] = True
    return result


def measure(
    databases: Mapping[str, str],
    registered: Mapping[str, float],
    seen: Mapping[str, Mapping[str, float]],
    mails: Mapping[str, Mapping[str, float]],
    offset: float,
) -> dict[str, Any]:
    """`registered`, `seen` and `mails` are the bench's monotonic times; `offset` turns them into
    the services' wall clock (time.time() - time.monotonic())."""
    if not all(url.startswith("postgresql") for url in databases.values()):
        return {}
    tg, ml, matching = databases["registry-tg"], databases["registry-ml"], databases["matching"]
    recorded = {i: t.timestamp() for i, t in _rows(tg, "SELECT id, created_at FROM volunteer")}
    published = {
        i: t.timestamp()
        for i, t in _rows(
            tg,
            "SELECT aggregate_id, published_at FROM outbox "
            "WHERE event_type = 'volunteer.registered' AND published_at IS NOT NULL",
        )
    }
    first: dict[str, tuple[float, str]] = {}  # volunteer -> (planning started, match id)
    for match_id, volunteer_id, at in _rows(
        matching, "SELECT id, volunteer_id, proposed_at FROM proposal"
    ):
        if volunteer_id not in first or at.timestamp() < first[volunteer_id][0]:
            first[volunteer_id] = (at.timestamp(), match_id)
    written = {
        i: (c.timestamp(), p.timestamp() if p else None)
        for i, c, p in _rows(
            matching,
            "SELECT aggregate_id, created_at, published_at FROM outbox "
            "WHERE event_type = 'match.proposed'",
        )
    }
    in_registries = [
        {i: t.timestamp() for i, t in _rows(url, "SELECT id, created_at FROM match")}
        for url in (tg, ml)
    ]
    deliveries = [
        {
            m: (staged.timestamp(), attempted.timestamp())
            for m, staged, attempted in _rows(
                databases[name],
                "SELECT payload->'event'->>'match_id', created_at, updated_at FROM delivery "
                "WHERE event_type = 'match.proposed' AND recipient_kind = 'staff' "
                "AND channel = 'email'",
            )
        }
        for name in ("notifications-tg", "notifications-ml")
    ]
    stages: dict[str, list[float]] = {name: [] for name, _ in STAGES}
    for volunteer_id, start in registered.items():
        if volunteer_id not in first or volunteer_id not in recorded:
            continue
        planned, match_id = first[volunteer_id]
        listed = [seen[c].get(match_id) for c in ("TG", "ML")]
        accepted = [mails[c].get(match_id) for c in ("TG", "ML")]
        kept = [registry.get(match_id) for registry in in_registries]
        staff = [d.get(match_id) for d in deliveries]
        outbox_row = written.get(match_id)
        if (
            volunteer_id not in published
            or outbox_row is None
            or outbox_row[1] is None
            or None in listed
            or None in accepted
            or None in kept
            or None in staff
        ):
            continue
        t0 = start + offset
        times = {
            "volunteer_recorded": recorded[volunteer_id],
            "volunteer_published": published[volunteer_id],
            "planning_started": planned,
            "proposal_written": outbox_row[0],
            "proposal_published": outbox_row[1],
            "recorded_by_tg_registry": kept[0],
            "recorded_by_ml_registry": kept[1],
            "recorded_by_both_registries": max(kept),  # type: ignore[type-var]
            "listed_by_both_registries": max(listed) + offset,  # type: ignore[type-var]
            "staff_emails_staged": max(s[0] for s in staff),  # type: ignore[index]
            "staff_emails_attempted": max(s[1] for s in staff),  # type: ignore[index]
            "staff_emails_accepted": max(accepted) + offset,  # type: ignore[type-var]
        }
        for name, at in times.items():
            stages[name].append((at - t0) * 1000)
    counted = len(stages["volunteer_recorded"])
    if not counted:
        return {}
    return {
        "registrations": counted,
        "ms_after_the_registration_request_started": {
            name: {"p50": p["p50"], "p95": p["p95"], "what": what}
            for name, what in STAGES
            for p in [percentiles(stages[name])]
        },
    }
