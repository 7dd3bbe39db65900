"""Overview: each agreement's ledger as a chart (quota against proposed, confirmed, started,
completed per direction) and the balance between directions."""

from __future__ import annotations

from typing import Any

from flask import render_template
from sqlalchemy import select

from services.registry import handlers
from services.registry.adapters.orm import Agreement
from services.registry.dashboard.context import node, sessions
from services.registry.dashboard.i18n import _
from services.registry.dashboard.overview.blueprint import bp

SERIES = ("proposed", "confirmed", "started", "completed")


def chart(ledger: dict[str, Any]) -> dict[str, Any]:
    """Bar geometry for an SVG: one group per direction, one bar per series, the quota dashed."""
    top = max(
        [d["quota"] for d in ledger["directions"]]
        + [d[s] for d in ledger["directions"] for s in SERIES]
        + [1]
    )
    height, bar, gap, group_gap = 160, 22, 4, 40
    groups = []
    for i, d in enumerate(ledger["directions"]):
        x0 = 40 + i * (len(SERIES) * (bar + gap) + group_gap)
        bars = []
        for j, series in enumerate(SERIES):
            h = round(d[series] / top * height)
            bars.append(
                {
                    "series": series,
                    "x": x0 + j * (bar + gap),
                    "y": 10 + height - h,
                    "h": h,
                    "value": d[series],
                }
            )
        quota_y = 10 + height - round(d["quota"] / top * height)
        groups.append(
            {
                "label": f"{d['sending']} → {d['host']}",
                "x": x0,
                "bars": bars,
                "quota_y": quota_y,
                "width": len(SERIES) * (bar + gap) - gap,
                "direction": d,
            }
        )
    width = 40 + len(groups) * (len(SERIES) * (bar + gap) + group_gap)
    return {"groups": groups, "width": width, "height": height + 50, "bar": bar, "top": top}


@bp.route("/")
def overview() -> str:
    agency = node().agency
    with sessions()() as session:
        agreements = [
            a
            for a in session.scalars(
                select(Agreement).order_by(Agreement.start.desc(), Agreement.id)
            )
            if agency in a.parties
        ]
        ledgers = [handlers.ledger(session, node(), a.id) for a in agreements]
    cards = [
        {
            "agreement": a,
            "ledger": ledger,
            "chart": chart(ledger),
            "status": handlers.display_status(a),
        }
        for a, ledger in zip(agreements, ledgers, strict=True)
    ]
    labels = {
        "proposed": _("Proposed"),
        "confirmed": _("Confirmed"),
        "started": _("Started"),
        "completed": _("Completed"),
    }
    return render_template(
        "overview.html", title=_("Overview"), cards=cards, labels=labels, series=SERIES
    )
