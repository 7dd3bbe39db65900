"""The compose network of docker-compose.yml driven from the host: `vir compose init` into a
temporary env file, `docker-compose up -d --build`, health, tokens, the REST APIs on their
published ports, the mail catcher's Maildir; each step timed."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]
VIR = Path(sys.executable).parent / "vir"
# Host ports the stack publishes, each picked free at init (the defaults may be taken here).
PORTS = (
    "REGISTRY_TG_PORT",
    "REGISTRY_ML_PORT",
    "MATCHING_PORT",
    "NOTIFICATIONS_PORT",
    "NOTIFICATIONS_TG_PORT",
    "NOTIFICATIONS_ML_PORT",
    "RABBITMQ_TG_MANAGEMENT_PORT",
    "RABBITMQ_ML_MANAGEMENT_PORT",
)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def host_address_for_containers() -> str:
    """The host's address on Docker's default bridge: containers reach the host there."""
    out = subprocess.run(
        ["docker", "network", "inspect", "bridge", "--format", "{{json .IPAM.Config}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    config = json.loads(out)[0]
    if config.get("Gateway"):
        return config["Gateway"]
    network = config["Subnet"].split("/")[0].split(".")
    return ".".join([*network[:3], str(int(network[3]) + 1)])


class Timings:
    def __init__(self) -> None:
        self.steps: list[tuple[str, float]] = []

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        print(f"\n== compose-test: {name} ...", flush=True)
        start = time.monotonic()
        try:
            yield
        finally:
            took = time.monotonic() - start
            self.steps.append((name, took))
            print(f"== compose-test: {name}: {took:.1f} s", flush=True)

    def report(self) -> str:
        width = max((len(n) for n, _ in self.steps), default=0)
        lines = [f"  {name:<{width}}  {took:7.1f} s" for name, took in self.steps]
        total = sum(t for _, t in self.steps)
        return "\n".join(
            ["compose-test step times:", *lines, f"  {'total':<{width}}  {total:7.1f} s"]
        )


@dataclass
class Response:
    status_code: int
    json: Any


@dataclass
class HttpNode:
    """A registry on its published port, with the `call` of tests.support.registry's nodes."""

    agency: str
    url: str
    tokens: dict[str, str] = field(default_factory=dict)

    def call(self, method: str, path: str, who: str | None = "staff", **kwargs: Any) -> Response:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        r = requests.request(method, self.url + path, headers=headers, timeout=30, **kwargs)
        try:
            body = r.json()
        except ValueError:
            body = r.text
        return Response(r.status_code, body)


@dataclass
class Stack:
    env_file: Path
    project: str
    log: Path
    ports: dict[str, int]

    def compose(self, *args: str, timeout: float = 900, check: bool = True) -> str:
        command = ["docker-compose", "--env-file", str(self.env_file), "-p", self.project, *args]
        with self.log.open("a") as log:
            log.write(f"\n$ {' '.join(command)}\n")
            log.flush()
            # No standard input: `exec` would otherwise wait for it to close.
            result = subprocess.run(
                command,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                timeout=timeout,
            )
            log.write(result.stdout)
        if check and result.returncode != 0:
            tail = "\n".join(self.log.read_text().splitlines()[-40:])
            raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n{tail}")
        return result.stdout

    def vir(self, service: str, *args: str) -> str:
        """`vir ARGS` inside a running container of SERVICE; its standard output."""
        return self.compose("exec", "-T", service, "vir", *args).strip()

    def containers(self) -> list[dict[str, Any]]:
        ids = self.compose("ps", "-q").split()
        if not ids:
            return []
        out = subprocess.run(
            ["docker", "inspect", *ids], capture_output=True, text=True, check=True
        ).stdout
        return json.loads(out)

    def unready(self) -> list[str]:
        """Containers not (yet) as they should be: running and healthy, or a one-shot done."""
        waiting = []
        for c in self.containers():
            name, state = c["Name"].lstrip("/"), c["State"]
            service = c["Config"]["Labels"]["com.docker.compose.service"]
            if service.startswith(("broker-config-", "keys-config")):
                if state["Status"] != "exited" or state["ExitCode"] != 0:
                    waiting.append(f"{name}: {state['Status']} ({state['ExitCode']})")
            elif state["Status"] != "running":
                waiting.append(f"{name}: {state['Status']}")
            elif state.get("Health") and state["Health"]["Status"] != "healthy":
                waiting.append(f"{name}: {state['Health']['Status']}")
        return waiting

    def url(self, variable: str) -> str:
        return f"http://127.0.0.1:{self.ports[variable]}"

    def mails(self) -> list[dict[str, str]]:
        """Every e-mail in the mail catcher's Maildir: To, Subject, Message-ID."""
        script = (
            "import email.header as h, email.utils as u, json, mailbox\n"
            "print(json.dumps([{'to': u.parseaddr(m['To'])[1],"
            " 'subject': str(h.make_header(h.decode_header(m['Subject']))),"
            " 'id': m['Message-ID']} for m in mailbox.Maildir('/var/lib/vir/mail')]))"
        )
        return json.loads(self.compose("exec", "-T", "mailcatcher", "python", "-c", script))


def init(tmp: Path, log: Path) -> Stack:
    """`vir compose init` into tmp/.env: free host ports, the local base image, and the host's
    address on Docker's bridge allowed as a webhook host (the test's partner receiver)."""
    ports = {name: free_port() for name in PORTS}
    sets = [f"{name}={port}" for name, port in ports.items()]
    sets += [
        "APP_BASE_IMAGE=vir-base:bookworm",
        "INFRA_BASE_IMAGE=vir-base:bookworm",
        f"WEBHOOK_ALLOWED_HOSTS={host_address_for_containers()}",
    ]
    env_file = tmp / ".env"
    args = [str(VIR), "compose", "init", "--root", str(ROOT), "--env-file", str(env_file)]
    for assignment in sets:
        args += ["--set", assignment]
    subprocess.run(args, check=True, cwd=ROOT)
    return Stack(env_file, f"vir-ci-{uuid.uuid4().hex[:6]}", log, ports)
