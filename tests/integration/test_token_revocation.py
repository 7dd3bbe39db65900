"""API tokens can be revoked by their agency's admin (API) or an operator (CLI); 401 at once in
the process that revoked, within TOKEN_CACHE_SECONDS in any other."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from shared.access import TOKEN_CACHE_SECONDS, create_token
from shared.auth import Role
from shared.db import api_token
from tests.support.infra import wait_until
from tests.support.nodes import start_matching
from tests.support.registry import start_registry
from vir.cli import main

pytestmark = pytest.mark.integration


@pytest.fixture
def tg(pg_url):
    node = start_registry("TG", pg_url)
    yield node
    node.runtime.shutdown()


def _id_of(node, name: str) -> str:
    with node.engine.connect() as conn:
        return conn.execute(select(api_token.c.id).where(api_token.c.name == name)).scalar_one()


def test_an_admin_lists_and_revokes_only_tokens_of_their_agency_and_revoked_ones_get_401(tg):
    listed = tg.call("GET", "/api/v1/tokens", who="admin")
    assert listed.status_code == 200
    assert {t["agency"] for t in listed.json} == {"TG"}
    assert all("token_hash" not in t and "token" not in t for t in listed.json)
    assert {t["name"] for t in listed.json} >= {"staff of TG", "partner of TG"}
    assert tg.call("GET", "/api/v1/tokens", who="staff").status_code == 403

    ml_staff = _id_of(tg, "staff of ML")
    assert tg.call("DELETE", f"/api/v1/tokens/{ml_staff}", who="admin").status_code == 404
    assert tg.call("DELETE", f"/api/v1/tokens/{ml_staff}", who="admin@ML").status_code == 403

    staff = _id_of(tg, "staff of TG")
    assert tg.call("GET", "/api/v1/volunteers", who="staff").status_code == 200
    assert tg.call("DELETE", f"/api/v1/tokens/{staff}", who="staff").status_code == 403
    assert tg.call("DELETE", f"/api/v1/tokens/{staff}", who="admin").status_code == 204
    assert tg.call("GET", "/api/v1/volunteers", who="staff").status_code == 401
    assert tg.call("DELETE", f"/api/v1/tokens/{staff}", who="admin").status_code == 404
    again = {t["id"]: t for t in tg.call("GET", "/api/v1/tokens", who="admin").json}
    assert again[staff]["revoked_at"] is not None
    # A name is not an id on the API: no revocation by a guessable name.
    assert tg.call("DELETE", "/api/v1/tokens/partner of TG", who="admin").status_code == 404


def test_vir_tokens_revoke_takes_an_id_or_a_name_and_refuses_an_ambiguous_name(tg, pg_url):
    env = {"AGENCY_CODE": "TG", "DATABASE_URL": pg_url}
    runner = CliRunner()
    assert tg.call("GET", "/api/v1/placements", who="partner").status_code == 200
    result = runner.invoke(main, ["tokens", "revoke", "partner of TG"], env=env)
    assert result.exit_code == 0, result.output
    assert tg.call("GET", "/api/v1/placements", who="partner").status_code == 401

    with tg.engine.begin() as conn:
        create_token(conn, "TG", Role.STAFF, "laptop")
        create_token(conn, "TG", Role.STAFF, "laptop")
    result = runner.invoke(main, ["tokens", "revoke", "laptop"], env=env)
    assert result.exit_code == 2 and "several live tokens" in result.output

    node = _id_of(tg, "node of TG")
    result = runner.invoke(main, ["tokens", "revoke", node], env=env)
    assert result.exit_code == 0 and f"{node}: revoked" in result.output
    assert tg.call("GET", "/api/v1/volunteers", who="node").status_code == 401
    result = runner.invoke(main, ["tokens", "revoke", "no such token"], env=env)
    assert result.exit_code == 1
    listing = runner.invoke(main, ["tokens", "list"], env=env).output
    assert f"{node}  TG  node" in listing and "revoked" in listing


def test_network_services_serve_the_same_token_administration(pg_url):
    matching = start_matching(pg_url)
    try:
        listed = matching.call("GET", "/api/v1/tokens", who="admin@ML")
        assert listed.status_code == 200 and {t["agency"] for t in listed.json} == {"ML"}
        tg_staff = next(
            t["id"]
            for t in matching.call("GET", "/api/v1/tokens", who="admin@TG").json
            if t["role"] == "staff"
        )
        assert (
            matching.call("DELETE", f"/api/v1/tokens/{tg_staff}", who="admin@ML").status_code == 404
        )
        assert (
            matching.call("DELETE", f"/api/v1/tokens/{tg_staff}", who="admin@TG").status_code == 204
        )
        assert matching.call("GET", "/api/v1/agreements", who="staff@TG").status_code == 401
    finally:
        matching.runtime.shutdown()


def test_a_token_revoked_by_another_process_is_refused_within_the_cache_bound(tg):
    # Another process (the CLI on another machine, another gunicorn worker) revokes straight in
    # the database: this process has the token cached and learns of it when the entry expires.
    assert tg.call("GET", "/api/v1/volunteers", who="staff").status_code == 200
    staff = _id_of(tg, "staff of TG")
    with tg.engine.begin() as conn:
        conn.execute(
            update(api_token).where(api_token.c.id == staff).values(revoked_at=datetime.now(UTC))
        )
    revoked_at = time.monotonic()
    wait_until(
        lambda: tg.call("GET", "/api/v1/volunteers", who="staff").status_code == 401,
        timeout=TOKEN_CACHE_SECONDS + 5,
        what="the revoked token to be refused",
    )
    assert time.monotonic() - revoked_at <= TOKEN_CACHE_SECONDS + 1.0
    # Refused from then on (a revoked token is never cached), and other tokens still work.
    assert tg.call("GET", "/api/v1/volunteers", who="staff").status_code == 401
    assert tg.call("GET", "/api/v1/volunteers", who="admin").status_code == 200
