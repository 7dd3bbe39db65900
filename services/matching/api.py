"""HTTP API of the matching service."""

from __future__ import annotations

from typing import Any

from flask import Flask

from services.matching import views
from services.matching.bootstrap import bootstrap
from shared.access import authenticate
from shared.api import base_app
from shared.runtime import Runtime


def create_app(config: dict[str, Any] | None = None, runtime: Runtime | None = None) -> Flask:
    runtime = runtime or bootstrap()
    app, api = base_app(__name__, runtime, "VIR Exchange matching", config)
    app.before_request(authenticate)
    api.register_blueprint(views.blp)
    return app
