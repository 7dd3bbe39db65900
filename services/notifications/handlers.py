"""From an event to the deliveries it calls for, staged in the consumer's transaction.

The deliveries, not the messages, are written here: the dispatcher sends them afterwards, so a
redelivered event finds its deliveries already there (unique idempotency key) and nothing is
sent twice."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.notifications.adapters.orm import Delivery, PlacementFact, Subscription
from services.notifications.domain.partner_payloads import public_payload
from services.notifications.domain.routing import Route, agency_routes, idempotency_key
from shared.db import insert_unless_present
from shared.events import Event
from shared.events.payloads import MatchState, Placement
from shared.events.typed import TypedEvent, typed
from shared.messaging.topology import PARTNER_TYPES, topic_matches
from shared.wakeup import wake_on_commit

# Raised when deliveries are committed; the dispatcher listens on it.
DELIVERIES_CHANNEL = "vir_notifications_deliveries"

FEED = "vir.public"


def now() -> datetime:
    return datetime.now(UTC)


def placement_known(session: Session, event: TypedEvent[Placement], agency: str | None) -> None:
    """Keep the placement's wording, which later messages about its matches quote."""
    d = event.data
    fact = session.get(PlacementFact, d.placement_id) or PlacementFact(id=d.placement_id)
    fact.agency, fact.host_organisation_id = d.agency, d.host_organisation_id
    fact.host_organisation_name, fact.city, fact.title = (
        d.host_organisation_name,
        d.city,
        d.title,
    )
    fact.start, fact.end = d.start, d.end
    session.add(fact)


def _stage(session: Session, event: Event, route: Route, payload: dict[str, Any]) -> None:
    at = now()
    values = {
        "id": f"dlv-{uuid.uuid4().hex}",
        "idempotency_key": idempotency_key(event, route),
        "event_id": event.id,
        "event_type": event.type,
        "agencies": list(event.agencies),
        "category": route.category,
        "mandatory": route.mandatory,
        "recipient_kind": route.recipient_kind,
        "recipient_id": route.recipient_id,
        "channel": route.channel,
        "subject": event.subject,
        "payload": payload,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": at,
        "created_at": at,
        "updated_at": at,
    }
    session.execute(
        insert_unless_present(Delivery.__table__, tuple(values), conflict=("idempotency_key",)),
        values,
    )
    wake_on_commit(session, DELIVERIES_CHANNEL)


def people_payload(event: Event, session: Session) -> dict[str, Any]:
    """Event facts plus the placement's wording; never a contact detail."""
    payload: dict[str, Any] = {"event": dict(event.data), "agencies": list(event.agencies)}
    placement_id = event.data.get("placement_id")
    fact = session.get(PlacementFact, placement_id) if placement_id else None
    if fact is not None:
        payload["placement"] = {
            "title": fact.title,
            "city": fact.city,
            "host_organisation_name": fact.host_organisation_name,
            "host_agency": fact.agency,
            "start": fact.start.isoformat(),
            "end": fact.end.isoformat(),
        }
    return payload


def handle(session: Session, event: Event, agency: str | None) -> None:
    """Stage this instance's deliveries for `event` (agency instance: people; network: partners);
    `agency` is the instance's dependency: its agency, None on the network's instance."""
    received = typed(event)
    handler = HANDLERS.get(event.type)
    if handler is not None:
        handler(session, received, agency)
    stage = stage_for_people if agency is not None else stage_for_partners
    stage(session, received, agency)


def stage_for_people(session: Session, event: TypedEvent[Any], agency: str | None) -> None:
    """The agency's instance: its volunteers, host organisations and staff."""
    assert agency is not None
    host_org = None
    if event.type == "match.confirmed":
        match: MatchState = event.data
        fact = session.get(PlacementFact, match.placement_id)
        host_org = fact.host_organisation_id if fact else None
        if fact is None and match.host_agency == agency:
            # The placement is this agency's own: its placement.published comes first on the
            # same node's feed, so its absence means the event raced ahead; retry later.
            raise LookupError(f"placement {match.placement_id} not known yet")
    routes = agency_routes(event.envelope, agency, host_org)
    if routes:
        payload = people_payload(event.envelope, session)
        for route in routes:
            _stage(session, event.envelope, route, payload)


def stage_for_partners(session: Session, event: TypedEvent[Any], agency: str | None) -> None:
    """The network's instance: the partner feed and the partners' webhook subscriptions."""
    if event.type not in PARTNER_TYPES:
        return
    public = public_payload(event.envelope)
    if public is None:
        return
    routing_key = event.routing_key
    _stage(session, event.envelope, Route("partner", FEED, "amqp", "partners"), public)
    for subscription in session.scalars(
        select(Subscription).where(Subscription.status == "active")
    ):
        if any(topic_matches(pattern, routing_key) for pattern in subscription.patterns):
            _stage(
                session,
                event.envelope,
                Route("partner", subscription.id, "webhook", "partners"),
                public,
            )


# What an event changes here besides its deliveries: the facts later messages quote. Every
# handler has the shape of every service's: (session, typed event, dependencies).
HANDLERS: dict[str, Callable[[Session, TypedEvent[Any], str | None], None]] = {
    "placement.published": placement_known,
    "placement.updated": placement_known,
}
