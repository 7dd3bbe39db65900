"""Agreements: propose, approve one exact version, amend, terminate, and the ledger."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from sqlalchemy import select

from services.registry import handlers
from services.registry.access import READERS, STAFF, allow
from services.registry.adapters.orm import Agreement
from services.registry.schemas import (
    AgreementOut,
    AgreementProposal,
    AgreementQuery,
    AgreementTermsIn,
    ApprovalIn,
    LedgerOut,
    TerminationIn,
)
from services.registry.views import node, read, sessions, shown, write

blp = Blueprint(
    "agreements", __name__, url_prefix="/api/v1/agreements", description="Bilateral agreements"
)


def _out(agreement: Agreement) -> dict[str, Any]:
    out = shown(agreement, ("termination_reason", "termination_note"))
    out["status"] = handlers.display_status(agreement)
    return out


@blp.route("", methods=["POST"])
@allow(*STAFF)
@blp.arguments(AgreementProposal)
@blp.response(201, AgreementOut)
def propose(data: dict[str, Any]) -> dict[str, Any]:
    """Propose terms to partner agencies; this agency approves its own terms by proposing them."""
    return _out(write(handlers.propose_agreement, data))


@blp.route("", methods=["GET"])
@allow(*READERS)
@blp.arguments(AgreementQuery, location="query")
@blp.response(200, AgreementOut(many=True))
@blp.paginate()
def list_agreements(query: dict[str, Any], pagination_parameters: Any) -> list[dict[str, Any]]:
    with sessions()() as session:
        rows = [
            a
            for a in session.scalars(
                select(Agreement).order_by(Agreement.start.desc(), Agreement.id)
            )
            if node().agency in a.parties
            and ("partner" not in query or query["partner"] in a.parties)
            and ("status" not in query or handlers.display_status(a) == query["status"])
        ]
    pagination_parameters.item_count = len(rows)
    start = (pagination_parameters.page - 1) * pagination_parameters.page_size
    return [_out(a) for a in rows[start : start + pagination_parameters.page_size]]


@blp.route("/<agreement_id>", methods=["GET"])
@allow(*READERS)
@blp.response(200, AgreementOut)
def get(agreement_id: str) -> dict[str, Any]:
    return _out(read(handlers.get_agreement, agreement_id))


@blp.route("/<agreement_id>/approve", methods=["POST"])
@allow(*STAFF)
@blp.arguments(ApprovalIn)
@blp.response(200, AgreementOut)
def approve(data: dict[str, Any], agreement_id: str) -> dict[str, Any]:
    """Approve the terms whose hash you reviewed; 409 when they are no longer current."""
    return _out(write(handlers.approve_agreement, agreement_id, data["terms_hash"]))


@blp.route("/<agreement_id>/amend", methods=["POST"])
@allow(*STAFF)
@blp.arguments(AgreementTermsIn)
@blp.response(200, AgreementOut)
def amend(data: dict[str, Any], agreement_id: str) -> dict[str, Any]:
    """Change the terms: a new revision and hash; every other party must approve again."""
    return _out(write(handlers.amend_agreement, agreement_id, data))


@blp.route("/<agreement_id>/terminate", methods=["POST"])
@allow(*STAFF)
@blp.arguments(TerminationIn)
@blp.response(200, AgreementOut)
def terminate(data: dict[str, Any], agreement_id: str) -> dict[str, Any]:
    return _out(
        write(
            handlers.terminate_agreement,
            agreement_id,
            data["reason"],
            data["effective"],
            data["note"],
        )
    )


@blp.route("/<agreement_id>/ledger", methods=["GET"])
@allow(*READERS)
@blp.response(200, LedgerOut)
def ledger(agreement_id: str) -> dict[str, Any]:
    """Per direction: quota against proposed, confirmed, started and completed mobilities."""
    return read(handlers.ledger, agreement_id)
