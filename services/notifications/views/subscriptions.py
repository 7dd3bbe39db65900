"""Partner webhook subscriptions API: create, list, read, pause, resume, delete, rotate the
signing secret, send a test ping.

An admin token sees and changes the subscriptions of its own agency's partners (made by any
token of its agency); a partner token only those it created. A
subscription's secret is shown twice only: when it is created and when it is rotated."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import current_app
from flask_smorest import Api, Blueprint, abort
from marshmallow import Schema, fields, validate
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.notifications import subscriptions
from services.notifications.adapters.orm import Subscription
from services.notifications.adapters.webhook import WebhookChannel
from services.notifications.config import Options
from services.notifications.dependencies import dependencies
from shared.access import actor, allow
from shared.auth import Role
from shared.runtime import Runtime, current_runtime

blp = Blueprint(
    "subscriptions",
    __name__,
    url_prefix="/api/v1/subscriptions",
    description="Partner webhook subscriptions (Standard Webhooks signatures)",
)
MANAGERS = (Role.ADMIN, Role.PARTNER)


def register(api: Api) -> None:
    api.register_blueprint(blp)


# -- schemas --------------------------------------------------------------------------------------


class SubscriptionIn(Schema):
    partner = fields.String(required=True, validate=validate.Length(1, 200))
    owner_email = fields.Email(
        required=True,
        validate=validate.Length(max=254),
        metadata={"description": "Told by e-mail when the subscription is disabled."},
    )
    url = fields.String(
        required=True,
        validate=validate.Length(1, 2000),
        metadata={"description": "https:// URL on a public address; receives signed POSTs."},
    )
    patterns = fields.List(
        fields.String(validate=validate.Length(1, 200)),
        required=True,
        validate=validate.Length(1, 20),
        metadata={
            "description": "Routing-key patterns (AMQP topic): agreement.#, #.ML.#, "
            "match.confirmed.*.*"
        },
    )


class SubscriptionOut(Schema):
    id = fields.String()
    partner = fields.String()
    owner_email = fields.String()
    url = fields.String()
    patterns = fields.List(fields.String())
    status = fields.String(metadata={"description": "active, paused or disabled"})
    disabled_reason = fields.String(allow_none=True)
    failing_since = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class SubscriptionCreatedOut(SubscriptionOut):
    secret = fields.String(
        metadata={"description": "The signing secret (whsec_…), shown this once only."}
    )


class SecretOut(Schema):
    id = fields.String()
    secret = fields.String(
        metadata={"description": "The new signing secret, shown this once; the old one is void."}
    )


class PingOut(Schema):
    delivered = fields.Boolean()
    status = fields.Integer(allow_none=True, metadata={"description": "The receiver's HTTP status"})
    answer = fields.String(metadata={"description": "The receiver's answer, or why none came"})


# -- access ---------------------------------------------------------------------------------------


def manage(view: Callable[..., Any]) -> Callable[..., Any]:
    """Admin and partner tokens, for writes too: shared.access.allow keeps the partner role
    read-only on the exchange's data, but a partner's own webhook subscriptions are its settings
    to manage (and `_scope` confines a partner token to the subscriptions it created)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        who = actor()
        if who.role not in MANAGERS:
            abort(403, message=f"The {who.role} role may not manage webhook subscriptions.")
        node_agency = current_app.config.get("AGENCY_CODE")
        if node_agency and who.role == Role.ADMIN and who.agency != node_agency:
            abort(
                403, message=f"This node belongs to {node_agency}; your token is for {who.agency}."
            )
        return view(*args, **kwargs)

    return wrapper


def _scope() -> tuple[str | None, str | None]:
    """(owner token, agency) of the subscriptions the caller may touch: a partner, those its
    token made; an admin, those any token of its agency made."""
    who = actor()
    if who.role == Role.ADMIN:
        return None, who.agency
    return who.token_id, None


def _runtime() -> Runtime:
    return current_runtime()


def _options() -> Options:
    return dependencies().options


