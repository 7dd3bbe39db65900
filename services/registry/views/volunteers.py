"""Volunteers of this agency: register, read, list, update, withdraw."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint, abort

from services.registry import handlers, queries
from services.registry.access import STAFF, actor, allow
from services.registry.adapters.orm import Volunteer
from services.registry.schemas import (
    ContactOut,
    DossierOut,
    VolunteerIn,
    VolunteerOut,
    VolunteerPatch,
    VolunteerQuery,
    Withdrawal,
)
from services.registry.views import node, paginate, read, sessions, write
from shared.auth import Role

blp = Blueprint(
    "volunteers", __name__, url_prefix="/api/v1/volunteers", description="Volunteers of this agency"
)


# Schemas given as instances: webargs would otherwise build (and deep-copy) a new one per request.
@blp.route("", methods=["POST"])
@allow(*STAFF)
@blp.arguments(VolunteerIn())
@blp.response(201, VolunteerOut)
def register(data: dict[str, Any]) -> Volunteer:
    """Register a volunteer (emits volunteer.registered without personal data)."""
    return write(handlers.register_volunteer, data)


@blp.route("", methods=["GET"])
@allow(*STAFF)
@blp.arguments(VolunteerQuery, location="query")
@blp.response(200, VolunteerOut(many=True))
@blp.paginate()
def list_volunteers(query: dict[str, Any], pagination_parameters: Any) -> list[Volunteer]:
    """List volunteers, newest first, with filters (the dashboard's, in SQL: registry/queries.py);
    X-Pagination header gives the totals."""
    with sessions()() as session:
        return paginate(session, queries.volunteers(node().agency, query), pagination_parameters)


@blp.route("/<volunteer_id>", methods=["GET"])
@allow(*STAFF)
@blp.response(200, VolunteerOut)
def get(volunteer_id: str) -> Volunteer:
    return read(handlers.get_volunteer, volunteer_id)


@blp.route("/<volunteer_id>", methods=["PATCH"])
@allow(*STAFF)
@blp.arguments(VolunteerPatch)
@blp.response(200, VolunteerOut)
def update(changes: dict[str, Any], volunteer_id: str) -> Volunteer:
    """Change contact details or the matching profile (emits volunteer.updated)."""
    return write(handlers.update_volunteer, volunteer_id, changes)


@blp.route("/<volunteer_id>/withdraw", methods=["POST"])
@allow(*STAFF)
@blp.arguments(Withdrawal)
@blp.response(200, VolunteerOut)
def withdraw(data: dict[str, Any], volunteer_id: str) -> Volunteer:
    """Withdraw a volunteer from the programme (emits volunteer.withdrawn)."""
    return write(handlers.withdraw_volunteer, volunteer_id, data["reason"], data["note"])


@blp.route("/<volunteer_id>/dossier", methods=["GET"])
@allow(Role.NODE)
@blp.response(200, DossierOut)
def dossier(volunteer_id: str) -> dict[str, Any]:
    """The host agency's node reads the dossier of a volunteer it hosts under a confirmed match.

    Any other caller gets 403; every read is recorded in the dossier access log."""
    who = actor()
    volunteer, match = write(handlers.read_dossier, volunteer_id, who.agency, who.token_id)
    return {"match_id": match.id, "volunteer": volunteer}


@blp.route("/<volunteer_id>/contact", methods=["GET"])
@allow(Role.NODE, Role.ADMIN)
@blp.response(200, ContactOut)
def contact(volunteer_id: str) -> Volunteer:
    """Contact details for this agency's own notifications service (a node token of this agency).

    Contact details never leave the agency: another agency's token gets 403."""
    who = actor()
    if who.agency != node().agency:
        abort(403, message="Contact details are only given to this agency's own services.")
    return read(handlers.get_volunteer, volunteer_id)
