"""The agreement's evaluation report ("bilan") for a period: one computation for the API (JSON,
XLSX, PDF) and the dashboard page.

Per direction: quota against proposed, confirmed, started, completed and interrupted (by reason
code); the balance and its tolerance; days from registration to proposal and to departure (the
node's own volunteers only: it knows no other registration date); check-in completion and mean
scores; incidents by category and severity; the end-of-mission questionnaires' mean scores.

`audience="partner"` keeps aggregates only: no identifier, no free text, and no figure on a group
of fewer than `MIN_GROUP` volunteers (shown as null)."""

from __future__ import annotations

from collections import Counter
from datetime import date
from statistics import mean
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.registry.adapters.orm import Incident, Match, Mobility, Volunteer
from services.registry.adapters.repository import mobility as aggregate
from services.registry.domain.check_ins import SCORES, Schedule
from services.registry.domain.messages import msg
from services.registry.domain.mobilities import REVIEW_SCORES
from services.registry.handlers import Invalid, Node, get_agreement
from shared import codes
from shared.vocabularies import CHECK_IN_RESPONDENTS as RESPONDENTS
from shared.vocabularies import CHECK_INS
from shared.vocabularies import REVIEW_RESPONDENTS as REVIEWERS

MIN_GROUP = 3


def _mean(values: list[float]) -> float | None:
    return round(mean(values), 1) if values else None


def _within(day: date | None, start: date, end: date) -> bool:
    return day is not None and start <= day <= end


def evaluation(
    session: Session,
    node: Node,
    agreement_id: str,
    start: date | None = None,
    end: date | None = None,
    audience: str = "agency",
    today: date | None = None,
    schedule: Schedule | None = None,
) -> dict[str, Any]:
    agreement = get_agreement(session, node, agreement_id)
    start, end = start or agreement.start, end or agreement.end
    if end < start:
        raise Invalid(msg("evaluation.period_order"), "end")
    today = today or date.today()
    schedule = schedule or Schedule()
    rows = session.scalars(select(Mobility).where(Mobility.agreement_id == agreement.id)).all()
    departed = {m.match_id for m in rows if _within(m.started_on, start, end)}
    # the proposals of the period: made in it, or those whose mission started in it
    matches = [
        m
        for m in session.scalars(select(Match).where(Match.agreement_id == agreement.id))
        if _within(m.created_at.date(), start, end) or m.id in departed
    ]
    in_period = {m.id for m in matches}
    mobs = [
        m
        for m in rows
        if _within(m.started_on, start, end) or (m.started_on is None and m.match_id in in_period)
    ]
    volunteers = {
        v.id: v
        for v in session.scalars(
            select(Volunteer).where(Volunteer.id.in_({m.volunteer_id for m in matches} or {""}))
        )
    }
    match_of = {m.id: m for m in matches} | {
        m.id: m
        for m in session.scalars(
            select(Match).where(Match.id.in_({m.match_id for m in mobs} or {""}))
        )
    }
    incidents = session.scalars(
        select(Incident).where(Incident.mobility_id.in_({m.id for m in mobs} or {""}))
    ).all()

    directions = []
    for q in agreement.quotas:
        key = (q["sending"], q["host"])
        mine = [m for m in matches if (m.sending_agency, m.host_agency) == key]
        mob = [m for m in mobs if (m.sending_agency, m.host_agency) == key]
        to_proposal, to_departure = [], []
        for m in mine:
            v = volunteers.get(m.volunteer_id)
            if v is not None:
                to_proposal.append((m.created_at - v.created_at).days)
        for m in mob:
            match = match_of.get(m.match_id)
            v = volunteers.get(match.volunteer_id) if match else None
            if v is not None and m.started_on is not None:
                to_departure.append((m.started_on - v.created_at.date()).days)
        interrupted = [m for m in mob if m.status == "interrupted"]
        directions.append(
            {
                "sending": q["sending"],
                "host": q["host"],
                "quota": q["volunteers"],
                "proposed": len(mine),
                "confirmed": sum(1 for m in mine if m.status == "confirmed"),
                "started": sum(1 for m in mob if m.started_on is not None),
                "completed": sum(1 for m in mob if m.status == "completed"),
                "interrupted": len(interrupted),
                "interrupted_by_reason": dict(
                    sorted(Counter(m.interruption_reason or "other" for m in interrupted).items())
                ),
                "days_registration_to_proposal": _mean(to_proposal),
                "days_registration_to_departure": _mean(to_departure),
                "volunteers": len({m.match_id for m in mob}),
            }
        )
    counts = [d["confirmed"] for d in directions]
    balance = max(counts) - min(counts) if counts else 0

    due, answered, scores, issues = 0, 0, {s: [] for s in SCORES}, 0
    reviews: dict[str, dict[str, list[int]]] = {
        r: {s: [] for s in REVIEW_SCORES} for r in REVIEWERS
    }
    for row in mobs:
        m = aggregate(row)
        last = min(end, today, m.ended_on or today)
        for code, day in m.due_dates(schedule).items():
            if code in CHECK_INS and day <= last:
                due += len(RESPONDENTS)
        for c in m.check_ins:
            answered += 1
            issues += 1 if c.get("issues") else 0
            for s in SCORES:
                scores[s].append(int(c[s]))
        for r in m.reviews:
            for s in REVIEW_SCORES:
                reviews[r["respondent"]][s].append(int(r[s]))
    report = {
        "agreement_id": agreement.id,
        "parties": list(agreement.parties),
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "audience": audience,
        "directions": directions,
        "balance": balance,
        "balance_tolerance": agreement.balance_tolerance,
        "within_tolerance": balance <= agreement.balance_tolerance,
        "check_ins": {
            "due": due,
            "answered": answered,
            "completion_rate": round(min(answered, due) / due, 2) if due else None,
            "mean_scores": {s: _mean(v) for s, v in scores.items()},
            "with_issues": issues,
        },
        "incidents": {
            "total": len(incidents),
            "by_category": {
                c: sum(1 for i in incidents if i.category == c) for c in codes.INCIDENT_CATEGORIES
            },
            "by_severity": {
                s: sum(1 for i in incidents if i.severity == s) for s in codes.INCIDENT_SEVERITIES
            },
        },
        "reviews": {
            r: {"answers": len(v["overall"]), **{s: _mean(x) for s, x in v.items()}}
            for r, v in reviews.items()
        },
        "volunteers": len(mobs),
        "lessons": {a: dict(v) for a, v in sorted((agreement.lessons or {}).items())},
    }
    return for_partners(report) if audience == "partner" else report


