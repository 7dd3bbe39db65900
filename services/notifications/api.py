"""HTTP API of the notifications service (and the AsyncAPI document of the event contract)."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify

from services.notifications.bootstrap import bootstrap
from services.notifications.views import deliveries, preferences, subscriptions
from shared.access import authenticate
from shared.api import base_app
from shared.events.asyncapi import document
from shared.runtime import Runtime


def create_app(config: dict[str, Any] | None = None, runtime: Runtime | None = None) -> Flask:
    runtime = runtime or bootstrap()
    agency = runtime.settings.agency_code
    title = f"VIR Exchange notifications ({agency})" if agency else "VIR Exchange notifications"
    app, api = base_app(__name__, runtime, title, config)
    app.config["AGENCY_CODE"] = agency
    app.before_request(authenticate)
    for module in (subscriptions, preferences, deliveries):
        module.register(api)

    @app.get("/api/v1/asyncapi.json")
    def asyncapi():  # noqa: ANN202
        """The AsyncAPI 3.0 description of every event (public: partners build against it)."""
        return jsonify(document())

    return app
