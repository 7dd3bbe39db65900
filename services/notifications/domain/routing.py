"""Who must know what: the routing table from event type to stakeholders and channels.

An agency's notifications instance (AGENCY_CODE set) informs that agency's own people — its
volunteers, its host organisations, its staff — so that their contact details never leave the
agency's node. The network instance (no AGENCY_CODE) informs partners, who register once for the
whole network, by signed webhook and on the `vir.public` feed; they never receive personal data.

- volunteer.registered: the volunteer by e-mail (registration); partners.
- match.proposed: staff of each agency concerned by e-mail (proposals).
- match.confirmed: the volunteer by e-mail and SMS, the host organisation by e-mail (placement,
  mandatory); staff of both agencies by e-mail (exchanges); partners.
- match.declined, match.cancelled: staff by e-mail (proposals); partners.
- agreement.*: staff of the parties by e-mail (agreements); partners.
- mobility.*: staff of both agencies by e-mail (mobilities); partners.
- mobility.check_in_due: a reminder reaches the respondent it names on its own agency's instance
  (the volunteer by e-mail and SMS with the signed link, or the host agency's staff by e-mail);
  an overdue alert reaches both agencies' staff by e-mail. Never partners, never checklist ticks.
- mobility.incident_reported, mobility.incident_updated: staff of both agencies by e-mail
  (mobilities); a high or critical incident reported also by SMS, and both are mandatory (the
  staff's phone is the agency's contact_phone). Never partners: codes only, still sensitive.
- placement.published, placement.closed: partners.

Partners are told by signed webhook (subscriptions with routing-key patterns) and on the
`vir.public` feed.

Mandatory messages (a confirmed placement) are sent whatever the recipient's opt-outs: the
volunteer and the host organisation must know where and when the mission is.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.events import Event


@dataclass(frozen=True)
class Route:
    recipient_kind: str
    recipient_id: str
    channel: str
    category: str
    mandatory: bool = False


STAFF_CATEGORIES = {
    "match.proposed": "proposals",
    "match.declined": "proposals",
    "match.cancelled": "proposals",
    "match.confirmed": "exchanges",
    "agreement.proposed": "agreements",
    "agreement.approved": "agreements",
    "agreement.activated": "agreements",
    "agreement.amended": "agreements",
    "agreement.terminated": "agreements",
    "mobility.started": "mobilities",
    "mobility.report_submitted": "mobilities",
    "mobility.completed": "mobilities",
    "mobility.interrupted": "mobilities",
    "mobility.incident_reported": "mobilities",
    "mobility.incident_updated": "mobilities",
}


def agency_routes(
    event: Event, agency: str, host_organisation_id: str | None = None
) -> list[Route]:
    """Deliveries an agency's instance makes for `event` (its own people only)."""
    if agency not in event.agencies:
        return []
    routes: list[Route] = []
    data = event.data
    if event.type == "volunteer.registered" and data.get("agency") == agency:
        routes.append(Route("volunteer", data["volunteer_id"], "email", "registration"))
    if event.type == "match.confirmed":
        if data["sending_agency"] == agency:
            routes.append(Route("volunteer", data["volunteer_id"], "email", "placement", True))
            routes.append(Route("volunteer", data["volunteer_id"], "sms", "placement", True))
        if data["host_agency"] == agency and host_organisation_id:
            routes.append(
                Route("host_organisation", host_organisation_id, "email", "placement", True)
            )
    if event.type == "mobility.check_in_due":
        return _check_in_routes(event, agency)
    if event.type == "mobility.incident_reported" and data["severity"] in ("high", "critical"):
        return [
            Route("staff", agency, "email", "mobilities", True),
            Route("staff", agency, "sms", "mobilities", True),
        ]
    category = STAFF_CATEGORIES.get(event.type)
    if category:
        routes.append(Route("staff", agency, "email", category))
    return routes


def idempotency_key(event: Event, route: Route) -> str:
    """One message per event × recipient × channel, however often the event is delivered."""
    return f"{event.source}|{event.id}|{route.recipient_kind}:{route.recipient_id}|{route.channel}"


def _check_in_routes(event: Event, agency: str) -> list[Route]:
    data = event.data
    if data["stage"] == "overdue":
        return [Route("staff", agency, "email", "mobilities")]
    if data["respondents"] == ["volunteer"] and data["sending_agency"] == agency:
        if not data.get("volunteer_id"):
            return []
        return [
            Route("volunteer", data["volunteer_id"], "email", "placement"),
            Route("volunteer", data["volunteer_id"], "sms", "placement"),
        ]
    if data["respondents"] == ["host_agency"] and data["host_agency"] == agency:
        return [Route("staff", agency, "email", "mobilities")]
    return []
