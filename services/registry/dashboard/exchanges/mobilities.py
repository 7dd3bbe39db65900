"""Mobilities: the list with each one's checklist, follow-up reports and check-ins."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import render_template
from sqlalchemy import func, or_, select

from services.registry.adapters.orm import Match, Mobility
from services.registry.dashboard.context import node, sessions
from services.registry.dashboard.exchanges.blueprint import bp
from services.registry.dashboard.exchanges.common import PAGE_SIZE, _names, _page, _pages
from services.registry.dashboard.i18n import _, lang
from services.registry.dashboard.labels.exchanges import (
    check_in_labels,
    interruption_reasons,
    mobility_status_labels,
    mobility_step_labels,
    report_labels,
)
from services.registry.dependencies import dependencies
from services.registry.domain.checklists import label as checklist_label
from shared import codes

FOLLOW_UP = ("start", "mid_term", "end")  # the reports every mobility needs (DESIGN §3)


def _follow_up(reports: list[Any]) -> dict[str, Any]:
    labels = report_labels()
    by_kind: dict[str, list[dict]] = {}
    for report in reports:
        if isinstance(report, Mapping):
            by_kind.setdefault(str(report.get("kind")), []).append(dict(report))
    required = [
        {
            "kind": kind,
            "label": labels[kind],
            "present": kind in by_kind,
            "on": by_kind[kind][0].get("on") if kind in by_kind else None,
        }
        for kind in FOLLOW_UP
    ]
    return {
        "required": required,
        "filed": sum(1 for r in required if r["present"]),
        "incidents": len(by_kind.get("incident", [])),
        "evaluation": "evaluation" in by_kind,
    }


def _check_ins(mobility: Mobility) -> list[dict[str, Any]]:
    """Each check-in's due date (this node's schedule) and who answered it."""
    from services.registry.adapters.repository import mobility as aggregate

    m = aggregate(mobility)
    due = m.due_dates(dependencies().follow_up.schedule)
    return [
        {
            "code": code,
            "label": label,
            "due_on": due.get(code),
            "host": m.answered(code, "host_agency"),
            "volunteer": m.answered(code, "volunteer"),
        }
        for code, label in check_in_labels().items()
    ]


@bp.route("/mobilities")
def mobilities() -> Any:
    agency = node().agency
    page = _page()
    statement = select(Mobility).where(
        or_(Mobility.sending_agency == agency, Mobility.host_agency == agency)
    )
    with sessions()() as session:
        total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
        found = session.scalars(
            statement.order_by(Mobility.updated_at.desc(), Mobility.id)
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE)
        ).all()
        proposals = {
            m.id: m
            for m in session.scalars(
                select(Match).where(Match.id.in_({m.match_id for m in found} or {""}))
            )
        }
        people, places = _names(
            session,
            {m.volunteer_id for m in proposals.values()},
            {m.placement_id for m in proposals.values()},
        )
    labels = mobility_status_labels()
    rows = []
    for mobility in found:
        match = proposals.get(mobility.match_id)
        rows.append(
            {
                "id": mobility.id,
                "match_id": mobility.match_id,
                "agreement_id": mobility.agreement_id,
                "sending": mobility.sending_agency,
                "host": mobility.host_agency,
                "volunteer_id": match.volunteer_id if match else None,
                "volunteer_name": people.get(match.volunteer_id) if match else None,
                "placement_id": match.placement_id if match else None,
                # the host node's description when the placement is not this agency's own
                "placement_title": (places.get(match.placement_id) if match else None)
                or ", ".join(
                    filter(
                        None,
                        [
                            (mobility.placement or {}).get(k)
                            for k in ("title", "host_organisation", "city")
                        ],
                    )
                )
                or None,
                "status": mobility.status,
                "status_label": labels.get(mobility.status, mobility.status),
                "started_on": mobility.started_on,
                "ended_on": mobility.ended_on,
                "interruption": codes.reason_label(
                    codes.INTERRUPTION_REASONS, mobility.interruption_reason, lang()
                ),
                "interruption_note": mobility.interruption_note,  # this node's own note
                "follow_up": _follow_up(list(mobility.reports or [])),
                "checklist": [
                    {**item, "label": checklist_label(item, lang())}
                    for item in (mobility.checklist or {}).get("items", [])
                ],
                "can_tick": mobility.sending_agency == agency
                and mobility.status == "pre_departure",
                "check_ins": _check_ins(mobility) if mobility.started_on else [],
                "can_answer": mobility.host_agency == agency and mobility.status == "in_mission",
            }
        )
    return render_template(
        "exchanges/mobilities.html",
        title=_("Mobilities"),
        rows=rows,
        pager=_pages(total, page),
        steps=mobility_step_labels(),
        reasons=interruption_reasons(),
    )
