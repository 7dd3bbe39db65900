"""The whole network of a chaos run, every service split into its processes as in production
(`vir serve`, `vir relay`, `vir consume`), each in its own process group, under a supervisor that
restarts whatever exits (a container's `restart: unless-stopped`)."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import create_engine

from shared.access import create_token
from shared.auth import Role
from shared.messaging import topology
from shared.migrations import upgrade
from tests.chaos import child
from tests.chaos.infra import PrivatePostgres, PrivateRabbit, free_port
from tests.chaos.sinks import SmtpSink, WebhookSink
from tests.support.infra import wait_until
from tests.support.keys import keyring

ROOT = Path(__file__).resolve().parents[2]

# (node, service, agency, vhost, signing principal, process roles)
NODES: list[tuple[str, str, str | None, str, str, tuple[str, ...]]] = [
    ("registry-tg", "registry", "TG", "tg", "TG", ("api", "relay", "consumer")),
    ("registry-ml", "registry", "ML", "ml", "ML", ("api", "relay", "consumer")),
    ("matching", "matching", None, "tg", "matching", ("api", "relay", "consumer")),
    ("notifications", "notifications", None, "tg", "notifications", ("api", "relay", "consumer")),
    ("notifications-tg", "notifications", "TG", "tg", "TG", ("relay", "consumer")),
    ("notifications-ml", "notifications", "ML", "ml", "ML", ("relay", "consumer")),
]


def consumer_specs() -> dict[str, list[tuple[str, topology.ConsumerSpec]]]:
    """Per vhost: (node, consumer spec) of every consumer living there."""
    out: dict[str, list[tuple[str, topology.ConsumerSpec]]] = {"tg": [], "ml": []}
    for name, service, agency, vhost, _, _ in NODES:
        if service == "registry":
            assert agency
            spec = topology.registry_consumer(agency)
        elif service == "matching":
            spec = topology.matching_consumer()
        else:
            spec = topology.notifications_consumer(agency)
        out[vhost].append((name, spec))
    return out


@dataclass
class Proc:
    node: str
    service: str
    role: str  # api, relay, consumer
    args: list[str]
    env: dict[str, str]
    log: Path
    health: str | None = None
    popen: subprocess.Popen[bytes] | None = None
    killed: bool = False  # by the nemesis: its restart is the fault's, not a crash
    crashes: int = 0

    @property
    def name(self) -> str:
        return f"{self.node}.{self.role}"

    @property
    def kind(self) -> str:
        return f"{self.service}-{self.role}"

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "tests.chaos.child", *self.args],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: gunicorn's workers die with it
            )

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL the process and its children (a container killed)."""
        if self.popen is None:
            return
        self.killed = True
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait(10)

    def terminate(self) -> None:
        if self.running():
            assert self.popen is not None
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def finish(self, timeout: float) -> None:
        """Wait up to `timeout` for the process to end after `terminate`, then SIGKILL it."""
        if self.popen is None:
            return
        try:
            self.popen.wait(max(timeout, 0.1))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.popen.wait(10)

    def ready(self) -> bool:
        if not self.running():
            return False
        if self.health is None:
            return True
        try:
            return requests.get(self.health, timeout=2).status_code == 200
        except requests.RequestException:
            return False


