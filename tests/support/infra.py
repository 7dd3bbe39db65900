"""Real test infrastructure: a fresh PostgreSQL database and a fresh RabbitMQ vhost per test."""

from __future__ import annotations

import functools
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from urllib.parse import quote, urlsplit, urlunsplit

import requests
from sqlalchemy import create_engine, text

# Where the fixtures' PostgreSQL and RabbitMQ are: VIR_TEST_INFRA=local (this machine's, or
# TEST_POSTGRES_URL / TEST_AMQP_URL / TEST_RABBITMQ_MANAGEMENT_URL), containers (started here with
# testcontainers from the locally built vir-postgres:local and vir-rabbitmq:local images), or
# auto (the default): local when both answer, else containers when a Docker engine is reachable.
_LOCAL = {
    "postgres": os.environ.get(
        "TEST_POSTGRES_URL",
        os.environ.get("DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
    ),
    "amqp": os.environ.get(
        "TEST_AMQP_URL", os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    ),
    "management": os.environ.get("TEST_RABBITMQ_MANAGEMENT_URL", "http://127.0.0.1:15672"),
}


def wait_until(
    predicate: Callable[[], bool], timeout: float = 30.0, interval: float = 0.05, what: str = ""
) -> None:
    """Poll `predicate` until true; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


# -- where the services are ----------------------------------------------------------------------


def _answers(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port or default_port), timeout=1):
            return True
    except OSError:
        return False


def _docker_reachable() -> bool:
    try:
        import docker

        docker.from_env().ping()
        return True
    except Exception:  # no client library, no socket, no engine: all mean "no"
        return False


@functools.cache
def endpoints() -> dict[str, str]:
    """postgres (an admin URL), amqp (base URL, no vhost), management (HTTP API), mode."""
    mode = os.environ.get("VIR_TEST_INFRA", "auto")
    if mode == "auto":
        local = _answers(_LOCAL["postgres"], 5432) and _answers(_LOCAL["amqp"], 5672)
        mode = "local" if local or not _docker_reachable() else "containers"
    if mode == "local":
        return {**_LOCAL, "mode": "local"}
    if mode != "containers":
        raise RuntimeError(f"VIR_TEST_INFRA must be local, containers or auto, got {mode!r}")
    from tests.support import containers

    return {**containers.start(), "mode": "containers"}


def postgres_admin_url() -> str:
    return endpoints()["postgres"]


def amqp_base_url() -> str:
    return endpoints()["amqp"]


def management_url() -> str:
    return endpoints()["management"]


# -- PostgreSQL -----------------------------------------------------------------------------------


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def create_database() -> str:
    name = f"vir_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return _with_database(postgres_admin_url(), name)


def drop_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    admin = create_engine(postgres_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


# -- RabbitMQ -------------------------------------------------------------------------------------


def _management_auth() -> tuple[str, str]:
    parts = urlsplit(amqp_base_url())
    return parts.username or "guest", parts.password or "guest"


def create_vhost() -> str:
    vhost = f"vir-test-{uuid.uuid4().hex[:12]}"
    auth = _management_auth()
    r = requests.put(
        f"{management_url()}/api/vhosts/{quote(vhost, safe='')}", auth=auth, timeout=30
    )
    r.raise_for_status()
    r = requests.put(
        f"{management_url()}/api/permissions/{quote(vhost, safe='')}/{auth[0]}",
        json={"configure": ".*", "write": ".*", "read": ".*"},
        auth=auth,
        timeout=30,
    )
    r.raise_for_status()
    return vhost


def delete_vhost(vhost: str) -> None:
    requests.delete(
        f"{management_url()}/api/vhosts/{quote(vhost, safe='')}",
        auth=_management_auth(),
        timeout=60,
    )


def amqp_url(vhost: str) -> str:
    parts = urlsplit(amqp_base_url())
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(vhost, safe=""), "", ""))


def queue_depth(vhost: str, queue: str) -> int:
    """Ready messages now (a passive declare: exact, unlike the management API's sampled stats)."""
    from kombu import Connection

    with Connection(amqp_url(vhost)) as conn:
        return int(conn.default_channel.queue_declare(queue, passive=True).message_count)


def get_messages(vhost: str, queue: str, count: int = 100) -> list[dict]:
    """Read messages off `queue` (acked: this empties them out of the queue)."""
    r = requests.post(
        f"{management_url()}/api/queues/{quote(vhost, safe='')}/{quote(queue, safe='')}/get",
        json={"count": count, "ackmode": "ack_requeue_false", "encoding": "auto"},
        auth=_management_auth(),
        timeout=30,
    )
    r.raise_for_status()
    return r.json()


# -- broker outages -------------------------------------------------------------------------------


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


def broker_is_up() -> bool:
    try:
        return requests.get(
            f"{management_url()}/api/overview", auth=_management_auth(), timeout=2
        ).ok
    except requests.RequestException:
        return False
