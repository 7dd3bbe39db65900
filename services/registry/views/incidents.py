"""Incidents during a mission: reported by either agency, moved on by their owner."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from sqlalchemy import select

from services.registry import handlers
from services.registry.access import STAFF, allow
from services.registry.adapters.orm import Incident
from services.registry.schemas import IncidentIn, IncidentOut, IncidentUpdateIn
from services.registry.views import read, write

blp = Blueprint("incidents", __name__, url_prefix="/api/v1", description="Incidents of missions")


def _of_mobility(session: Any, node: handlers.Node, mobility_id: str) -> list[Incident]:
    handlers.get_mobility(session, node, mobility_id)
    return list(
        session.scalars(
            select(Incident)
            .where(Incident.mobility_id == mobility_id)
            .order_by(Incident.reported_on, Incident.id)
        )
    )


@blp.route("/mobilities/<mobility_id>/incidents", methods=["GET"])
@allow(*STAFF)
@blp.response(200, IncidentOut(many=True))
def list_incidents(mobility_id: str) -> list[Incident]:
    return read(_of_mobility, mobility_id)


@blp.route("/mobilities/<mobility_id>/incidents", methods=["POST"])
@allow(*STAFF)
@blp.arguments(IncidentIn)
@blp.response(201, IncidentOut)
def report_incident(data: dict[str, Any], mobility_id: str) -> Incident:
    """Either agency reports (emits mobility.incident_reported: codes, severity, owner and
    status; the description stays here). High and critical reach both agencies' staff at once
    by e-mail and SMS."""
    return write(handlers.report_incident, mobility_id, data)


@blp.route("/incidents/<incident_id>", methods=["GET"])
@allow(*STAFF)
@blp.response(200, IncidentOut)
def get_incident(incident_id: str) -> Incident:
    return read(handlers.get_incident, incident_id)


@blp.route("/incidents/<incident_id>", methods=["POST"])
@allow(*STAFF)
@blp.arguments(IncidentUpdateIn)
@blp.response(200, IncidentOut)
def update_incident(data: dict[str, Any], incident_id: str) -> Incident:
    """The owner moves it on: status, severity, owner (hand-over), resolution (kept here).
    The other agency gets 403 (emits mobility.incident_updated)."""
    return write(handlers.update_incident, incident_id, data)
