"""Run a whole network in one process: a registry per agency, matching and notifications.

Embedded by default (a SQLite file per service under var/, kombu's in-process broker); with
DATABASE_URL and AMQP_URL set, every service gets its own database on that PostgreSQL server
and all of them share that RabbitMQ.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import create_engine, text
from werkzeug.serving import BaseWSGIServer, make_server

from shared.logging import get_logger
from shared.migrations import upgrade
from shared.private_files import private_dir
from shared.runtime import Runtime
from shared.security import load_or_create_key, trusted_jwk, write_trust_list
from shared.security.trust import NETWORK_SERVICES
from shared.settings import load as load_settings

log = get_logger(__name__)


@dataclass
class Node:
    name: str
    service: str
    port: int
    runtime: Runtime
    server: BaseWSGIServer
    app: Any = None


def _database_url(base: str | None, var_dir: Path, name: str, prefix: str = "vir_") -> str:
    if not base:
        return f"sqlite:///{var_dir / (name + '.db')}"
    if base.startswith("sqlite"):
        raise ValueError("DATABASE_URL for a network must point at a PostgreSQL server")
    parts = urlsplit(base)
    database = f"{prefix}{name.replace('-', '_')}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": database}
        ).first()
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{database}"'))
    admin.dispose()
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, ""))


def plan(agencies: list[str]) -> list[tuple[str, str, str | None, int]]:
    """(node name, service, agency, port) of every node of the network."""
    nodes: list[tuple[str, str, str | None, int]] = [
        (f"registry-{code.lower()}", "registry", code, 8001 + i) for i, code in enumerate(agencies)
    ]
    nodes.append(("matching", "matching", None, 8010))
    # The network instance informs partners; one instance per agency informs its own people.
    nodes.append(("notifications", "notifications", None, 8020))
    nodes += [
        (f"notifications-{code.lower()}", "notifications", code, 8021 + i)
        for i, code in enumerate(agencies)
    ]
    return nodes


def prepare_trust(agencies: list[str], environ: Mapping[str, str]) -> Path:
    """The network run in one process is its own trust anchor: a key per principal (the
    agencies, matching, notifications; kept if they exist) and a trust list naming them all.
    Keys other than these that the list already holds (a third country added by hand) stay."""
    import json

    entries: dict[str, dict[str, Any]] = {}
    path = Path("trust-list.json")
    for principal in [*agencies, *NETWORK_SERVICES]:
        env = {k: v for k, v in environ.items() if k not in ("SIGNING_KEY_FILE", "AGENCY_CODE")}
        service = principal if principal in NETWORK_SERVICES else "registry"
        if service == "registry":
            env["AGENCY_CODE"] = principal
        security = load_settings(service, env).security
        path = security.trust_list
        key = load_or_create_key(security.key_file, principal)
        entries[key.kid] = {"principal": principal, "jwk": trusted_jwk(key)}
    principals: dict[str, dict[str, list[dict[str, Any]]]] = {}
    if path.exists():
        for principal, entry in json.loads(path.read_text()).get("principals", {}).items():
            for jwk in entry.get("keys", []):
                entries.setdefault(jwk["kid"], {"principal": principal, "jwk": jwk})
    for item in entries.values():
        principals.setdefault(item["principal"], {"keys": []})["keys"].append(item["jwk"])
    write_trust_list(path, {"format": "vir-trust-list/1", "principals": principals})
    return path


def start(
    agencies: list[str],
    environ: Mapping[str, str],
    host: str = "127.0.0.1",
    *,
    free_ports: bool = False,
    database_prefix: str = "vir_",
    only: set[str] | None = None,
) -> list[Node]:
    """Start every node (or those named in `only`: one process per node, as in production);
    `free_ports` lets the system pick the ports (benchmarks, tests). An agency's notifications
    instance started without its registry reads NOTIFY_REGISTRY_URL/_TOKEN from `environ`."""
    var_dir = Path(environ.get("VIR_VAR_DIR", "var"))
    private_dir(var_dir)
    prepare_trust(agencies, environ)
    started: list[Node] = []
    for name, service, agency, port in plan(agencies):
        if only is not None and name not in only:
            continue
        env = dict(environ)
        env.pop("SIGNING_KEY_FILE", None)  # each node signs with its own principal's key
        env["DATABASE_URL"] = _database_url(
            environ.get("DATABASE_URL"), var_dir, name, database_prefix
        )
        if agency:
            env["AGENCY_CODE"] = agency
        else:
            env.pop("AGENCY_CODE", None)
        config = importlib.import_module(f"services.{service}.config")
        settings = config.load_settings(env)
        upgrade(service, settings.database_url)
        composition = importlib.import_module(f"services.{service}.bootstrap")
        if service == "notifications":
            registry = next(
                (n for n in started if n.name == f"registry-{(agency or '').lower()}"), None
            )
            if registry is not None and agency:
                env["NOTIFY_REGISTRY_URL"] = f"http://{host}:{registry.port}"
                env["NOTIFY_REGISTRY_TOKEN"] = _service_token(registry, agency, name)
            env.setdefault("NOTIFY_PUBLIC_URL", f"http://{host}:{port}")
            env.setdefault("SMS_FILE", str(var_dir / f"sms-{name}.jsonl"))
            env.setdefault("MAIL_DIR", str(var_dir / "mail" / name))
            runtime = composition.bootstrap(settings, options=config.load_options(env))
        else:
            runtime = composition.bootstrap(settings)
        app = importlib.import_module(f"services.{service}.api").create_app(runtime=runtime)
        server = make_server(host, 0 if free_ports else port, app, threaded=True)
        port = server.server_port
        runtime.start_thread(f"{name}-http", server.serve_forever)
        runtime.start_thread(f"{name}-relay", runtime.relay().run, runtime.stop)
        for consumer in composition.event_consumers(runtime):
            runtime.start_consumer(consumer, f"{name}-consumer")
        for job_name, job in composition.background_jobs(runtime):
            runtime.start_thread(f"{name}-{job_name}", job, runtime.stop)
        started.append(Node(name, service, port, runtime, server, app))
        log.info("network.node_started", node=name, port=port, database=settings.database_url)
    return started


def _service_token(registry: Node, agency: str, holder: str) -> str:
    """A node token of `agency` on its own registry, for that agency's notifications instance."""
    from shared.access import create_token
    from shared.auth import Role

    with registry.runtime.engine.begin() as conn:
        return create_token(conn, agency, Role.NODE, holder)[1]


def stop(nodes: list[Node]) -> None:
    for node in nodes:
        node.server.shutdown()
        node.runtime.shutdown()


def wait_forever(stop_event: threading.Event) -> None:
    while not stop_event.wait(0.5):
        pass
