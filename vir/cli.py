"""`vir`: serve a service, run its outbox relay and consumers, migrate its database, run the
demo network; accounts and tokens (credentials.py), topology and AsyncAPI (definitions.py)."""

from __future__ import annotations

import importlib
import json
import signal
import threading
from pathlib import Path
from typing import Any

import click

from shared import logging as vir_logging
from shared.settings import Settings, SettingsError
from vir.compose_init import compose_group
from vir.credentials import accounts, tokens
from vir.definitions import asyncapi, topology_group
from vir.services import DEFAULT_PORTS, SERVICES, settings_of


def _check_secrets(service: str, settings: Settings, serving: bool = False) -> None:
    """Refuse to start a deployed service (a real broker) on an empty or example secret."""
    from shared.settings import require_secret

    config = importlib.import_module(f"services.{service}.config")
    try:
        if service == "registry" and serving:
            secret = config.dashboard_options()["secret_key"]
            require_secret("DASHBOARD_SECRET_KEY", secret, settings.messaging)
        elif service == "notifications":
            options = config.load_options()
            require_secret("NOTIFY_LINK_SECRET", options.link_secret, settings.messaging)
            if options.registry_token is not None:
                require_secret("NOTIFY_REGISTRY_TOKEN", options.registry_token, settings.messaging)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from exc


def _stop_on_signals(stop: threading.Event) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())


@click.group()
def main() -> None:
    """VIR Exchange: reciprocal international volunteering between national agencies."""


@main.group()
def db() -> None:
    """Database migrations."""


@db.command("upgrade")
@click.argument("service", type=click.Choice(SERVICES))
def db_upgrade(service: str) -> None:
    """Apply SERVICE's migrations to DATABASE_URL (or its embedded SQLite file)."""
    from shared.migrations import upgrade

    settings = settings_of(service)
    upgrade(service, settings.database_url)
    click.echo(f"{service}: database at head")


@main.command()
@click.argument("service", type=click.Choice(SERVICES))
def relay(service: str) -> None:
    """Publish SERVICE's outbox to the broker until interrupted (several may run at once)."""
    from shared.runtime import build_runtime

    settings = settings_of(service)
    vir_logging.configure(settings.log_level, service=service, process="relay")
    runtime = build_runtime(settings)
    stop = threading.Event()
    _stop_on_signals(stop)
    runtime.relay().run(stop, max_backoff=settings.messaging.reconnect_max_delay)


def _serve_health(runtime: Any, host: str, port: int) -> None:
    """/health/live, /health/ready and /metrics of a process without an API: readiness then
    says whether its consumers are running and connected."""
    from flask import Flask
    from werkzeug.serving import make_server

    from shared.health import health_blueprint

    app = Flask("vir-health")
    app.register_blueprint(health_blueprint(runtime.readiness))
    server = make_server(host, port, app, threaded=True)
    runtime.start_thread("health", server.serve_forever)
    click.echo(f"health on http://{host}:{server.server_port}/health/ready", err=True)


def _run_workers(
    service: str, with_relay: bool, health_port: int | None = None, host: str = "127.0.0.1"
) -> None:
    settings = settings_of(service)
    _check_secrets(service, settings)
    process = "worker" if with_relay else "consumer"
    vir_logging.configure(settings.log_level, service=service, process=process)
    composition = importlib.import_module(f"services.{service}.bootstrap")
    runtime = composition.bootstrap(settings)
    consumers = composition.event_consumers(runtime)
    jobs = composition.background_jobs(runtime)
    if with_relay:
        jobs = [("relay", runtime.relay().run), *jobs]
    if not consumers and not jobs:
        raise click.ClickException(f"{service} has no event consumers")
    stop = threading.Event()
    _stop_on_signals(stop)
    for c in consumers:
        runtime.start_consumer(c)
    for job_name, job in jobs:
        runtime.start_thread(job_name, job, runtime.stop)
    if health_port is not None:
        _serve_health(runtime, host, health_port)
    stop.wait()
    runtime.shutdown()


_health_port = click.option(
    "--health-port",
    type=int,
    default=None,
    help="Serve /health/ready (503 while a consumer is down) and /metrics on this port.",
)
_health_host = click.option("--health-host", default="127.0.0.1", show_default=True)


