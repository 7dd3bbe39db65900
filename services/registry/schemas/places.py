"""Host organisations and placements in and out of the API."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from services.registry.schemas.common import LanguageSkill, Tag, _note, _Period, _reason
from shared import codes, vocabularies


class HostOrganisationIn(Schema):
    name = fields.String(required=True, validate=validate.Length(1, 200))
    city = fields.String(required=True, validate=validate.Length(1, 120))
    domain = fields.String(required=True, validate=validate.Length(1, 80))
    contact_email = fields.Email(load_default=None, allow_none=True)
    contact_phone = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(r"^\+?[0-9 ]{6,20}$", error="Not a phone number."),
    )


class HostOrganisationOut(HostOrganisationIn):
    """Contacts (e-mail, phone) are shown to the own agency's staff and node only."""

    id = fields.String()
    agency = fields.String()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class PlacementIn(_Period):
    host_organisation_id = fields.String(required=True, validate=validate.Length(1, 64))
    title = fields.String(required=True, validate=validate.Length(1, 200))
    city = fields.String(required=True, validate=validate.Length(1, 120))
    domain = fields.String(required=True, validate=validate.Length(1, 80))
    required_skills = fields.List(Tag, load_default=list, validate=validate.Length(max=30))
    required_languages = fields.List(
        fields.Nested(LanguageSkill), load_default=list, validate=validate.Length(max=10)
    )
    start = fields.Date(required=True)
    end = fields.Date(required=True)
    slots = fields.Integer(required=True, validate=validate.Range(min=1, max=1000))


class PlacementPatch(_Period):
    title = fields.String(validate=validate.Length(1, 200))
    city = fields.String(validate=validate.Length(1, 120))
    domain = fields.String(validate=validate.Length(1, 80))
    required_skills = fields.List(Tag, validate=validate.Length(max=30))
    required_languages = fields.List(fields.Nested(LanguageSkill), validate=validate.Length(max=10))
    start = fields.Date()
    end = fields.Date()
    slots = fields.Integer(validate=validate.Range(min=1, max=1000))


class PlacementOut(Schema):
    id = fields.String()
    agency = fields.String()
    host_organisation_id = fields.String()
    title = fields.String()
    city = fields.String()
    domain = fields.String()
    required_skills = fields.List(fields.String())
    required_languages = fields.List(fields.Nested(LanguageSkill))
    start = fields.Date()
    end = fields.Date()
    slots = fields.Integer()
    status = fields.String()
    closed_reason = fields.String(allow_none=True, metadata={"description": "Own agency only"})
    closed_note = fields.String(allow_none=True, metadata={"description": "Own agency only"})
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class PlacementQuery(Schema):
    status = fields.String(validate=validate.OneOf(vocabularies.PLACEMENT_STATUSES))
    domain = fields.String(validate=validate.Length(1, 80))
    host_organisation_id = fields.String(validate=validate.Length(1, 64))


class Closure(Schema):
    reason = _reason(codes.CLOSURE_REASONS)
    note = _note()
