"""The notifications log: what was sent about this agency's people, from its notifications
service (dashboard/adapters/notifications.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import render_template, request
from sqlalchemy import select

from services.registry.adapters.orm import HostOrganisation
from services.registry.dashboard.adapters.notifications import Unavailable, fetch_deliveries
from services.registry.dashboard.context import node, sessions
from services.registry.dashboard.exchanges.blueprint import bp
from services.registry.dashboard.exchanges.common import _names, _page, _pages
from services.registry.dashboard.i18n import _
from services.registry.dashboard.labels.exchanges import delivery_labels

DELIVERY_STATUSES = ("pending", "sent", "failed", "skipped", "cancelled")
DELIVERY_CHANNELS = ("email", "sms", "webhook", "amqp")


def _when(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


@bp.route("/notifications")
def notifications() -> Any:
    page = _page()
    filters = {
        name: request.args[name]
        for name, allowed in (("status", DELIVERY_STATUSES), ("channel", DELIVERY_CHANNELS))
        if request.args.get(name) in allowed
    }
    labels = delivery_labels()
    rows: list[dict] = []
    pager = _pages(0, page)
    problem = None
    try:
        deliveries, pagination = fetch_deliveries(page, filters)
    except Unavailable as exc:
        problem = str(exc)
    else:
        total = pagination.get("total", len(deliveries))
        pager = _pages(total if isinstance(total, int) else len(deliveries), page)
        volunteers = {
            d.get("recipient_id") for d in deliveries if d.get("recipient_kind") == "volunteer"
        }
        organisations = {
            d.get("recipient_id")
            for d in deliveries
            if d.get("recipient_kind") == "host_organisation"
        }
        with sessions()() as session:
            people, _places = _names(session, {v for v in volunteers if v}, set())
            people |= {
                row.id: row.name
                for row in session.execute(
                    select(HostOrganisation.id, HostOrganisation.name).where(
                        HostOrganisation.agency == node().agency,
                        HostOrganisation.id.in_({o for o in organisations if o} or {""}),
                    )
                )
            }
        for d in deliveries:
            kind, status, channel = (
                str(d.get("recipient_kind", "")),
                str(d.get("status", "")),
                str(d.get("channel", "")),
            )
            event = str(d.get("event_type", ""))
            rows.append(
                {
                    "id": d.get("id"),
                    "event_type": event,
                    "event_label": labels["event"].get(event, event),
                    "recipient_kind": labels["recipient"].get(kind, kind),
                    "recipient_name": people.get(d.get("recipient_id")),
                    "channel": labels["channel"].get(channel, channel),
                    "status": status,
                    "status_label": labels["status"].get(status, status),
                    "attempts": d.get("attempts"),
                    "last_error": d.get("last_error"),
                    "at": _when(d.get("created_at")) or _when(d.get("updated_at")),
                }
            )
    return render_template(
        "exchanges/notifications.html",
        title=_("Notifications"),
        rows=rows,
        pager=pager,
        problem=problem,
        filters=filters,
        statuses=[(s, labels["status"][s]) for s in DELIVERY_STATUSES],
        channels=[(c, labels["channel"][c]) for c in DELIVERY_CHANNELS],
    )
