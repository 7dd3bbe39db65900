"""Contracts of the notifications service's own events."""

from __future__ import annotations

from marshmallow import fields, validate

from shared.events.contracts.base import IDENTIFIER, _Strict


class NotificationOutcome(_Strict):
    notification_id = fields.String(required=True, validate=IDENTIFIER)
    about_event_id = fields.String(required=True, validate=IDENTIFIER)
    about_event_type = fields.String(required=True, validate=validate.Length(1, 64))
    channel = fields.String(
        required=True, validate=validate.OneOf(["email", "sms", "webhook", "amqp"])
    )
    recipient_kind = fields.String(
        required=True,
        validate=validate.OneOf(["volunteer", "host_organisation", "staff", "partner"]),
    )
    attempts = fields.Integer(required=True, validate=validate.Range(min=1))
    reason = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=500))
