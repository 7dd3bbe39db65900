"""The Flask application every service starts from: API under /api/v1, errors as JSON, health."""

from __future__ import annotations

from typing import Any

from flask import Flask, send_from_directory
from flask_smorest import Api
from swagger_ui_bundle import swagger_ui_path

from shared import tokens
from shared.health import health_blueprint
from shared.runtime import Runtime


def base_app(
    name: str, runtime: Runtime, title: str, config: dict[str, Any] | None = None
) -> tuple[Flask, Api]:
    app = Flask(name)
    app.config.update(
        API_TITLE=title,
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        # Served from the installed package: the docs work without reaching any CDN.
        OPENAPI_SWAGGER_UI_URL="/api/v1/docs-assets/",
        API_SPEC_OPTIONS={
            "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearerAuth": []}],
        },
    )
    app.config.update(config or {})
    app.extensions["vir.runtime"] = runtime
    api = Api(app)
    app.register_blueprint(health_blueprint(runtime.readiness))
    api.register_blueprint(tokens.blp)

    @app.get("/.well-known/jwks.json")
    def _jwks():  # noqa: ANN202 - public: peers fetch the keys to put in their trust list
        return {"keys": [runtime.signing_key.public_jwk()]}

    @app.get("/api/v1/docs-assets/<path:filename>")
    def _docs_assets(filename: str):  # noqa: ANN202
        return send_from_directory(swagger_ui_path, filename)

    return app, api