def _small(n: Any) -> bool:
    return isinstance(n, int) and 0 < n < MIN_GROUP


def for_partners(report: dict[str, Any]) -> dict[str, Any]:
    """Aggregates only: counts under MIN_GROUP become null, and so do figures computed on a
    direction (or the whole) of fewer than MIN_GROUP volunteers."""
    out = {k: v for k, v in report.items() if k != "lessons"}  # free text: agencies only
    out["directions"] = []
    for d in report["directions"]:
        few = d["volunteers"] < MIN_GROUP
        shown = {
            k: (None if _small(v) else v) for k, v in d.items() if k != "interrupted_by_reason"
        }
        shown["interrupted_by_reason"] = {
            k: (None if _small(v) else v) for k, v in d["interrupted_by_reason"].items()
        }
        for k in ("days_registration_to_proposal", "days_registration_to_departure"):
            shown[k] = None if few else d[k]
        shown["quota"] = d["quota"]  # the terms, not a group of volunteers
        out["directions"].append(shown)
    few = report["volunteers"] < MIN_GROUP
    c = report["check_ins"]
    out["check_ins"] = {
        "due": c["due"],
        "answered": None if few else c["answered"],
        "completion_rate": None if few else c["completion_rate"],
        "mean_scores": {k: None if few else v for k, v in c["mean_scores"].items()},
        "with_issues": None if few or _small(c["with_issues"]) else c["with_issues"],
    }
    i = report["incidents"]
    out["incidents"] = {
        "total": None if _small(i["total"]) else i["total"],
        "by_category": {k: None if _small(v) else v for k, v in i["by_category"].items()},
        "by_severity": {k: None if _small(v) else v for k, v in i["by_severity"].items()},
    }
    out["reviews"] = {
        r: {k: (None if v["answers"] < MIN_GROUP else x) for k, x in v.items()}
        for r, v in report["reviews"].items()
    }
    return out
