"""Agreements in and out of the API: terms, approval, termination, quota ledger."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from services.registry.schemas.common import Tag, _agency, _note, _Period, _reason
from shared import codes


class QuotaSchema(Schema):
    sending = fields.String(required=True, validate=_agency)
    host = fields.String(required=True, validate=_agency)
    volunteers = fields.Integer(required=True, validate=validate.Range(min=0, max=10_000))


class AgreementTermsIn(_Period):
    start = fields.Date(required=True)
    end = fields.Date(required=True)
    quotas = fields.List(
        fields.Nested(QuotaSchema), required=True, validate=validate.Length(min=1, max=20)
    )
    balance_tolerance = fields.Integer(required=True, validate=validate.Range(min=0, max=10_000))
    fields_of_cooperation = fields.List(Tag, load_default=list, validate=validate.Length(max=20))


class AgreementProposal(AgreementTermsIn):
    partners = fields.List(
        fields.String(validate=_agency),
        required=True,
        validate=validate.Length(min=1, max=10),
        metadata={"description": "The other parties (this node's agency is always a party)."},
    )


class ApprovalIn(Schema):
    terms_hash = fields.String(
        required=True,
        validate=validate.Regexp(r"^[0-9a-f]{64}$", error="Not a SHA-256 hex digest."),
    )


class TerminationIn(Schema):
    reason = _reason(codes.TERMINATION_REASONS)
    effective = fields.Date(required=True)
    note = _note()


class AgreementOut(Schema):
    id = fields.String()
    parties = fields.List(fields.String())
    proposer = fields.String()
    start = fields.Date()
    end = fields.Date()
    quotas = fields.List(fields.Nested(QuotaSchema))
    balance_tolerance = fields.Integer()
    fields_of_cooperation = fields.List(fields.String())
    revision = fields.Integer()
    terms_hash = fields.String()
    approvals = fields.Dict(keys=fields.String(), values=fields.String())
    status = fields.String()
    terminated_by = fields.String(allow_none=True)
    termination_reason = fields.String(allow_none=True, metadata={"description": "Parties only"})
    termination_note = fields.String(allow_none=True, metadata={"description": "Own agency only"})
    terminated_on = fields.Date(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class AgreementQuery(Schema):
    status = fields.String(
        validate=validate.OneOf(["proposed", "active", "amended", "terminated", "expired"])
    )
    partner = fields.String(validate=_agency)


class LedgerDirection(Schema):
    sending = fields.String()
    host = fields.String()
    quota = fields.Integer()
    proposed = fields.Integer()
    confirmed = fields.Integer()
    started = fields.Integer()
    completed = fields.Integer()
    remaining = fields.Integer()


class LedgerOut(Schema):
    agreement_id = fields.String()
    status = fields.String()
    balance_tolerance = fields.Integer()
    balance = fields.Integer(
        metadata={"description": "Largest difference of confirmed counts between directions"}
    )
    within_tolerance = fields.Boolean()
    directions = fields.List(fields.Nested(LedgerDirection))
