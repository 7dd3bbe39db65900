"""HTTP API of a registry node."""

from __future__ import annotations

from typing import Any

from flask import Flask

from services.registry.access import authenticate
from services.registry.bootstrap import bootstrap, compose
from services.registry.config import FollowUpSettings, dashboard_options
from services.registry.dashboard import init_dashboard
from services.registry.imports import new_executor, recover_interrupted_jobs
from services.registry.views import (
    agreements,
    check_ins,
    end_of_mission,
    evaluation,
    exchanges,
    imports,
    incidents,
    places,
    volunteers,
)
from shared.api import base_app
from shared.runtime import Runtime
from shared.settings import require_secret


def create_app(
    config: dict[str, Any] | None = None,
    runtime: Runtime | None = None,
    dashboard: dict[str, Any] | None = None,
    follow_up_settings: FollowUpSettings | None = None,
) -> Flask:
    runtime = runtime or bootstrap()
    agency = runtime.settings.agency_code
    assert agency, "a registry node needs AGENCY_CODE"
    app, api = base_app(__name__, runtime, f"VIR Exchange registry ({agency})", config)
    app.config["AGENCY_CODE"] = agency
    app.before_request(authenticate)
    options = dict(dashboard or dashboard_options())
    # Embedded, an unset key is generated and kept under var/; deployed, it must be given.
    secret = options["secret_key"]
    require_secret("DASHBOARD_SECRET_KEY", str(secret or ""), runtime.settings.messaging)
    # Import jobs run in this process; one left `running` by a crashed process is marked failed.
    compose(runtime, new_executor(agency), follow_up_settings, options)
    recover_interrupted_jobs(runtime.engine)
    for module in (
        volunteers,
        imports,
        places,
        agreements,
        exchanges,
        check_ins,
        incidents,
        end_of_mission,
        evaluation,
    ):
        api.register_blueprint(module.blp)
    app.register_blueprint(check_ins.volunteer_page)
    app.register_blueprint(end_of_mission.verification_page)
    app.config["DASHBOARD"] = options
    init_dashboard(
        app,
        agency,
        var_dir=options["var_dir"],
        secret_key=options["secret_key"],
        secure_cookies=bool(options["secure_cookies"]),
    )
    return app
