"""Matching API: the plan and ledger of each agreement, the explanation of a proposal, re-runs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask_smorest import Blueprint, abort
from marshmallow import Schema, fields
from sqlalchemy import select

from services.matching.adapters.orm import AgreementView, Proposal
from services.matching.dependencies import dependencies
from services.matching.planning import lock_agreement, plan_agreement
from shared.access import READERS, actor, allow
from shared.auth import Role
from shared.runtime import current_runtime

blp = Blueprint("matching", __name__, url_prefix="/api/v1", description="Plans and proposals")


class CriterionOut(Schema):
    criterion = fields.String()
    weight = fields.Float()
    value = fields.Float()
    explanation = fields.String()
    messages = fields.List(fields.Dict(), metadata={"description": "code and params of each part"})


class ProposalOut(Schema):
    id = fields.String()
    agreement_id = fields.String()
    volunteer_id = fields.String()
    placement_id = fields.String()
    sending_agency = fields.String()
    host_agency = fields.String()
    score = fields.Float()
    criteria = fields.List(fields.Nested(CriterionOut))
    decisions = fields.Dict(keys=fields.String(), values=fields.String())
    status = fields.String()
    reason = fields.String(allow_none=True)
    proposed_at = fields.DateTime()
    expires_at = fields.DateTime(allow_none=True)


class DirectionOut(Schema):
    sending = fields.String()
    host = fields.String()
    quota = fields.Integer()
    proposed = fields.Integer()
    confirmed = fields.Integer()


class PlanOut(Schema):
    agreement_id = fields.String()
    status = fields.String()
    balance_tolerance = fields.Integer()
    planned_at = fields.DateTime(allow_none=True)
    planning_pending = fields.Boolean(
        metadata={"description": "A change arrived that the planner has not planned yet."}
    )
    directions = fields.List(fields.Nested(DirectionOut))
    proposals = fields.List(fields.Nested(ProposalOut))


class AgreementOut(Schema):
    id = fields.String()
    parties = fields.List(fields.String())
    status = fields.String()
    revision = fields.Integer()
    terms_hash = fields.String()
    planned_at = fields.DateTime(allow_none=True)


def _sessions() -> Any:
    return current_runtime().sessions


def _visible(agreement: AgreementView | None) -> AgreementView:
    if agreement is None or actor().agency not in agreement.parties:
        abort(404, message="No such agreement for your agency.")
    assert agreement is not None
    return agreement


def _plan(session: Any, agreement: AgreementView) -> dict[str, Any]:
    proposals = list(
        session.scalars(
            select(Proposal)
            .where(
                Proposal.agreement_id == agreement.id,
                Proposal.status.in_(("proposed", "confirmed")),
            )
            .order_by(Proposal.sending_agency, Proposal.volunteer_id)
        )
    )
    directions = [
        {
            "sending": q["sending"],
            "host": q["host"],
            "quota": q["volunteers"],
            "proposed": sum(
                1 for p in proposals if p.status == "proposed" and p.sending_agency == q["sending"]
            ),
            "confirmed": sum(
                1 for p in proposals if p.status == "confirmed" and p.sending_agency == q["sending"]
            ),
        }
        for q in agreement.quotas
    ]
    return {
        "agreement_id": agreement.id,
        "status": agreement.status,
        "balance_tolerance": agreement.balance_tolerance,
        "planned_at": agreement.planned_at,
        "planning_pending": bool(agreement.dirty),
        "directions": directions,
        "proposals": proposals,
    }


@blp.route("/agreements", methods=["GET"])
@allow(*READERS)
@blp.response(200, AgreementOut(many=True))
def list_agreements() -> list[AgreementView]:
    """Agreements matching knows of that concern your agency."""
    with _sessions()() as session:
        rows = session.scalars(select(AgreementView).order_by(AgreementView.id)).all()
    return [a for a in rows if actor().agency in a.parties]


@blp.route("/agreements/<agreement_id>/plan", methods=["GET"])
@allow(*READERS)
@blp.response(200, PlanOut)
def get_plan(agreement_id: str) -> dict[str, Any]:
    """The current plan of an agreement: open and confirmed proposals, per-direction counts."""
    with _sessions()() as session:
        return _plan(session, _visible(session.get(AgreementView, agreement_id)))


@blp.route("/agreements/<agreement_id>/rematch", methods=["POST"])
@allow(Role.ADMIN)
@blp.response(200, PlanOut)
def rematch(agreement_id: str) -> dict[str, Any]:
    """Re-plan now (an admin of a party). Waits for any planner at work on the same agreement."""
    runtime = current_runtime()
    with runtime.sessions.begin() as session:
        agreement = _visible(lock_agreement(session, agreement_id))
        if agreement.status != "active":
            abort(
                409,
                message=f"The agreement is {agreement.status}: only active agreements are planned.",
            )
        plan_agreement(session, agreement, datetime.now(UTC), dependencies(runtime).proposal_ttl)
    with runtime.sessions() as session:
        return _plan(session, _visible(session.get(AgreementView, agreement_id)))


@blp.route("/matches/<match_id>", methods=["GET"])
@allow(*READERS)
@blp.response(200, ProposalOut)
def explain(match_id: str) -> Proposal:
    """A proposal with the explanation of each criterion of its score."""
    with _sessions()() as session:
        proposal = session.get(Proposal, match_id)
    if proposal is None or actor().agency not in (proposal.sending_agency, proposal.host_agency):
        abort(404, message="No such proposal for your agency.")
    assert proposal is not None
    return proposal