@contextmanager
def _subscription(subscription_id: str, write: bool = True) -> Iterator[tuple[Session, Any]]:
    sessions = _runtime().sessions
    with sessions.begin() if write else sessions() as session:
        try:
            sub = subscriptions.find(session, subscription_id, *_scope())
        except subscriptions.SubscriptionNotFound as exc:
            abort(404, message=str(exc))
            raise  # unreachable: abort raised
        yield session, sub


# -- views ----------------------------------------------------------------------------------------


@blp.route("", methods=["POST"])
@manage
@blp.arguments(SubscriptionIn)
@blp.response(201, SubscriptionCreatedOut)
def create(data: dict[str, Any]) -> Subscription:
    """Subscribe a URL to events matching the patterns. The answer holds the signing secret:
    it is shown this once only. Private or loopback addresses are refused (422) unless the
    operator allows them."""
    try:
        with _runtime().sessions.begin() as session:
            return subscriptions.create(
                session,
                partner=data["partner"],
                owner_email=data["owner_email"],
                url=data["url"],
                patterns=data["patterns"],
                created_by=actor().token_id,
                allowed_hosts=_options().webhook_allowed_hosts,
            )
    except subscriptions.InvalidSubscription as exc:
        abort(422, message=str(exc), errors={"json": exc.errors})
        raise  # unreachable: abort raised


@blp.route("", methods=["GET"])
@allow(*MANAGERS)
@blp.response(200, SubscriptionOut(many=True))
@blp.paginate()
def list_subscriptions(pagination_parameters: Any) -> list[Subscription]:
    """Your subscriptions (your agency's partners' for an admin), newest first, secrets never shown;
    X-Pagination gives the totals."""
    statement = subscriptions.visible(*_scope())
    with _runtime().sessions() as session:
        total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
        pagination_parameters.item_count = total
        offset = min((pagination_parameters.page - 1) * pagination_parameters.page_size, total)
        return list(
            session.scalars(statement.offset(offset).limit(pagination_parameters.page_size))
        )


@blp.route("/<subscription_id>", methods=["GET"])
@allow(*MANAGERS)
@blp.response(200, SubscriptionOut)
def get(subscription_id: str) -> Subscription:
    with _subscription(subscription_id, write=False) as (_, sub):
        return sub


@blp.route("/<subscription_id>/pause", methods=["POST"])
@manage
@blp.response(200, SubscriptionOut)
def pause(subscription_id: str) -> Subscription:
    """Stop sending. Events arriving while paused are not queued for this subscription;
    deliveries already queued wait on their retry schedule until it is resumed."""
    with _subscription(subscription_id) as (_, sub):
        return subscriptions.pause(sub)


@blp.route("/<subscription_id>/resume", methods=["POST"])
@manage
@blp.response(200, SubscriptionOut)
def resume(subscription_id: str) -> Subscription:
    """Send again, also after the subscription was disabled (once its endpoint is fixed)."""
    with _subscription(subscription_id) as (_, sub):
        return subscriptions.resume(sub)


@blp.route("/<subscription_id>", methods=["DELETE"])
@manage
@blp.response(204)
def delete(subscription_id: str) -> None:
    """Delete the subscription and its secret; deliveries still queued for it are cancelled."""
    with _subscription(subscription_id) as (session, sub):
        subscriptions.delete(session, sub)


@blp.route("/<subscription_id>/rotate-secret", methods=["POST"])
@manage
@blp.response(200, SecretOut)
def rotate_secret(subscription_id: str) -> dict[str, str]:
    """A new signing secret, shown this once. The old secret stops working at once: every
    later webhook, retries of earlier ones included, is signed with the new secret only."""
    with _subscription(subscription_id) as (_, sub):
        return {"id": sub.id, "secret": subscriptions.rotate_secret(sub)}


@blp.route("/<subscription_id>/ping", methods=["POST"])
@manage
@blp.response(200, PingOut)
def ping(subscription_id: str) -> dict[str, Any]:
    """Send a signed `vir.ping` to the subscription's URL now (not retried) and return what the
    receiver answered: `delivered` is true for a 2xx."""
    with _subscription(subscription_id, write=False) as (_, sub):
        pass
    channel = WebhookChannel(allowed_hosts=_options().webhook_allowed_hosts)
    try:
        return subscriptions.ping(channel, sub, _runtime().settings.source)
    finally:
        channel.close()