@dataclass
class Network:
    run_dir: Path
    sabotage: str = ""
    rabbit: PrivateRabbit = field(init=False)
    postgres: PrivatePostgres = field(init=False)
    smtp: SmtpSink = field(init=False)
    webhook: WebhookSink = field(init=False)
    databases: dict[str, str] = field(default_factory=dict)
    procs: list[Proc] = field(default_factory=list)
    api: dict[str, str] = field(default_factory=dict)  # node -> base URL
    tokens: dict[str, str] = field(default_factory=dict)  # "staff@TG", "partner@notifications"
    restarts: Counter[str] = field(default_factory=Counter)
    _stop: threading.Event = field(default_factory=threading.Event)
    _supervisor: threading.Thread | None = None

    def __post_init__(self) -> None:
        # The run's infrastructure lives outside the repository (PostgreSQL's user must reach it).
        import tempfile

        self.scratch = Path(tempfile.mkdtemp(prefix="vir-chaos-"))
        os.chmod(self.scratch, 0o755)
        self.rabbit = PrivateRabbit(self.scratch / "rabbitmq")
        self.postgres = PrivatePostgres(self.scratch / "postgres")
        self.smtp = SmtpSink()
        self.webhook = WebhookSink()
        (self.run_dir / "logs").mkdir(parents=True, exist_ok=True)

    # -- start ---------------------------------------------------------------------------------

    def start(self) -> None:
        self.postgres.init()
        self.rabbit.start()
        specs = consumer_specs()
        self.rabbit.prepare({v: [s for _, s in pairs] for v, pairs in specs.items()})
        self.smtp.start()
        self.webhook.start()
        ring = keyring()
        link_secret = secrets.token_urlsafe(32)
        for name, service, agency, vhost, principal, roles in NODES:
            db = self.postgres.create_database(name.replace("-", "_"))
            self.databases[name] = db
            upgrade(service, db)
            engine = create_engine(db)
            child.metadata.create_all(engine)
            env = {
                **os.environ,
                "DATABASE_URL": db,
                "AMQP_URL": self.rabbit.amqp_url(vhost),
                "LOG_LEVEL": "WARNING",
                "VIR_VAR_DIR": str(self.run_dir / "var" / name),
                "AMQP_HEARTBEAT": "10",
                "AMQP_CONFIRM_TIMEOUT": "5",
                "AMQP_RECONNECT_MAX_DELAY": "2",
                "CONSUMER_RESTART_DELAY": "0.5",
                "OUTBOX_IDLE_DELAY": "0.5",
                "DASHBOARD_SECRET_KEY": secrets.token_urlsafe(32),
                "NOTIFY_LINK_SECRET": link_secret,
                "NOTIFY_DISPATCH_INTERVAL": "0.5",
                "SMTP_HOST": "127.0.0.1",
                "SMTP_PORT": str(self.smtp.port),
                "SMS_FILE": str(self.run_dir / "var" / f"sms-{name}.jsonl"),
                "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
                **ring.env(principal),
            }
            env.pop("AGENCY_CODE", None)
            if self.sabotage:
                env[child.SABOTAGE_ENV] = self.sabotage
            if agency:
                env["AGENCY_CODE"] = agency
            with engine.begin() as conn:
                if service == "registry":
                    assert agency
                    for role in (Role.ADMIN, Role.STAFF):
                        self.tokens[f"{role.value}@{agency}"] = create_token(
                            conn, agency, role, f"chaos {role.value}"
                        )[1]
                    self.tokens[f"node@{agency}"] = create_token(
                        conn, agency, Role.NODE, f"notifications-{agency.lower()}"
                    )[1]
                elif name == "notifications":
                    self.tokens["partner@notifications"] = create_token(
                        conn, "TG", Role.PARTNER, "chaos partner"
                    )[1]
            engine.dispose()
            if service == "notifications" and agency:
                env["NOTIFY_REGISTRY_URL"] = self.api[f"registry-{agency.lower()}"]
                env["NOTIFY_REGISTRY_TOKEN"] = self.tokens[f"node@{agency}"]
            for role in roles:
                log = self.run_dir / "logs" / f"{name}.{role}.log"
                if role == "api":
                    port = free_port()
                    self.api[name] = f"http://127.0.0.1:{port}"
                    args = ["serve", service, "--port", str(port), "--workers", "1"]
                    args += ["--threads", "4", "--no-access-log"]
                    health = f"{self.api[name]}/health/ready"
                    if service == "registry":
                        env = {**env, "REGISTRY_PUBLIC_URL": self.api[name]}
                    if service == "notifications":
                        env = {**env, "NOTIFY_PUBLIC_URL": self.api[name]}
                elif role == "relay":
                    args, health = ["relay", service], None
                else:
                    port = free_port()
                    args = ["consume", service, "--health-port", str(port)]
                    health = f"http://127.0.0.1:{port}/health/ready"
                self.procs.append(Proc(name, service, role, args, dict(env), log, health))
        for proc in self.procs:
            proc.start()
        wait_until(lambda: all(p.ready() for p in self.procs), 300, 0.5, "every process ready")
        self._supervisor = threading.Thread(target=self._supervise, daemon=True)
        self._supervisor.start()

    def _supervise(self) -> None:
        while not self._stop.wait(0.3):
            for proc in self.procs:
                if proc.popen is not None and proc.popen.poll() is not None:
                    if proc.killed:
                        proc.killed = False
                    else:
                        proc.crashes += 1
                        self.restarts[proc.name] += 1
                    proc.start()

    def all_ready(self) -> bool:
        return all(p.ready() for p in self.procs)

    def kinds(self) -> list[str]:
        return sorted({p.kind for p in self.procs})

    def of_kind(self, kind: str) -> list[Proc]:
        return [p for p in self.procs if p.kind == kind]

    # -- stop ----------------------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()
        if self._supervisor is not None:
            self._supervisor.join(5)
        for proc in self.procs:  # all at once, then one shared grace period
            proc.terminate()
        deadline = time.monotonic() + 15
        for proc in self.procs:
            try:
                proc.finish(deadline - time.monotonic())
            except Exception:  # noqa: BLE001 - stop the others whatever happens to one
                pass
        for stopper in (self.smtp.stop, self.webhook.stop, self.rabbit.stop, self.postgres.stop):
            try:
                stopper()
            except Exception:  # noqa: BLE001
                pass
        import shutil

        shutil.rmtree(self.scratch, ignore_errors=True)

    def engines(self) -> dict[str, Any]:
        return {
            name: create_engine(url, pool_pre_ping=True) for name, url in self.databases.items()
        }
