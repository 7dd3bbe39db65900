"""Database plumbing: engines, sessions and the tables every service carries (outbox, inbox)."""

from __future__ import annotations

import functools
import time

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    TextClause,
    TextualSelect,
    bindparam,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from shared.private_files import create_private

# Constraint names stable across databases, so Alembic migrations stay reviewable.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# The tables of shared/ live in their own metadata; each service's Alembic environment targets
# both this and its own metadata, so every service database carries an outbox and an inbox.
shared_metadata = MetaData(naming_convention=NAMING_CONVENTION)

BigId = BigInteger().with_variant(Integer(), "sqlite")

OUTBOX_PARTITIONS = 16

outbox = Table(
    "outbox",
    shared_metadata,
    Column("seq", BigId, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("event_type", String(64), nullable=False),
    Column("routing_key", String(255), nullable=False),
    Column("aggregate_id", String(128), nullable=False),
    Column("partition", SmallInteger, nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("published_at", DateTime(timezone=True), nullable=True),
    # Feed position: given when the broker confirmed the event, in publication order.
    Column("position", BigInteger, nullable=True, unique=True),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("last_error", Text, nullable=True),
)
Index(
    "ix_outbox_unpublished",
    outbox.c.partition,
    outbox.c.seq,
    postgresql_where=outbox.c.published_at.is_(None),
    sqlite_where=outbox.c.published_at.is_(None),
)

# One row per partition; relays claim partitions with FOR UPDATE SKIP LOCKED, so several relay
# processes share the work while each aggregate's events stay in order.
outbox_partition = Table(
    "outbox_partition",
    shared_metadata,
    Column("id", SmallInteger, primary_key=True, autoincrement=False),
    Column("claimed_at", DateTime(timezone=True), nullable=True),
)

inbox = Table(
    "inbox",
    shared_metadata,
    Column("consumer", String(100), primary_key=True),
    Column("source", String(255), primary_key=True),
    Column("event_id", String(64), primary_key=True),
    Column("event_type", String(64), nullable=False),
    Column("processed_at", DateTime(timezone=True), nullable=False),
)


# Bearer tokens of a service's API: only the SHA-256 of a token is stored (shared.access).
api_token = Table(
    "api_token",
    shared_metadata,
    Column("id", String(64), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("agency", String(2), nullable=False),
    Column("role", String(20), nullable=False),
    Column("name", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)


def make_engine(url: str, **kwargs: object) -> Engine:
    """An engine with settings that suit the service: idle connections pinged before use, SQLite
    in WAL with a busy wait."""
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:" and not database.startswith("file:"):
            create_private(database)  # SQLite gives its -wal and -shm files the same mode
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # noqa: ANN001, ANN202
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    if "pool_pre_ping" in kwargs:
        return create_engine(url, **kwargs)
    engine = create_engine(url, **kwargs)
    _ping_idle_connections(engine)
    return engine


# A pooled connection used less than this long ago is handed out without a ping: at a steady
# request rate every connection is, and two pings (the token lookup's, the write's) were a
# quarter of the round trips of a registration. A database lost within this window fails one
# request, and SQLAlchemy then invalidates the whole pool.
PING_IDLE_SECONDS = 1.0


def _ping_idle_connections(engine: Engine) -> None:
    """SQLAlchemy's pre-ping, for connections idle longer than `PING_IDLE_SECONDS` only."""

    @event.listens_for(engine.pool, "checkin")
    def _used(_dbapi_connection, record):  # noqa: ANN001, ANN202
        record.info["vir.used_at"] = time.monotonic()

    @event.listens_for(engine.pool, "checkout")
    def _ping(dbapi_connection, record, _proxy):  # noqa: ANN001, ANN202
        used = record.info.get("vir.used_at")
        if used is not None and time.monotonic() - used < PING_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # the pool discards it and checks out another (3 attempts)
            raise DisconnectionError() from exc


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def seed_partitions(connection) -> None:  # noqa: ANN001 - a SQLAlchemy Connection or op.get_bind()
    """Insert the fixed outbox partition rows (used by migrations)."""
    existing = {row[0] for row in connection.execute(outbox_partition.select())}
    missing = [{"id": i} for i in range(OUTBOX_PARTITIONS) if i not in existing]
    if missing:
        connection.execute(outbox_partition.insert(), missing)


@functools.cache
def insert_unless_present(
    table: Table,
    columns: tuple[str, ...],
    conflict: tuple[str, ...] = (),
    returning: tuple[str, ...] = (),
) -> TextClause | TextualSelect:
    """`INSERT ... ON CONFLICT [(conflict)] DO NOTHING [RETURNING ...]` for `columns`, typed.

    The dialects' own `insert().on_conflict_do_nothing()` is compiled anew at every execution
    (SQLAlchemy 2.0 gives their Insert no cache key); a `text()` statement is compiled once and
    then served from the engine's cache. PostgreSQL and SQLite (3.35+) read the same syntax.
    Bind parameters carry the columns' types, so JSON and timestamps are converted as usual."""

    def quoted(name: str) -> str:
        return f'"{name}"'

    sql = (
        f"INSERT INTO {quoted(table.name)} ({', '.join(map(quoted, columns))}) "
        f"VALUES ({', '.join(':' + c for c in columns)}) ON CONFLICT"
    )
    if conflict:
        sql += f" ({', '.join(map(quoted, conflict))})"
    sql += " DO NOTHING"
    if returning:
        sql += f" RETURNING {', '.join(map(quoted, returning))}"
    statement = text(sql).bindparams(*(bindparam(c, type_=table.c[c].type) for c in columns))
    if returning:
        return statement.columns(*(table.c[c] for c in returning))
    return statement
