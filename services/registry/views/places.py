"""Host organisations and placements of this agency."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from sqlalchemy import select

from services.registry import handlers
from services.registry.access import READERS, STAFF, allow
from services.registry.adapters.orm import HostOrganisation, Placement
from services.registry.schemas import (
    Closure,
    HostOrganisationIn,
    HostOrganisationOut,
    PlacementIn,
    PlacementOut,
    PlacementPatch,
    PlacementQuery,
)
from services.registry.views import node, paginate, read, sessions, shown, write

blp = Blueprint(
    "places", __name__, url_prefix="/api/v1", description="Host organisations and placements"
)

CONTACTS = ("contact_email", "contact_phone")
CLOSURE = ("closed_reason", "closed_note")


def _org(org: HostOrganisation) -> dict[str, Any]:
    return shown(org, CONTACTS)


def _placement(placement: Placement) -> dict[str, Any]:
    return shown(placement, CLOSURE)


@blp.route("/host-organisations", methods=["POST"])
@allow(*STAFF)
@blp.arguments(HostOrganisationIn)
@blp.response(201, HostOrganisationOut)
def create_organisation(data: dict[str, Any]) -> dict[str, Any]:
    return _org(write(handlers.create_host_organisation, data))


@blp.route("/host-organisations", methods=["GET"])
@allow(*READERS)
@blp.response(200, HostOrganisationOut(many=True))
@blp.paginate()
def list_organisations(pagination_parameters: Any) -> list[dict[str, Any]]:
    statement = (
        select(HostOrganisation)
        .where(HostOrganisation.agency == node().agency)
        .order_by(HostOrganisation.name, HostOrganisation.id)
    )
    with sessions()() as session:
        return [_org(o) for o in paginate(session, statement, pagination_parameters)]


@blp.route("/host-organisations/<org_id>", methods=["GET"])
@allow(*READERS)
@blp.response(200, HostOrganisationOut)
def get_organisation(org_id: str) -> dict[str, Any]:
    return _org(read(handlers.get_host_organisation, org_id))


@blp.route("/host-organisations/<org_id>", methods=["PUT"])
@allow(*STAFF)
@blp.arguments(HostOrganisationIn)
@blp.response(200, HostOrganisationOut)
def update_organisation(data: dict[str, Any], org_id: str) -> dict[str, Any]:
    return _org(write(handlers.update_host_organisation, org_id, data))


@blp.route("/placements", methods=["POST"])
@allow(*STAFF)
@blp.arguments(PlacementIn)
@blp.response(201, PlacementOut)
def publish(data: dict[str, Any]) -> dict[str, Any]:
    """Open a placement (emits placement.published)."""
    return _placement(write(handlers.publish_placement, data))


@blp.route("/placements", methods=["GET"])
@allow(*READERS)
@blp.arguments(PlacementQuery, location="query")
@blp.response(200, PlacementOut(many=True))
@blp.paginate()
def list_placements(query: dict[str, Any], pagination_parameters: Any) -> list[dict[str, Any]]:
    statement = select(Placement).where(Placement.agency == node().agency)
    for key in ("status", "domain", "host_organisation_id"):
        if key in query:
            statement = statement.where(getattr(Placement, key) == query[key])
    with sessions()() as session:
        rows = paginate(
            session, statement.order_by(Placement.start, Placement.id), pagination_parameters
        )
        return [_placement(p) for p in rows]


@blp.route("/placements/<placement_id>", methods=["GET"])
@allow(*READERS)
@blp.response(200, PlacementOut)
def get_placement(placement_id: str) -> dict[str, Any]:
    return _placement(read(handlers.get_placement, placement_id))


@blp.route("/placements/<placement_id>", methods=["PATCH"])
@allow(*STAFF)
@blp.arguments(PlacementPatch)
@blp.response(200, PlacementOut)
def update_placement(changes: dict[str, Any], placement_id: str) -> dict[str, Any]:
    return _placement(write(handlers.update_placement, placement_id, changes))


@blp.route("/placements/<placement_id>/close", methods=["POST"])
@allow(*STAFF)
@blp.arguments(Closure)
@blp.response(200, PlacementOut)
def close(data: dict[str, Any], placement_id: str) -> dict[str, Any]:
    """Close with a reason code; the optional note stays on this node."""
    return _placement(write(handlers.close_placement, placement_id, data["reason"], data["note"]))
