"""HTTP API of the registry service."""

from __future__ import annotations

from typing import Any

from flask import Flask

from services.registry.bootstrap import bootstrap
from shared.api import base_app
from shared.runtime import Runtime


def create_app(config: dict[str, Any] | None = None, runtime: Runtime | None = None) -> Flask:
    runtime = runtime or bootstrap()
    app, _api = base_app(__name__, runtime, "VIR Exchange registry", config)
    return app
