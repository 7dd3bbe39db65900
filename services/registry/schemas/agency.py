"""The agency's profile, its pre-departure checklist and the node's event feed."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from services.registry.schemas.common import _language


class ChecklistTickIn(Schema):
    done = fields.Boolean(load_default=True, metadata={"description": "False unticks the item"})
    on = fields.Date(required=True, metadata={"description": "The day it was done"})


class ChecklistItemIn(Schema):
    code = fields.String(required=True, validate=validate.Regexp(r"^[a-z][a-z0-9_]{1,39}$"))
    mandatory = fields.Boolean(load_default=True)
    label_en = fields.String(load_default=None, validate=validate.Length(1, 200))
    label_fr = fields.String(load_default=None, validate=validate.Length(1, 200))


class ChecklistIn(Schema):
    items = fields.List(
        fields.Nested(ChecklistItemIn), required=True, validate=validate.Length(1, 50)
    )


class ChecklistOut(Schema):
    items = fields.List(fields.Dict())


class AgencyOut(Schema):
    code = fields.String()
    name = fields.String()
    languages = fields.List(fields.String())
    contact_email = fields.String(allow_none=True)
    contact_phone = fields.String(allow_none=True)
    node_url = fields.String(allow_none=True)


class AgencyIn(Schema):
    name = fields.String(required=True, validate=validate.Length(1, 200))
    languages = fields.List(
        fields.String(validate=_language), required=True, validate=validate.Length(min=1, max=10)
    )
    contact_email = fields.Email(load_default=None, allow_none=True)
    contact_phone = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(r"^\+?[0-9 ]{6,20}$"),
        metadata={"description": "The staff's phone for urgent incidents (SMS)"},
    )
    node_url = fields.Url(load_default=None, allow_none=True, schemes={"http", "https"})


class FeedQuery(Schema):
    after = fields.Integer(load_default=0, validate=validate.Range(min=0))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class FeedOut(Schema):
    events = fields.List(fields.Dict())
    next_after = fields.Integer()