@main.command()
@click.argument("service", type=click.Choice(SERVICES))
@_health_port
@_health_host
def consume(service: str, health_port: int | None, health_host: str) -> None:
    """Run SERVICE's event consumers and background jobs (the planner) until interrupted."""
    _run_workers(service, with_relay=False, health_port=health_port, host=health_host)


@main.command()
@click.argument("service", type=click.Choice(SERVICES))
@_health_port
@_health_host
def worker(service: str, health_port: int | None, health_host: str) -> None:
    """Everything of SERVICE but its API: outbox relay, event consumers, background jobs."""
    _run_workers(service, with_relay=True, health_port=health_port, host=health_host)


@main.command()
@click.argument("service", type=click.Choice(SERVICES))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--port",
    type=int,
    default=None,
    help="Default: registry 8001, matching 8010, notifications 8020.",
)
@click.option(
    "--workers",
    type=int,
    default=2,
    show_default=True,
    help="Processes: one per core.",
)
@click.option(
    "--threads",
    type=int,
    default=4,
    show_default=True,
    help="Threads per worker (more than 1: gunicorn's gthread worker, which keeps connections "
    "alive; its threads overlap the database waits).",
)
@click.option(
    "--access-log/--no-access-log",
    default=True,
    show_default=True,
    help="One line per request on standard output.",
)
def serve(
    service: str, host: str, port: int | None, workers: int, threads: int, access_log: bool
) -> None:
    """Serve SERVICE's HTTP API with gunicorn."""
    from gunicorn.app.base import BaseApplication

    settings = settings_of(service)
    _check_secrets(service, settings, serving=True)
    vir_logging.configure(settings.log_level, service=service, process="api")
    api = importlib.import_module(f"services.{service}.api")

    class _App(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port or DEFAULT_PORTS[service]}")
            self.cfg.set("workers", workers)
            self.cfg.set("threads", threads)
            if access_log:
                self.cfg.set("accesslog", "-")

        def load(self) -> Any:
            return api.create_app()

    _App().run()


@main.command()
@click.option("--agencies", default="TG,ML", show_default=True, help="Agency codes, e.g. TG,ML.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--pilot/--no-pilot",
    default=True,
    show_default=True,
    help="Load the ANVT–CNPV pilot (needs TG and ML) on first start.",
)
def network(agencies: str, host: str, pilot: bool) -> None:
    """Run a whole network in this process (embedded unless DATABASE_URL/AMQP_URL are set)."""
    import os

    from vir import demo
    from vir import network as net

    codes = [a.strip().upper() for a in agencies.split(",") if a.strip()]
    bad = [c for c in codes if len(c) != 2 or not c.isalpha()]
    if bad or not codes:
        raise click.UsageError(f"--agencies takes ISO 3166 alpha-2 codes, got {agencies!r}")
    vir_logging.configure(os.environ.get("LOG_LEVEL", "WARNING"), process="network")
    stop = threading.Event()
    _stop_on_signals(stop)
    try:
        nodes = net.start(codes, os.environ, host)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from exc
    var_dir = Path(os.environ.get("VIR_VAR_DIR", "var"))
    tokens_file = var_dir / "demo-tokens.json"
    tokens = demo.demo_tokens(nodes, codes, tokens_file)
    accounts_file = var_dir / "demo-accounts.json"
    demo.demo_accounts(nodes, accounts_file)
    demo.connect_dashboards(nodes, tokens, host)
    registries = {
        n.name.removeprefix("registry-").upper(): n for n in nodes if n.service == "registry"
    }
    if pilot and {"TG", "ML"} <= set(registries) and not demo.seeded(registries["TG"]):
        click.echo("loading the ANVT–CNPV pilot (2017–2018) and its renewal (live proposals)...")
        demo.seed_pilot(registries)
    embedded = "embedded (SQLite files under var/, in-process broker)"
    mode = "PostgreSQL + RabbitMQ" if os.environ.get("AMQP_URL") else embedded
    click.echo(f"VIR Exchange network running, {mode}:")
    for node in nodes:
        base = f"http://{host}:{node.port}"
        dashboard = f"dashboard {base}/   " if node.service == "registry" else ""
        click.echo(f"  {node.name:<18} {dashboard}API docs {base}/api/v1/docs")
    click.echo(f"Dashboard sign-in (one staff account per agency): {accounts_file}")
    click.echo(f"API tokens (admin, staff, partner per agency): {tokens_file}")
    click.echo("Ctrl-C stops everything.")
    net.wait_forever(stop)
    click.echo("stopping...")
    net.stop(nodes)


