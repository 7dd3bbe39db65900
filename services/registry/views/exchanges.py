"""Match proposals this agency decides on, mobilities, the agency profile and the event feed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask_smorest import Blueprint
from sqlalchemy import or_, select

from services.registry import handlers, queries
from services.registry.access import READERS, STAFF, allow
from services.registry.adapters.orm import AgencyProfile, Match, Mobility
from services.registry.schemas import (
    AgencyIn,
    AgencyOut,
    ChecklistIn,
    ChecklistOut,
    ChecklistTickIn,
    DeclineIn,
    FeedOut,
    FeedQuery,
    InterruptionIn,
    MatchOut,
    MatchQuery,
    MobilityOut,
    MobilityReportIn,
    MobilityStepIn,
    StartIn,
)
from services.registry.views import node, paginate, read, sessions, write
from shared.auth import Role
from shared.outbox import read_feed

blp = Blueprint(
    "exchanges", __name__, url_prefix="/api/v1", description="Matches, mobilities, agency, feed"
)


@blp.route("/matches", methods=["GET"])
@allow(*STAFF)
@blp.arguments(MatchQuery, location="query")
@blp.response(200, MatchOut(many=True))
@blp.paginate()
def list_matches(query: dict[str, Any], pagination_parameters: Any) -> list[Match]:
    """This agency's matches; `awaiting_us` filters in SQL (registry/queries.py)."""
    with sessions()() as session:
        return paginate(session, queries.matches(node().agency, query), pagination_parameters)


@blp.route("/matches/<match_id>", methods=["GET"])
@allow(*STAFF)
@blp.response(200, MatchOut)
def get_match(match_id: str) -> Match:
    return read(handlers.get_match, match_id)


@blp.route("/matches/<match_id>/accept", methods=["POST"])
@allow(*STAFF)
@blp.response(200, MatchOut)
def accept(match_id: str) -> Match:
    """Accept a proposal on this agency's behalf (emits match.accepted)."""
    return write(handlers.decide_match, match_id, True, None)


@blp.route("/matches/<match_id>/decline", methods=["POST"])
@allow(*STAFF)
@blp.arguments(DeclineIn)
@blp.response(200, MatchOut)
def decline(data: dict[str, Any], match_id: str) -> Match:
    """Decline with a reason code (the optional note stays on this node); frees the volunteer and
    the slot for re-matching."""
    return write(handlers.decide_match, match_id, False, data["reason"], data["note"])


@blp.route("/mobilities", methods=["GET"])
@allow(*STAFF)
@blp.response(200, MobilityOut(many=True))
@blp.paginate()
def list_mobilities(pagination_parameters: Any) -> list[Mobility]:
    agency = node().agency
    statement = select(Mobility).where(
        or_(Mobility.sending_agency == agency, Mobility.host_agency == agency)
    )
    with sessions()() as session:
        return paginate(
            session,
            statement.order_by(Mobility.updated_at.desc(), Mobility.id),
            pagination_parameters,
        )


@blp.route("/mobilities/<mobility_id>", methods=["GET"])
@allow(*STAFF)
@blp.response(200, MobilityOut)
def get_mobility(mobility_id: str) -> Mobility:
    return read(handlers.get_mobility, mobility_id)


@blp.route("/mobilities/<mobility_id>/checklist/<code>", methods=["POST"])
@allow(*STAFF)
@blp.arguments(ChecklistTickIn)
@blp.response(200, MobilityOut)
def tick_checklist(data: dict[str, Any], mobility_id: str, code: str) -> Mobility:
    """The sending agency ticks (or unticks) a pre-departure item; the host agency gets 403.

    Emits mobility.checklist_updated with the codes and ticks (labels stay on this node)."""
    return write(handlers.tick_checklist, mobility_id, code, data["done"], data["on"])


@blp.route("/mobilities/<mobility_id>/start", methods=["POST"])
@allow(*STAFF)
@blp.arguments(StartIn)
@blp.response(200, MobilityOut)
def start_mobility(data: dict[str, Any], mobility_id: str) -> Mobility:
    """The volunteer departed: the mission starts (emits mobility.started).

    The sending agency records it (the host agency gets 403), and only once every mandatory
    item of its pre-departure checklist is ticked: 409 naming the first item still open."""
    return write(handlers.start_mobility, mobility_id, data["on"], data["planned_end"])


