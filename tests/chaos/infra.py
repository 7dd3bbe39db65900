"""Private infrastructure of a chaos run: a RabbitMQ node and a PostgreSQL cluster of its own.

The machine's shared broker and database server are used by other tests; the nemesis restarts and
stops these instead. Both listen on free loopback ports and keep everything in the run's
temporary directory. Two vhosts of the private node, `tg` and `ml`, stand in for the national
brokers, `vir.events` federated between them both ways (FACTS.md: as between two brokers).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from shared.messaging import federation, topology
from tests.support.infra import wait_until

RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _q(name: str) -> str:
    return quote(name, safe="")


class PrivateRabbit:
    """`rabbitmq-server` under its own node name, cookie, ports, data and log directories."""

    VHOSTS = ("tg", "ml")

    def __init__(self, root: Path):
        self.root = root
        self.port = free_port()
        self.management_port = free_port()
        self.dist_port = free_port()
        self.node = f"vir-chaos-{self.port}@localhost"
        self.process: subprocess.Popen[bytes] | None = None
        for d in ("home", "mnesia", "log"):
            (root / d).mkdir(parents=True, exist_ok=True)
        (root / "enabled_plugins").write_text(
            "[rabbitmq_federation,rabbitmq_federation_management,rabbitmq_management].\n"
        )
        (root / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.port}\n"
            f"management.tcp.port = {self.management_port}\n"
            "management.tcp.ip = 127.0.0.1\n"
            "loopback_users = none\n"
            # Sampled statistics every second: the checker reads queue depths through the API.
            "collect_statistics_interval = 1000\n"
        )

    @staticmethod
    def available() -> bool:
        return (RABBITMQ_BIN / "rabbitmq-server").exists() and shutil.which("erl") is not None

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "HOME": str(self.root / "home"),  # the Erlang cookie of this node and its CLI
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.root / "log"),
            "RABBITMQ_CONFIG_FILE": str(self.root / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(self.root / "rabbitmq.pid"),
        }

    def ctl(self, *args: str, timeout: float = 120) -> None:
        subprocess.run(
            [str(RABBITMQ_BIN / "rabbitmqctl"), "-n", self.node, *args],
            env=self.env(),
            check=True,
            capture_output=True,
            timeout=timeout,
        )

    def start(self) -> None:
        log = open(self.root / "server.out", "ab")  # noqa: SIM115 - the server keeps it
        self.process = subprocess.Popen(
            [str(RABBITMQ_BIN / "rabbitmq-server")],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(self.management_up, 120, 0.5, "private RabbitMQ up")
        self.ctl("await_startup")

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            self.ctl("stop", timeout=60)
        except (subprocess.SubprocessError, OSError):
            pass
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, 9)
            self.process.wait(10)
        self.process = None

    # -- the nemesis's broker fault -----------------------------------------------------------

    def stop_app(self) -> None:
        self.ctl("stop_app")

    def start_app(self) -> None:
        self.ctl("start_app")
        self.ctl("await_startup")

    # -- management API ---------------------------------------------------------------------------

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.management_port}/api"

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        r = requests.request(
            method, f"{self.base}/{path}", auth=("guest", "guest"), timeout=30, **kwargs
        )
        r.raise_for_status()
        return r

    def management_up(self) -> bool:
        try:
            return (
                requests.get(
                    f"{self.base}/overview", auth=("guest", "guest"), timeout=2
                ).status_code
                == 200
            )
        except requests.RequestException:
            return False

    def amqp_url(self, vhost: str, user: str = "guest", password: str = "guest") -> str:
        return f"amqp://{_q(user)}:{_q(password)}@127.0.0.1:{self.port}/{_q(vhost)}"

    def link_user(self, vhost: str) -> str:
        return f"federation-{vhost}"

    def prepare(self, consumers: dict[str, list[topology.ConsumerSpec]]) -> None:
        """The two vhosts, their exchanges and queues (as the national definitions declare them
        before anything flows), and the federation of vir.events both ways."""
        from kombu import Connection

        for vhost in self.VHOSTS:
            self.api("PUT", f"vhosts/{_q(vhost)}")
            self.api(
                "PUT",
                f"permissions/{_q(vhost)}/guest",
                json={"configure": ".*", "write": ".*", "read": ".*"},
            )
            self.api(
                "PUT",
                f"users/{_q(self.link_user(vhost))}",
                json={"password": self.link_user(vhost), "tags": ""},
            )
            with Connection(self.amqp_url(vhost)) as conn:
                topology.declare(conn.default_channel, consumers.get(vhost, []))
        self.link()
        for vhost in self.VHOSTS:
            wait_until(lambda v=vhost: self.links_running(v), 120, 0.5, f"federation into {vhost}")

    def _peer(self, vhost: str) -> str:
        return next(v for v in self.VHOSTS if v != vhost)

    def link(self) -> None:
        """Each vhost takes the other's vir.events (the link user of the downstream logs in
        to the upstream)."""
        cluster = self.api("GET", "overview").json()["cluster_name"]
        for down in self.VHOSTS:
            up = self._peer(down)
            user = self.link_user(down)
            self.api(
                "PUT",
                f"permissions/{_q(up)}/{_q(user)}",
                json=federation.federation_permissions(cluster, down),
            )
            value = federation.upstream_value(self.amqp_url(up, user, user), reconnect_delay=1)
            self.api(
                "PUT",
                f"parameters/federation-upstream/{_q(down)}/{_q(up)}",
                json={"value": value},
            )
            policy = federation.federation_policy(down)
            body = {k: policy[k] for k in ("pattern", "definition", "apply-to", "priority")}
            self.api("PUT", f"policies/{_q(down)}/{_q(policy['name'])}", json=body)

    def links(self, vhost: str) -> list[dict[str, Any]]:
        return list(self.api("GET", f"federation-links/{_q(vhost)}").json())

    def links_running(self, vhost: str) -> bool:
        found = self.links(vhost)
        return bool(found) and all(link["status"] == "running" for link in found)

    def cut(self) -> None:
        """The federation link cut as a network partition would: the link users lose their
        rights and their connections, until `restore`."""
        for down in self.VHOSTS:
            requests.delete(
                f"{self.base}/permissions/{_q(self._peer(down))}/{_q(self.link_user(down))}",
                auth=("guest", "guest"),
                timeout=30,
            )
        users = {self.link_user(v) for v in self.VHOSTS}

        def cut_off() -> bool:
            for conn in self.api("GET", "connections").json():
                if conn.get("user") in users:
                    requests.delete(
                        f"{self.base}/connections/{_q(conn['name'])}",
                        auth=("guest", "guest"),
                        headers={"X-Reason": "federation cut by the chaos nemesis"},
                        timeout=30,
                    )
            return not any(
                link["status"] == "running" for v in self.VHOSTS for link in self.links(v)
            )

        wait_until(cut_off, 60, 0.3, "federation links down")

    def restore(self) -> None:
        cluster = self.api("GET", "overview").json()["cluster_name"]
        for down in self.VHOSTS:
            self.api(
                "PUT",
                f"permissions/{_q(self._peer(down))}/{_q(self.link_user(down))}",
                json=federation.federation_permissions(cluster, down),
            )

    def queues(self, vhost: str) -> list[dict[str, Any]]:
        return list(self.api("GET", f"queues/{_q(vhost)}").json())

    def drain(self, vhost: str, queue: str) -> list[dict[str, Any]]:
        """Every message of `queue` (taken off it)."""
        out: list[dict[str, Any]] = []
        while True:
            got = self.api(
                "POST",
                f"queues/{_q(vhost)}/{_q(queue)}/get",
                json={"count": 500, "ackmode": "ack_requeue_false", "encoding": "auto"},
            ).json()
            out += got
            if len(got) < 500:
                return out


class PrivatePostgres:
    """A PostgreSQL cluster of the run (initdb/pg_ctl), run by the postgres user when we are
    root (PostgreSQL refuses to run as root)."""

    def __init__(self, root: Path):
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        if not found:
            raise RuntimeError("no PostgreSQL binaries under /usr/lib/postgresql/*/bin")
        self.bin = found[-1].parent

    @staticmethod
    def available() -> bool:
        return bool(list(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")))

    def _run(self, *args: str, check: bool = True, timeout: float = 120) -> None:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=check, capture_output=True, timeout=timeout)

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8")
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(
                f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.root}'\nmax_connections = 400\n"
                # A clean stop is the fault here, not a power cut: no need to wait on the disk.
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
            )
        self.start()

    def start(self) -> None:
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w", "start"
        )

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        from sqlalchemy import create_engine, text

        admin = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        return self.url(name)

    def is_up(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False


def pause(seconds: float) -> None:
    """A fault's duration: the nemesis holds a fault this long on purpose (not a wait for a
    condition)."""
    time.sleep(seconds)