@main.group()
def keys() -> None:
    """This node's event signing key and its trust list entry."""


@keys.command("create")
@click.option(
    "--principal",
    default=None,
    help="Agency code or network service the key speaks for (default: AGENCY_CODE).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Key file to create (default: SIGNING_KEY_FILE, or var/keys/<principal>.json).",
)
@click.option("--not-before", default=None, help="Trust entry valid from (RFC 3339; default now).")
@click.option("--not-after", default=None, help="Trust entry valid until (RFC 3339; default none).")
def keys_create(
    principal: str | None, out: Path | None, not_before: str | None, not_after: str | None
) -> None:
    """Create a new Ed25519 signing key (mode 0600, never overwritten) and print the public
    entry to add to the network's trust list under the principal."""
    import os
    from datetime import UTC, datetime

    from shared.security import create_key_file, trusted_jwk
    from shared.settings import load

    service = "registry"
    if principal in ("matching", "notifications"):
        service = principal
    env = dict(os.environ)
    if principal and service == "registry":
        env["AGENCY_CODE"] = principal
    try:
        settings = load(service, env)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from exc
    who = principal or settings.agency_code
    if not who:
        raise click.UsageError("give --principal (an agency code, matching or notifications)")
    path = out or settings.security.key_file
    try:
        key = create_key_file(path, who)
    except FileExistsError as exc:
        raise click.UsageError(f"{path} exists: a key is never overwritten") from exc

    def when(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None

    entry = trusted_jwk(key, when(not_before) or datetime.now(UTC), when(not_after))
    click.echo(f"created {path} (mode 0600) for {who}; its trust list entry:", err=True)
    click.echo(json.dumps({"principal": who, "key": entry}, indent=2))


@keys.command("trust-list")
@click.argument("entries", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--output", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Trust list."
)
def keys_trust_list(entries: tuple[Path, ...], output: Path) -> None:
    """Add the ENTRIES printed by `vir keys create` (files of {"principal", "key"}) to the trust
    list OUTPUT (created if missing), replacing the file atomically; re-adding a kid updates it
    (e.g. to set the not_after that ends a rotation's overlap)."""
    from shared.security import write_trust_list
    from shared.security.trust import FORMAT

    document = json.loads(output.read_text()) if output.exists() else {"format": FORMAT}
    principals = document.setdefault("principals", {})
    for path in entries:
        entry = json.loads(path.read_text())
        keys = principals.setdefault(entry["principal"], {"keys": []})["keys"]
        keys[:] = [k for k in keys if k["kid"] != entry["key"]["kid"]] + [entry["key"]]
    try:
        write_trust_list(output, document)
    except ValueError as exc:
        raise click.UsageError(f"not a valid trust list: {exc}") from exc
    total = sum(len(p["keys"]) for p in principals.values())
    click.echo(f"{output}: {len(principals)} principals, {total} keys")


@main.group()
def matching() -> None:
    """Matching service operations."""


@matching.command("rebuild")
@click.option(
    "--feed",
    "feeds",
    multiple=True,
    required=True,
    metavar="AGENCY=URL=TOKEN",
    help="A registry's address and a node token, e.g. TG=http://127.0.0.1:8001=vir_tg_...",
)
def matching_rebuild(feeds: tuple[str, ...]) -> None:
    """Drop the read model and replay it from the registries' event feeds (DATABASE_URL)."""
    from services.matching.rebuild import Feed, rebuild
    from shared.db import make_engine, make_session_factory

    parsed = []
    for item in feeds:
        agency, _, rest = item.partition("=")
        url, _, token = rest.rpartition("=")
        if not (agency and url and token):
            raise click.UsageError(f"--feed expects AGENCY=URL=TOKEN, got {item!r}")
        parsed.append(Feed(agency.upper(), url, token))
    settings = settings_of("matching")
    engine = make_engine(settings.database_url)
    report = rebuild(make_session_factory(engine), parsed)
    engine.dispose()
    click.echo(
        f"replayed {report.replayed} events, {report.skipped_duplicates} duplicates, "
        f"{report.unresolved} unresolved"
    )
    if report.unresolved:
        raise SystemExit(1)


main.add_command(compose_group)
main.add_command(accounts)
main.add_command(tokens)
main.add_command(asyncapi)
main.add_command(topology_group)