@blp.route("/mobilities/<mobility_id>/reports", methods=["POST"])
@allow(*STAFF)
@blp.arguments(MobilityReportIn)
@blp.response(200, MobilityOut)
def submit_report(data: dict[str, Any], mobility_id: str) -> Mobility:
    """A follow-up report: start, mid-term, end, incident or evaluation."""
    return write(handlers.submit_report, mobility_id, data["kind"], data["on"], data["summary"])


@blp.route("/mobilities/<mobility_id>/complete", methods=["POST"])
@allow(*STAFF)
@blp.arguments(MobilityStepIn)
@blp.response(200, MobilityOut)
def complete_mobility(data: dict[str, Any], mobility_id: str) -> Mobility:
    """The mission ended as planned; needs the start, mid-term and end reports (409 otherwise)."""
    return write(handlers.complete_mobility, mobility_id, data["on"])


@blp.route("/mobilities/<mobility_id>/interrupt", methods=["POST"])
@allow(*STAFF)
@blp.arguments(InterruptionIn)
@blp.response(200, MobilityOut)
def interrupt_mobility(data: dict[str, Any], mobility_id: str) -> Mobility:
    return write(handlers.interrupt_mobility, mobility_id, data["on"], data["reason"], data["note"])


@blp.route("/agency", methods=["GET"])
@allow(*READERS)
@blp.response(200, AgencyOut)
def get_agency() -> dict[str, Any]:
    with sessions()() as session:
        profile = session.get(AgencyProfile, node().agency)
    if profile is None:
        return {
            "code": node().agency,
            "name": node().agency,
            "languages": ["fr"],
            "contact_email": None,
            "contact_phone": None,
            "node_url": None,
        }
    return {c.key: getattr(profile, c.key) for c in AgencyProfile.__table__.columns}


@blp.route("/agency", methods=["PUT"])
@allow(Role.ADMIN)
@blp.arguments(AgencyIn)
@blp.response(200, AgencyOut)
def put_agency(data: dict[str, Any]) -> dict[str, Any]:
    with sessions().begin() as session:
        profile = session.get(AgencyProfile, node().agency) or AgencyProfile(code=node().agency)
        for key, value in data.items():
            setattr(profile, key, value)
        profile.updated_at = datetime.now(UTC)
        session.add(profile)
    return {"code": node().agency, **data}


@blp.route("/agency/checklist", methods=["GET"])
@allow(*READERS)
@blp.response(200, ChecklistOut)
def get_checklist() -> dict[str, Any]:
    """The pre-departure checklist this agency asks for when it sends a volunteer."""
    with sessions()() as session:
        return {"items": handlers.agency_checklist(session, node().agency)}


@blp.route("/agency/checklist", methods=["PUT"])
@allow(Role.ADMIN)
@blp.arguments(ChecklistIn)
@blp.response(200, ChecklistOut)
def put_checklist(data: dict[str, Any]) -> dict[str, Any]:
    """Replace the list for mobilities opened from now on (open ones keep their copy). A code
    outside the standard list (shared/codes.py CHECKLIST_ITEMS) needs label_en and label_fr."""
    items = [{k: v for k, v in i.items() if v is not None} for i in data["items"]]
    return {"items": write(handlers.set_agency_checklist, items)}


@blp.route("/events", methods=["GET"])
@allow(Role.ADMIN, Role.NODE)
@blp.arguments(FeedQuery, location="query")
@blp.response(200, FeedOut)
def feed(query: dict[str, Any]) -> dict[str, Any]:
    """This node's published events in publication order, for catch-up and rebuilds."""
    import json

    with sessions()() as session:
        entries = read_feed(session.connection(), after=query["after"], limit=query["limit"])
    return {
        "events": [{"position": e.position, "event": json.loads(e.payload)} for e in entries],
        "next_after": entries[-1].position if entries else query["after"],
    }
