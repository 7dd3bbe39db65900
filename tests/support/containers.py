"""A throwaway PostgreSQL and RabbitMQ for the test fixtures, started with testcontainers from
the locally built images (docker-compose.yml builds them: vir-postgres:local, vir-rabbitmq:local).
Used where no local server answers (tests/support/infra.py); removed when the tests end.

testcontainers' reaper container (ryuk) comes from a registry: it is disabled
(TESTCONTAINERS_RYUK_DISABLED=true) and the containers are stopped at exit instead."""

from __future__ import annotations

import atexit
import os
import secrets
import time

import requests
from sqlalchemy import create_engine, text

POSTGRES_IMAGE = os.environ.get("TEST_POSTGRES_IMAGE", "vir-postgres:local")
RABBITMQ_IMAGE = os.environ.get("TEST_RABBITMQ_IMAGE", "vir-rabbitmq:local")
USER = "vir"
READY_TIMEOUT = 120


def _until(ready, what: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        try:
            if ready():
                return
        except Exception:  # not accepting connections yet
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not become ready in {READY_TIMEOUT}s")
        time.sleep(0.5)


def start() -> dict[str, str]:
    """Start both; return the fixtures' postgres admin URL, AMQP base URL and management URL."""
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
    from testcontainers.core.container import DockerContainer

    password = secrets.token_urlsafe(16)
    postgres = (
        DockerContainer(POSTGRES_IMAGE)
        .with_env("POSTGRES_USER", USER)
        .with_env("POSTGRES_PASSWORD", password)
        .with_env("POSTGRES_DATABASES", USER)
        .with_env("POSTGRES_CREATEDB", "true")  # a database per test
        .with_exposed_ports(5432)
    )
    rabbitmq = (
        DockerContainer(RABBITMQ_IMAGE)
        .with_env("VIR_BROKER_MODE", "single")
        .with_env("RABBITMQ_DEFAULT_USER", USER)
        .with_env("RABBITMQ_DEFAULT_PASS", password)
        .with_exposed_ports(5672, 15672)
    )
    for container in (postgres, rabbitmq):
        container.start()
        atexit.register(container.stop)

    host = postgres.get_container_host_ip()
    admin = (
        f"postgresql+psycopg://{USER}:{password}@{host}:{postgres.get_exposed_port(5432)}/{USER}"
    )

    def postgres_ready() -> bool:
        engine = create_engine(admin)
        try:
            with engine.connect() as conn:
                return conn.execute(text("SELECT 1")).scalar_one() == 1
        finally:
            engine.dispose()

    _until(postgres_ready, f"PostgreSQL ({POSTGRES_IMAGE})")
    host = rabbitmq.get_container_host_ip()
    management = f"http://{host}:{rabbitmq.get_exposed_port(15672)}"
    _until(
        lambda: requests.get(f"{management}/api/overview", auth=(USER, password), timeout=2).ok,
        f"RabbitMQ ({RABBITMQ_IMAGE})",
    )
    amqp = f"amqp://{USER}:{password}@{host}:{rabbitmq.get_exposed_port(5672)}/"
    return {"postgres": admin, "amqp": amqp, "management": management}
