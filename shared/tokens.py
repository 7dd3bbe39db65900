"""The API tokens of a service, for its agency's admins: list them, revoke one."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint, abort
from marshmallow import Schema, fields

from shared.access import actor, allow, list_tokens, revoke_token
from shared.auth import Role
from shared.runtime import current_runtime

blp = Blueprint("tokens", __name__, url_prefix="/api/v1", description="API tokens of this service")


class TokenOut(Schema):
    id = fields.String()
    agency = fields.String()
    role = fields.String()
    name = fields.String()
    created_at = fields.DateTime()
    revoked_at = fields.DateTime(allow_none=True)


def _sessions() -> Any:
    return current_runtime().sessions


@blp.route("/tokens", methods=["GET"])
@allow(Role.ADMIN)
@blp.response(200, TokenOut(many=True))
def list_agency_tokens() -> list[Any]:
    """The tokens of the caller's agency on this service (their secrets are never stored)."""
    with _sessions()() as session:
        return list_tokens(session, actor().agency)


@blp.route("/tokens/<token_id>", methods=["DELETE"])
@allow(Role.ADMIN)
@blp.response(204)
def revoke(token_id: str) -> None:
    """Revoke one of the caller's agency's tokens: it answers 401 from the next request on."""
    with _sessions().begin() as session:
        if revoke_token(session, token_id, actor().agency, by_name=False) is None:
            abort(404, message="No live token of your agency has this id.")
