"""Alembic plumbing: each service keeps its own migrations; shared tables come from here."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData

from shared.db import inbox, outbox, outbox_partition, seed_partitions

SERVICES_DIR = Path(__file__).resolve().parent.parent / "services"


def alembic_config(service: str, database_url: str) -> Config:
    location = SERVICES_DIR / service / "migrations"
    if not location.is_dir():
        raise ValueError(f"unknown service {service!r}: no migrations at {location}")
    cfg = Config()
    cfg.set_main_option("script_location", str(location))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(service: str, database_url: str, revision: str = "head") -> None:
    # A SQLite file (and its folder) is created by shared.db.make_engine, readable by its owner.
    command.upgrade(alembic_config(service, database_url), revision)


def create_shared_tables(op) -> None:  # noqa: ANN001 - alembic.op
    """The outbox and inbox tables, as every service's first migration creates them."""
    bind = op.get_bind()
    for table in (outbox, outbox_partition, inbox):
        table.create(bind)
    seed_partitions(bind)


def drop_shared_tables(op) -> None:  # noqa: ANN001
    bind = op.get_bind()
    for table in (inbox, outbox_partition, outbox):
        table.drop(bind)


def run_env(target_metadata: list[MetaData]) -> None:
    """Body of each service's migrations/env.py (online mode only: services migrate live)."""
    from alembic import context

    from shared.db import make_engine

    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("sqlalchemy.url is not set in the Alembic configuration")
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
