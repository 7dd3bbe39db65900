"""Notification preferences: the unsubscribe link of e-mails (public, the signed token is the
proof) and the opt-outs agency staff manage for their volunteers, host organisations and team.

Messages about a confirmed placement are mandatory (see services/notifications/preferences.py):
an opt-out of them is refused with 422 and the reason."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask_smorest import Api, Blueprint, abort
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from services.notifications import preferences
from services.notifications.config import Options
from services.notifications.dependencies import dependencies
from services.notifications.rendering import unsubscribe_page
from shared.access import allow
from shared.auth import Role
from shared.runtime import Runtime, current_runtime

blp = Blueprint(
    "preferences",
    __name__,
    description="Notification preferences (opt-outs) and e-mail unsubscribe links",
)
UNDO_PATH = "/unsubscribe/undo"
PAGE = {"type": "string", "description": "An HTML page, in French then English."}


def register(api: Api) -> None:
    api.register_blueprint(blp)


def _runtime() -> Runtime:
    return current_runtime()


def _options() -> Options:
    return dependencies().options


# -- schemas --------------------------------------------------------------------------------------


def _category(value: str) -> None:
    if value in preferences.MANDATORY_CATEGORIES:
        raise ValidationError(str(preferences.MandatoryCategory(value)))
    if value != preferences.ALL_CATEGORIES and value not in preferences.CATEGORIES:
        raise ValidationError(
            f"Unknown category; one of {', '.join(preferences.CATEGORIES)} or '*' (every "
            "category of the channel except mandatory ones)."
        )


class OptOut(Schema):
    channel = fields.String(required=True, validate=validate.OneOf(preferences.CHANNELS))
    category = fields.String(
        required=True,
        validate=_category,
        metadata={
            "description": "A category, or '*' for every category of the channel. Mandatory "
            f"categories ({', '.join(sorted(preferences.MANDATORY_CATEGORIES))}) are refused."
        },
    )


class OptOutOut(OptOut):
    updated_at = fields.DateTime()


class PreferencesIn(Schema):
    opt_outs = fields.List(
        fields.Nested(OptOut),
        required=True,
        validate=validate.Length(max=len(preferences.CHANNELS) * (len(preferences.CATEGORIES) + 1)),
        metadata={"description": "The complete set of opt-outs: anything not listed is allowed."},
    )


class PreferencesOut(Schema):
    recipient_kind = fields.String()
    recipient_id = fields.String()
    opt_outs = fields.List(fields.Nested(OptOutOut))
    channels = fields.List(fields.String())
    categories = fields.List(fields.String())
    mandatory_categories = fields.List(
        fields.String(),
        metadata={"description": "Always sent: a confirmed placement must reach its people."},
    )


class TokenQuery(Schema):
    class Meta:
        unknown = EXCLUDE  # mail clients may append tracking parameters to links

    token = fields.String(required=True, validate=validate.Length(1, 2000))


class TokenForm(TokenQuery):
    pass


# -- the unsubscribe link (no bearer token: the signed link is the proof) ------------------------


def _page(html: str, status: int = 200) -> Response:
    response = Response(html, status=status, mimetype="text/html")
    # The token is in the URL: keep it out of caches and out of other sites' Referer headers.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def _change(token: str, opted_out: bool) -> Response:
    options = _options()
    try:
        target = preferences.read_token(options, token)
    except preferences.InvalidToken:
        return _page(unsubscribe_page("invalid", "email", ""), 400)
    kind, recipient_id = target["recipient_kind"], target["recipient_id"]
    channel, category = target["channel"], target["category"]
    change = preferences.opt_out if opted_out else preferences.opt_in
    try:
        with _runtime().sessions.begin() as session:
            change(session, kind, recipient_id, channel, category)
    except preferences.MandatoryCategory:
        return _page(unsubscribe_page("mandatory", channel, category), 409)
    except preferences.PreferenceError:
        return _page(unsubscribe_page("invalid", channel, category), 400)
    if opted_out:
        return _page(unsubscribe_page("unsubscribed", channel, category, undo_token=token))
    return _page(unsubscribe_page("resubscribed", channel, category))


@blp.route("/unsubscribe", methods=["GET"])
@blp.arguments(TokenQuery, location="query")
@blp.response(200, PAGE, content_type="text/html", description="Bilingual page: unsubscribed")
@blp.alt_response(400, schema=PAGE, content_type="text/html", description="Link not valid")
@blp.alt_response(409, schema=PAGE, content_type="text/html", description="Mandatory messages")
@blp.doc(security=[])
def unsubscribe(query: dict[str, Any]) -> Response:
    """Open an e-mail's unsubscribe link: records the opt-out, answers a page in French and
    English with a button to subscribe again."""
    return _change(query["token"], opted_out=True)


@blp.route("/unsubscribe", methods=["POST"])
@blp.arguments(TokenQuery, location="query")
@blp.response(200, PAGE, content_type="text/html", description="Bilingual page: unsubscribed")
@blp.alt_response(400, schema=PAGE, content_type="text/html", description="Link not valid")
@blp.doc(security=[])
def unsubscribe_one_click(query: dict[str, Any]) -> Response:
    """One-click unsubscribe (RFC 8058 `List-Unsubscribe-Post`) used by mail clients."""
    return _change(query["token"], opted_out=True)


@blp.route(UNDO_PATH, methods=["POST"])
@blp.arguments(TokenForm, location="form")
@blp.response(200, PAGE, content_type="text/html", description="Bilingual page: subscribed")
@blp.alt_response(400, schema=PAGE, content_type="text/html", description="Link not valid")
@blp.doc(security=[])
def resubscribe(form: dict[str, Any]) -> Response:
    """Undo an unsubscribe (the button of the unsubscribe page)."""
    return _change(form["token"], opted_out=False)


# -- opt-outs managed by agency staff -------------------------------------------------------------


def _preferences(session: Any, kind: str, recipient_id: str) -> dict[str, Any]:
    return {
        "recipient_kind": kind,
        "recipient_id": recipient_id,
        "opt_outs": preferences.opt_outs(session, kind, recipient_id),
        "channels": preferences.CHANNELS,
        "categories": preferences.CATEGORIES,
        "mandatory_categories": sorted(preferences.MANDATORY_CATEGORIES),
    }


def _known(kind: str, recipient_id: str) -> None:
    if kind not in preferences.RECIPIENT_KINDS or not 0 < len(recipient_id) <= 64:
        abort(
            404,
            message="Preferences exist for volunteer, host_organisation and staff recipients "
            "only (identifiers up to 64 characters).",
        )


@blp.route("/api/v1/preferences/<recipient_kind>/<recipient_id>", methods=["GET"])
@allow(Role.ADMIN, Role.STAFF)
@blp.response(200, PreferencesOut)
def get_preferences(recipient_kind: str, recipient_id: str) -> dict[str, Any]:
    """A recipient's opt-outs per channel and category."""
    _known(recipient_kind, recipient_id)
    with _runtime().sessions() as session:
        return _preferences(session, recipient_kind, recipient_id)


@blp.route("/api/v1/preferences/<recipient_kind>/<recipient_id>", methods=["PUT"])
@allow(Role.ADMIN, Role.STAFF)
@blp.arguments(PreferencesIn)
@blp.response(200, PreferencesOut)
def put_preferences(data: dict[str, Any], recipient_kind: str, recipient_id: str) -> dict[str, Any]:
    """Replace a recipient's opt-outs. Mandatory categories are refused (422): a confirmed
    placement is always sent to the volunteer and the host organisation."""
    _known(recipient_kind, recipient_id)
    wanted = [(o["channel"], o["category"]) for o in data["opt_outs"]]
    try:
        with _runtime().sessions.begin() as session:
            preferences.replace_opt_outs(session, recipient_kind, recipient_id, wanted)
    except preferences.PreferenceError as exc:
        abort(422, message=str(exc), errors={"json": {exc.field: [str(exc)]}})
    with _runtime().sessions() as session:
        return _preferences(session, recipient_kind, recipient_id)
