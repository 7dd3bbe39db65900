"""The trust list changes while nodes run: a third country joins, a key rotates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from shared.db import inbox, make_engine, make_session_factory, outbox
from shared.messaging import topology
from shared.messaging.publisher import ConfirmingPublisher
from shared.outbox import OutboxRelay, backlog
from shared.security import Signer, TrustStore, Verifier, create_key_file, trusted_jwk
from tests.support import effects
from tests.support.forgery import DeadLetters
from tests.support.infra import wait_until
from tests.support.keys import keyring, write_list
from tests.support.nodes import running_matching, running_registry
from tests.support.registry import volunteer_payload
from tests.support.running import running_consumer

pytestmark = pytest.mark.integration

NE_TERMS = {
    "start": "2027-09-01",
    "end": "2028-12-31",
    "quotas": [
        {"sending": "NE", "host": "TG", "volunteers": 2},
        {"sending": "TG", "host": "NE", "volunteers": 2},
    ],
    "balance_tolerance": 1,
    "fields_of_cooperation": ["health"],
}


def _latest_event(node, type_: str) -> str:
    with node.engine.connect() as conn:
        return conn.execute(
            select(outbox.c.event_id)
            .where(outbox.c.event_type == type_)
            .order_by(outbox.c.seq.desc())
            .limit(1)
        ).scalar_one()


def _applied(engine, event_id: str) -> bool:
    with engine.connect() as conn:
        found = conn.execute(select(inbox.c.event_id).where(inbox.c.event_id == event_id))
        return found.first() is not None


def test_a_third_country_joins_a_running_network_by_a_trust_list_change_only(amqp_url, tmp_path):
    trust = tmp_path / "trust-list.json"
    members = ["TG", "ML", "matching", "notifications"]
    write_list(trust, [(p, trusted_jwk(keyring().key(p))) for p in members])
    env = {"TRUST_LIST_FILE": str(trust)}
    dead = DeadLetters(amqp_url, [topology.registry_consumer("TG"), topology.matching_consumer()])
    with (
        running_registry("TG", amqp_url, env) as tg,
        running_registry("ML", amqp_url, env),
        running_matching(amqp_url, env=env) as matching,
        running_registry("NE", amqp_url) as ne,  # NE's own node, signing with NE's key
    ):

        def ne_volunteer_and_proposal(n: int) -> tuple[str, str, str]:
            r = ne.call("POST", "/api/v1/volunteers", json=volunteer_payload(n))
            assert r.status_code == 201, r.json
            volunteer = _latest_event(ne, "volunteer.registered")
            r = ne.call("POST", "/api/v1/agreements", json={"partners": ["TG"], **NE_TERMS})
            assert r.status_code == 201, r.json
            return volunteer, _latest_event(ne, "agreement.proposed"), r.json["id"]

        # Before: NE's signed events are refused by the running TG and matching.
        volunteer, proposal, agreement_id = ne_volunteer_and_proposal(1)
        assert dead.reasons(volunteer, ["matching"])["matching"].startswith("unknown-key: ")
        assert dead.reasons(proposal, ["registry.TG", "matching"])["registry.TG"].startswith(
            "unknown-key: "
        )
        assert tg.call("GET", f"/api/v1/agreements/{agreement_id}").status_code == 404

        # The network adds NE to the trust list; nothing restarts.
        write_list(trust, [(p, trusted_jwk(keyring().key(p))) for p in [*members, "NE"]])
        # Each node re-reads the list on its own (every 0.2 s here); an event that arrives before
        # is refused for good, so the test publishes once both have seen the change.
        wait_until(
            lambda: all(
                "NE" in node.runtime.trust.current().principals() for node in (tg, matching)
            ),
            10,
            what="TG and matching re-read the trust list",
        )
        volunteer, proposal, agreement_id = ne_volunteer_and_proposal(2)
        wait_until(
            lambda: _applied(matching.runtime.engine, volunteer), 30, what="NE volunteer applied"
        )
        wait_until(
            lambda: tg.call("GET", f"/api/v1/agreements/{agreement_id}").status_code == 200,
            30,
            what="NE's proposal on TG's node",
        )
        assert _applied(tg.engine, proposal)


def test_a_rotated_key_verifies_during_the_overlap_and_is_refused_after(pg_url, amqp_url, tmp_path):
    engine = make_engine(pg_url)
    effects.prepare_database(pg_url, engine)
    old, new = keyring().key("TG"), create_key_file(tmp_path / "TG-next.json", "TG")
    now = datetime.now(UTC)
    overlap_ends = now + timedelta(days=30)
    trust = tmp_path / "trust-list.json"
    write_list(
        trust,
        [
            ("TG", trusted_jwk(old, now - timedelta(days=365), overlap_ends)),
            ("TG", trusted_jwk(new, now - timedelta(minutes=1), None)),
        ],
    )
    clock = [now]
    verifier = Verifier(TrustStore(trust, 0.2), clock=lambda: clock[0])
    sessions = make_session_factory(engine)
    dead = DeadLetters(amqp_url, [effects.SPEC])

    def _unpublished() -> int:
        with engine.connect() as conn:
            return backlog(conn).unpublished

    def relay_with(key, n: int) -> str:
        with sessions.begin() as session:
            event = effects.write_change_with_event(session, n)
        relay = OutboxRelay(engine, ConfirmingPublisher(amqp_url), signer=Signer(key))
        # Each iteration claims some partitions: go on until the outbox is empty.
        wait_until(lambda: relay.run_once() >= 0 and _unpublished() == 0, 10, what="relayed")
        relay.publisher.close()
        return event.id

    try:
        with running_consumer(
            engine, amqp_url, effects.SPEC, effects.record_effect, verifier=verifier
        ):
            during = {relay_with(old, 1), relay_with(new, 2)}
            wait_until(lambda: during <= effects.tally(engine).ids, 30, what="both keys apply")

            clock[0] = overlap_ends + timedelta(seconds=1)
            late_old, late_new = relay_with(old, 3), relay_with(new, 4)
            reason = dead.reasons(late_old, [effects.SPEC.name])[effects.SPEC.name]
            assert reason.startswith("expired-key: ")
            wait_until(lambda: late_new in effects.tally(engine).ids, 30, what="new key applies")
        assert late_old not in effects.tally(engine).ids
    finally:
        engine.dispose()


def test_each_service_serves_its_public_key_as_jwks_without_authentication(pg_url):
    from tests.support.registry import start_registry

    node = start_registry("TG", pg_url)
    try:
        answer = node.call("GET", "/.well-known/jwks.json", who=None)
        assert answer.status_code == 200
        (key,) = answer.json["keys"]
        assert key["kid"] == keyring().key("TG").kid
        assert key["x"] == keyring().key("TG").public_x()
        assert (key["kty"], key["crv"], key["alg"]) == ("OKP", "Ed25519", "EdDSA")
        assert "d" not in key
    finally:
        node.runtime.shutdown()
