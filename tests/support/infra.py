"""Real test infrastructure: a fresh PostgreSQL database and a fresh RabbitMQ vhost per test."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Callable
from urllib.parse import quote, urlsplit, urlunsplit

import requests
from sqlalchemy import create_engine, text

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL",
    os.environ.get("DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
)
AMQP_BASE_URL = os.environ.get(
    "TEST_AMQP_URL", os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
)
MANAGEMENT_URL = os.environ.get("TEST_RABBITMQ_MANAGEMENT_URL", "http://127.0.0.1:15672")


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


# -- PostgreSQL -----------------------------------------------------------------------------------


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def create_database() -> str:
    name = f"vir_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return _with_database(POSTGRES_ADMIN_URL, name)


def drop_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


# -- RabbitMQ -------------------------------------------------------------------------------------


def _management_auth() -> tuple[str, str]:
    parts = urlsplit(AMQP_BASE_URL)
    return parts.username or "guest", parts.password or "guest"


def create_vhost() -> str:
    vhost = f"vir-test-{uuid.uuid4().hex[:12]}"
    auth = _management_auth()
    r = requests.put(f"{MANAGEMENT_URL}/api/vhosts/{quote(vhost, safe='')}", auth=auth, timeout=30)
    r.raise_for_status()
    r = requests.put(
        f"{MANAGEMENT_URL}/api/permissions/{quote(vhost, safe='')}/{auth[0]}",
        json={"configure": ".*", "write": ".*", "read": ".*"},
        auth=auth,
        timeout=30,
    )
    r.raise_for_status()
    return vhost


def delete_vhost(vhost: str) -> None:
    requests.delete(
        f"{MANAGEMENT_URL}/api/vhosts/{quote(vhost, safe='')}", auth=_management_auth(), timeout=60
    )


def amqp_url(vhost: str) -> str:
    parts = urlsplit(AMQP_BASE_URL)
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(vhost, safe=""), "", ""))


def queue_depth(vhost: str, queue: str) -> int:
    """Ready messages now (a passive declare: exact, unlike the management API's sampled stats)."""
    from kombu import Connection

    with Connection(amqp_url(vhost)) as conn:
        return int(conn.default_channel.queue_declare(queue, passive=True).message_count)


def get_messages(vhost: str, queue: str, count: int = 100) -> list[dict]:
    """Read messages off `queue` (acked: this empties them out of the queue)."""
    r = requests.post(
        f"{MANAGEMENT_URL}/api/queues/{quote(vhost, safe='')}/{quote(queue, safe='')}/get",
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
        return requests.get(f"{MANAGEMENT_URL}/api/overview", auth=_management_auth(), timeout=2).ok
    except requests.RequestException:
        return False
