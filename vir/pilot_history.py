"""The pilot's history in the demo network: what the 2017–2018 evaluation had to rebuild from
paper, entered as each agency's own records of the same missions, written on both nodes alike,
without events (nothing new happened)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from services.registry.adapters.orm import Volunteer

PILOT_START, PILOT_END = date(2017, 10, 2), date(2018, 7, 31)
# (wellbeing, integration, workload) per check-in; None: not answered
CHECK_IN_SCORES: dict[str, tuple[int, int, int] | None] = {
    "first": (4, 3, 4),
    "mid_term": (4, 4, 3),
    "final": (5, 4, 3),
}


def _pilot_pairs(registries: dict[str, Any], agreement_id: str) -> list[dict[str, Any]]:
    from services.registry.adapters.orm import Placement

    pairs = []
    for sending, host, count in (("TG", "ML", 4), ("ML", "TG", 2)):
        with registries[sending].runtime.sessions() as session:
            volunteers = session.scalars(
                select(Volunteer)
                .where(Volunteer.identity_number.like(f"{sending}-PILOT-%"))
                .order_by(Volunteer.identity_number)
            ).all()[:count]
        with registries[host].runtime.sessions() as session:
            places = session.scalars(
                select(Placement)
                .where(Placement.start == PILOT_START, Placement.agency == host)
                .order_by(Placement.title)
            ).all()[:count]
            facts = {}
            for p in places:
                from services.registry.adapters.orm import HostOrganisation

                org = session.get(HostOrganisation, p.host_organisation_id)
                facts[p.id] = {
                    "title": p.title,
                    "city": p.city,
                    "host_organisation": org.name if org else "",
                    "start": p.start.isoformat(),
                    "end": p.end.isoformat(),
                }
        for n, (v, p) in enumerate(zip(volunteers, places, strict=True), start=1):
            pairs.append(
                {
                    "match_id": f"m-pilot-{sending.lower()}-{n}",
                    "agreement_id": agreement_id,
                    "volunteer_id": v.id,
                    "placement_id": p.id,
                    "sending_agency": sending,
                    "host_agency": host,
                    "placement": facts[p.id],
                    "n": n,
                }
            )
    return pairs


def _history_rows(pair: dict[str, Any]) -> tuple[Any, ...]:
    from services.registry.adapters.orm import Incident, Match, Mobility
    from services.registry.domain.check_ins import Schedule
    from services.registry.domain.checklists import default_items

    at = datetime(2017, 9, 15, tzinfo=UTC)
    sending, host = pair["sending_agency"], pair["host_agency"]
    match = Match(
        id=pair["match_id"],
        agreement_id=pair["agreement_id"],
        volunteer_id=pair["volunteer_id"],
        placement_id=pair["placement_id"],
        sending_agency=sending,
        host_agency=host,
        score=0.8,
        criteria=[],
        decisions={a: {"decision": "accepted", "reason": None} for a in (sending, host)},
        status="confirmed",
        created_at=at,
        updated_at=at,
    )
    due = Schedule().due_dates(PILOT_START, PILOT_END)
    check_ins = []
    for code, scores in CHECK_IN_SCORES.items():
        for respondent in ("host_agency", "volunteer"):
            if (pair["n"], code, respondent) == (3, "mid_term", "volunteer"):
                continue  # one answer the pilot never got
            w, i, load = scores or (3, 3, 3)
            check_ins.append(
                {
                    "check_in": code,
                    "respondent": respondent,
                    "on": due[code].isoformat(),
                    "wellbeing": w,
                    "integration": i,
                    "workload": load,
                    "issues": code == "first" and pair["n"] == 1 and sending == "TG",
                    "note": None,
                }
            )
    reports = [
        {"kind": kind, "on": day.isoformat(), "by": host, "summary": None}
        for kind, day in (
            ("start", PILOT_START + timedelta(days=8)),
            ("mid_term", due["mid_term"]),
            ("end", PILOT_END - timedelta(days=6)),
        )
    ]
    reviews = [
        {"respondent": r, "on": "2018-08-15", "overall": 4, "objectives": 4, "support": 3}
        | {"comments": None}
        for r in ("volunteer", "host_organisation", "sending_agency", "host_agency")
    ]
    mobility = Mobility(
        id=f"mob-{pair['match_id'].removeprefix('m-')}",
        match_id=pair["match_id"],
        agreement_id=pair["agreement_id"],
        sending_agency=sending,
        host_agency=host,
        status="completed",
        started_on=PILOT_START,
        ended_on=PILOT_END,
        planned_end=PILOT_END,
        reports=reports,
        checklist={
            "version": 1,
            "items": [i | {"done": True, "on": "2017-09-25"} for i in default_items()],
        },
        check_ins=check_ins,
        follow_ups_sent=[],
        reviews=reviews,
        placement=pair["placement"],
        updated_at=datetime(2018, 8, 15, tzinfo=UTC),
    )
    rows: list[Any] = [match, mobility]
    if (sending, pair["n"]) == ("TG", 1):
        rows.append(
            Incident(
                id="inc-pilot-1",
                mobility_id=mobility.id,
                match_id=match.id,
                agreement_id=pair["agreement_id"],
                sending_agency=sending,
                host_agency=host,
                reported_by=host,
                reported_on=date(2017, 12, 4),
                severity="medium",
                category="health",
                owner=host,
                status="resolved",
                resolved_on=date(2017, 12, 20),
                version=2,
                updated_at=datetime(2017, 12, 20, tzinfo=UTC),
            )
        )
    return tuple(rows)


def seed_pilot_history(registries: dict[str, Any], agreement_id: str) -> None:
    """The pilot's six missions, completed, with their check-ins, reports, reviews and one
    incident, on both nodes; its volunteers registered in June 2017 and completed."""
    pairs = _pilot_pairs(registries, agreement_id)
    for agency in ("TG", "ML"):
        with registries[agency].runtime.sessions.begin() as session:
            for pair in pairs:
                for row in _history_rows(pair):
                    session.add(row)
                volunteer = session.get(Volunteer, pair["volunteer_id"])
                if volunteer is not None:
                    volunteer.status = "completed"
                    volunteer.created_at = datetime(2017, 6, 1, tzinfo=UTC)
