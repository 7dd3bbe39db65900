"""The Flask application every service starts from: API under /api/v1, errors as JSON, health."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Flask, send_from_directory
from flask_smorest import Api
from flask_smorest.error_handler import ErrorSchema
from swagger_ui_bundle import swagger_ui_path

from shared import tokens
from shared.health import health_blueprint
from shared.runtime import Runtime
from shared.validation_messages import coded_errors


class CodedErrorSchema(ErrorSchema):
    """The error body: `code` is the HTTP status (flask-smorest's), `message` the English text;
    a refusal by a rule adds `message_code` and `params`, and invalid input `error_codes` (the
    shape of `errors`, each message as {code, params}), for a client to say them in its own
    language (shared/messages.py)."""

    message_code = ma.fields.String(metadata={"description": "Stable code of the message"})
    params = ma.fields.Dict(metadata={"description": "Parameters of the message"})
    error_codes = ma.fields.Dict(metadata={"description": "`errors` as codes and parameters"})


def _codes_of(schema: Any, messages: Any) -> Any:
    """marshmallow's messages of one location with each text as {code, params}."""
    coded = coded_errors(schema, messages)

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: walk(inner) for key, inner in value.items()}
        if isinstance(value, list):
            return [walk(inner) for inner in value]
        return {"code": value.code, "params": value.params}

    return walk(coded)


class CodedApi(Api):
    """flask-smorest's Api whose error bodies carry a message's code and parameters."""

    ERROR_SCHEMA = CodedErrorSchema

    def handle_http_exception(self, error: Any) -> Any:
        payload, status, headers = super().handle_http_exception(error)
        data = getattr(error, "data", None) or {}
        for key in ("message_code", "params"):
            if key in data:
                payload[key] = data[key]
        messages, schema = data.get("messages"), data.get("schema")
        if isinstance(messages, dict) and "errors" in payload:  # webargs: {location: messages}
            payload["error_codes"] = {
                location: _codes_of(schema, inner) for location, inner in messages.items()
            }
        return payload, status, headers


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
    api = CodedApi(app)
    app.register_blueprint(health_blueprint(runtime.readiness))
    api.register_blueprint(tokens.blp)

    @app.get("/.well-known/jwks.json")
    def _jwks():  # noqa: ANN202 - public: peers fetch the keys to put in their trust list
        return {"keys": [runtime.signing_key.public_jwk()]}

    @app.get("/api/v1/docs-assets/<path:filename>")
    def _docs_assets(filename: str):  # noqa: ANN202
        return send_from_directory(swagger_ui_path, filename)

    return app, api
