"""Who may call what on a service's API: bearer tokens bound to an agency and a role."""

from __future__ import annotations

import functools
import itertools
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import current_app, g, request
from flask_smorest import abort
from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.orm import Session

from shared.auth import Role, bearer, hash_token, new_token
from shared.db import api_token

# Routes anyone may call: health, metrics, the API description and its docs, and the
# notifications service's e-mail unsubscribe links (their signed token is the proof).
PUBLIC_PREFIXES = (
    "/health/",
    "/metrics",
    "/api/v1/openapi.json",
    "/api/v1/docs",
    "/api/v1/asyncapi.json",
    "/unsubscribe",
)


@dataclass(frozen=True)
class Actor:
    token_id: str
    agency: str
    role: Role


def create_token(
    session: Session | Connection, agency: str, role: Role, name: str, token: str | None = None
) -> tuple[str, str]:
    """Store a token's hash; return (token id, clear token). The clear token is never stored.

    `token` lets one demo token be accepted by several services; normally a new one is drawn."""
    token = token or new_token(agency)
    token_id = f"tok-{uuid.uuid4().hex[:12]}"
    session.execute(
        insert(api_token).values(
            id=token_id,
            token_hash=hash_token(token),
            agency=agency,
            role=role.value,
            name=name,
            created_at=datetime.now(UTC),
        )
    )
    return token_id, token


def list_tokens(session: Session | Connection, agency: str | None = None) -> list[Any]:
    """Tokens (never their hashes), newest first; only `agency`'s when given."""
    columns = [c for c in api_token.c if c.name != "token_hash"]
    statement = select(*columns).order_by(api_token.c.created_at.desc(), api_token.c.id)
    if agency is not None:
        statement = statement.where(api_token.c.agency == agency)
    return list(session.execute(statement))


class AmbiguousToken(LookupError):
    """A name matches several live tokens: revoke them by id."""

    def __init__(self, ids: list[str]):
        super().__init__(f"several live tokens have this name: {', '.join(ids)}")
        self.ids = ids


def revoke_token(
    session: Session | Connection, ref: str, agency: str | None = None, by_name: bool = True
) -> str | None:
    """Revoke the token whose id, or else whose name, is `ref` (only `agency`'s when given);
    return its id, or None if there is no such live token. The process that revokes forgets
    every token it had cached (its next request looks the token up again); other processes
    (other gunicorn workers, a server when the CLI revoked) within TOKEN_CACHE_SECONDS."""
    live = select(api_token.c.id).where(api_token.c.revoked_at.is_(None))
    if agency is not None:
        live = live.where(api_token.c.agency == agency)
    ids = [r.id for r in session.execute(live.where(api_token.c.id == ref))]
    if not ids and by_name:
        ids = [r.id for r in session.execute(live.where(api_token.c.name == ref))]
    if len(ids) > 1:
        raise AmbiguousToken(ids)
    if not ids:
        return None
    session.execute(
        update(api_token).where(api_token.c.id == ids[0]).values(revoked_at=datetime.now(UTC))
    )
    forget_cached_tokens()
    return ids[0]


# A token found valid is trusted for this long by the process that looked it up, then looked up
# again: the bound on how late another process sees a revocation. At hundreds of requests per
# second per worker this saves a database round trip on nearly every request.
TOKEN_CACHE_SECONDS = 2.0
TOKEN_CACHE_SIZE = 10_000  # entries per app; the cache is emptied when full
_CACHE = "vir.token_cache"
_generation = itertools.count()
_current_generation = next(_generation)


def forget_cached_tokens() -> None:
    """Make every app of this process look every token up again (after a revocation)."""
    global _current_generation
    _current_generation = next(_generation)


# Built once; the hash is a parameter, so the statement is compiled once, not per request.
_TOKEN_BY_HASH = select(api_token).where(api_token.c.token_hash == bindparam("token_hash"))


def authenticate() -> None:
    """before_request: every /api/v1 call needs a valid bearer token (401 otherwise)."""
    # Only the API takes bearer tokens; other paths (a registry's dashboard) have their own sign-in.
    if (
        request.method == "OPTIONS"
        or not request.path.startswith("/api/")
        or request.path.startswith(PUBLIC_PREFIXES)
    ):
        return
    token = bearer(request.headers.get("Authorization"))
    if token is None:
        abort(401, message="Authentication required: send Authorization: Bearer <token>.")
        return  # abort raised; this keeps type checkers informed
    token_hash = hash_token(token)
    cache: dict[str, tuple[float, int, Actor]] = current_app.extensions.setdefault(_CACHE, {})
    cached = cache.get(token_hash)
    now = time.monotonic()
    if cached is not None and cached[0] > now and cached[1] == _current_generation:
        g.actor = cached[2]
        return
    generation = _current_generation
    runtime = current_app.extensions["vir.runtime"]
    # Outside a transaction: one round trip to the database instead of three (BEGIN, SELECT,
    # ROLLBACK). Unknown and revoked tokens are not cached: they are looked up every time.
    with runtime.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        row = conn.execute(_TOKEN_BY_HASH, {"token_hash": token_hash}).first()
    if row is None or row.revoked_at is not None:
        cache.pop(token_hash, None)
        abort(401, message="Unknown or revoked token.")
    g.actor = Actor(token_id=row.id, agency=row.agency, role=Role(row.role))
    if len(cache) >= TOKEN_CACHE_SIZE:
        cache.clear()
    cache[token_hash] = (now + TOKEN_CACHE_SECONDS, generation, g.actor)


def actor() -> Actor:
    return g.actor


def allow(*roles: Role) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Restrict a view to `roles`. On an agency's node, admin and staff tokens must belong to that
    agency; partner and node tokens only ever read."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            who: Actor = g.actor
            node_agency = current_app.config.get("AGENCY_CODE")
            if who.role not in roles:
                abort(403, message=f"The {who.role} role may not do this.")
            if node_agency and who.role in (Role.ADMIN, Role.STAFF) and who.agency != node_agency:
                abort(
                    403,
                    message=f"This node belongs to {node_agency}; your token is for {who.agency}.",
                )
            if who.role in (Role.PARTNER, Role.NODE) and request.method not in ("GET", "HEAD"):
                abort(403, message=f"The {who.role} role is read-only.")
            return view(*args, **kwargs)

        return wrapper

    return decorator


STAFF = (Role.ADMIN, Role.STAFF)
READERS = (Role.ADMIN, Role.STAFF, Role.PARTNER, Role.NODE)
