"""The delivery log: every message this instance was asked to send, and each attempt with its
outcome, reason and the provider's answer.

The log names recipients by kind and id only. Contact details stay in the registry; answers
that echo an e-mail address or a phone number are masked before they leave this API."""

from __future__ import annotations

import re
from typing import Any

from flask_smorest import Api, Blueprint, abort
from marshmallow import EXCLUDE, Schema, fields, validate
from sqlalchemy import func, select

from services.notifications.adapters.orm import Delivery, DeliveryAttempt
from shared.access import allow
from shared.auth import Role
from shared.runtime import current_runtime

blp = Blueprint(
    "deliveries",
    __name__,
    url_prefix="/api/v1/deliveries",
    description="Delivery log: messages, attempts, outcomes",
)

STATUSES = ["pending", "sent", "failed", "skipped", "cancelled"]
CHANNELS = ["email", "sms", "webhook", "amqp"]
RECIPIENT_KINDS = ["volunteer", "host_organisation", "staff", "partner"]
_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(\.[\w\-]+)+")
_PHONE = re.compile(r"\+\d[\d \-]{6,}\d")


def register(api: Api) -> None:
    api.register_blueprint(blp)


def scrub(text: str | None) -> str | None:
    """A provider's words without any e-mail address or phone number they may echo."""
    if not text:
        return text
    return _PHONE.sub("<phone>", _EMAIL.sub("<email>", text))


class Scrubbed(fields.String):
    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        return scrub(super()._serialize(value, attr, obj, **kwargs))


class DeliveryQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    status = fields.String(validate=validate.OneOf(STATUSES))
    channel = fields.String(validate=validate.OneOf(CHANNELS))
    event_type = fields.String(validate=validate.Length(1, 64))
    event_id = fields.String(validate=validate.Length(1, 64))
    recipient_kind = fields.String(validate=validate.OneOf(RECIPIENT_KINDS))
    recipient_id = fields.String(validate=validate.Length(1, 64))


class AttemptOut(Schema):
    at = fields.DateTime()
    outcome = fields.String(metadata={"description": "sent, retry, failed, gone or skipped"})
    reason = Scrubbed(allow_none=True)
    provider_answer = Scrubbed(allow_none=True)


class DeliveryOut(Schema):
    id = fields.String()
    event_id = fields.String()
    event_type = fields.String()
    agencies = fields.List(fields.String())
    category = fields.String()
    mandatory = fields.Boolean()
    recipient_kind = fields.String()
    recipient_id = fields.String(metadata={"description": "An identifier, never an address."})
    channel = fields.String()
    status = fields.String(metadata={"description": ", ".join(STATUSES)})
    attempts = fields.Integer(metadata={"description": "Attempts made so far."})
    next_attempt_at = fields.DateTime()
    last_error = Scrubbed(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class DeliveryDetail(DeliveryOut):
    payload = fields.Dict(metadata={"description": "The event facts the message was written from."})
    attempt_log = fields.List(fields.Nested(AttemptOut), metadata={"description": "Oldest first."})


def _sessions() -> Any:
    return current_runtime().sessions


@blp.route("", methods=["GET"])
@allow(Role.ADMIN, Role.STAFF)
@blp.arguments(DeliveryQuery, location="query")
@blp.response(200, DeliveryOut(many=True))
@blp.paginate()
def list_deliveries(query: dict[str, Any], pagination_parameters: Any) -> list[Delivery]:
    """Deliveries, newest first, filtered by status, channel, event and recipient."""
    statement = select(Delivery)
    for name, value in query.items():
        statement = statement.where(getattr(Delivery, name) == value)
    with _sessions()() as session:
        pagination_parameters.item_count = session.scalar(
            select(func.count()).select_from(statement.subquery())
        )
        offset = (pagination_parameters.page - 1) * pagination_parameters.page_size
        return list(
            session.scalars(
                statement.order_by(Delivery.created_at.desc(), Delivery.id.desc())
                .offset(offset)
                .limit(pagination_parameters.page_size)
            )
        )


@blp.route("/<delivery_id>", methods=["GET"])
@allow(Role.ADMIN, Role.STAFF)
@blp.response(200, DeliveryDetail)
def get_delivery(delivery_id: str) -> dict[str, Any]:
    """One delivery with every attempt: outcome, reason and the provider's answer."""
    with _sessions()() as session:
        delivery = session.get(Delivery, delivery_id)
        if delivery is None:
            abort(404, message="No such delivery.")
        attempts = session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id == delivery_id)
            .order_by(DeliveryAttempt.at, DeliveryAttempt.id)
        ).all()
        out = {c: getattr(delivery, c) for c in DeliveryDetail().fields if c != "attempt_log"}
        out["attempt_log"] = list(attempts)
        return out
