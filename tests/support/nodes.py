"""Whole service nodes (API, relay, consumers, jobs) on fresh databases and one broker."""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from flask import Flask

from services.matching import bootstrap as matching_bootstrap
from services.matching.api import create_app as matching_app
from services.matching.config import load_settings as matching_settings
from services.registry.bootstrap import event_consumers as registry_consumers
from shared.access import create_token
from shared.auth import Role
from shared.migrations import upgrade
from shared.runtime import Runtime
from shared.settings import is_placeholder
from tests.support import infra
from tests.support.infra import wait_until
from tests.support.keys import keyring
from tests.support.registry import RegistryNode, start_registry


def _start_workers(runtime: Runtime, consumers: list, jobs: list) -> None:
    runtime.start_thread("relay", runtime.relay().run, runtime.stop)
    for consumer in consumers:
        runtime.start_consumer(consumer)
        wait_until(consumer.ready.is_set, 30, what=f"{consumer.spec.name} consumer ready")
    for name, job in jobs:
        runtime.start_thread(name, job, runtime.stop)


@contextmanager
def running_registry(
    agency: str, amqp_url: str, env: Mapping[str, str] | None = None
) -> Iterator[RegistryNode]:
    database = infra.create_database()
    node = start_registry(agency, database, amqp_url, env)
    _start_workers(node.runtime, registry_consumers(node.runtime), [])
    try:
        yield node
    finally:
        node.runtime.shutdown()
        infra.drop_database(database)


@dataclass
class MatchingNode:
    app: Flask
    runtime: Runtime
    tokens: dict[str, str]

    def call(self, method: str, path: str, who: str = "admin@TG", **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        return self.app.test_client().open(path, method=method, headers=headers, **kwargs)


def start_matching(
    database_url: str,
    amqp_url: str = "memory://",
    ttl: timedelta | None = None,
    env: Mapping[str, str] | None = None,
) -> MatchingNode:
    upgrade("matching", database_url)
    settings = matching_settings(
        {
            "DATABASE_URL": database_url,
            "AMQP_URL": amqp_url,
            **keyring().env("matching"),
            **(env or {}),
        }
    )
    runtime = matching_bootstrap.bootstrap(settings, ttl=ttl or timedelta(days=14))
    tokens = {}
    with runtime.engine.begin() as conn:
        for agency in ("TG", "ML", "NE"):
            for role in Role:
                tokens[f"{role.value}@{agency}"] = create_token(
                    conn, agency, role, f"{role.value} {agency}"
                )[1]
    return MatchingNode(matching_app(runtime=runtime), runtime, tokens)


@contextmanager
def running_matching(
    amqp_url: str, ttl: timedelta | None = None, env: Mapping[str, str] | None = None
) -> Iterator[MatchingNode]:
    database = infra.create_database()
    node = start_matching(database, amqp_url, ttl, env)
    runtime = node.runtime
    _start_workers(
        runtime,
        matching_bootstrap.event_consumers(runtime),
        matching_bootstrap.background_jobs(runtime),
    )
    try:
        yield node
    finally:
        runtime.shutdown()
        infra.drop_database(database)


@contextmanager
def serving(app: Flask) -> Iterator[str]:
    """Serve `app` over real HTTP on a free loopback port; yield its base URL."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


@contextmanager
def running_notifications(amqp_url: str, agency: str | None, options: Any) -> Iterator[Runtime]:
    """A notifications instance (an agency's, or the network's when `agency` is None)."""
    from services.notifications import bootstrap as notifications_bootstrap
    from services.notifications.config import load_settings as notifications_settings

    database = infra.create_database()
    upgrade("notifications", database)
    env = {
        "DATABASE_URL": database,
        "AMQP_URL": amqp_url,
        **keyring().env(agency or "notifications"),
    }
    if is_placeholder(options.link_secret):  # a real broker: the example secret is refused
        options = replace(options, link_secret=secrets.token_urlsafe(32))
    if agency:
        env["AGENCY_CODE"] = agency
    runtime = notifications_bootstrap.bootstrap(notifications_settings(env), options=options)
    _start_workers(
        runtime,
        notifications_bootstrap.event_consumers(runtime),
        notifications_bootstrap.background_jobs(runtime),
    )
    try:
        yield runtime
    finally:
        runtime.shutdown()
        infra.drop_database(database)
