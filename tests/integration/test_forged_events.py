"""Forged events on a real broker, published with full permissions: every row of the entitlement
table, every way to forge (wrong signer, signer not entitled, tampered body, valid event under
another routing key, unknown key, expired key). Each is dead-lettered with its reason by every
consumer that hears it, and changes nothing on TG, ML, matching or notifications."""

from __future__ import annotations

import dataclasses
from contextlib import ExitStack
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from services.notifications.adapters.orm import Delivery
from services.notifications.config import Options
from shared.db import inbox, make_engine
from shared.events import encode
from shared.events.contracts import EVENT_TYPES
from shared.events.examples import EXAMPLES
from shared.messaging import topology
from shared.messaging.consumer import ROUTING_KEY_HEADER
from shared.security import Signer
from tests.support import effects, infra
from tests.support.forgery import (
    ENTITLED,
    DeadLetters,
    bound,
    event_as,
    publish,
    source_of,
    stranger_signer,
)
from tests.support.infra import wait_until
from tests.support.keys import keyring
from tests.support.nodes import running_matching, running_notifications, running_registry, serving
from tests.support.running import running_consumer

pytestmark = pytest.mark.integration

AUDIT = topology.ConsumerSpec(name="audit", bindings=("#",), retry_delays_ms=(100,))
KINDS = (
    "not-entitled",
    "wrong-signer",
    "tampered",
    "replayed",
    "replayed-with-header",
    "unknown-key",
    "expired-key",
)
EXPECTED = {
    "not-entitled": "not-entitled",
    "wrong-signer": "not-entitled",
    "tampered": "bad-signature",
    "replayed": "routing-mismatch",
    "replayed-with-header": "routing-mismatch",
    "unknown-key": "unknown-key",
    "expired-key": "expired-key",
}


@dataclasses.dataclass
class Network:
    amqp_url: str
    engines: dict
    notifications: list
    specs: list
    dead: DeadLetters
    files: Path
    audit_engine: object


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    files = tmp_path_factory.mktemp("forged")
    vhost = infra.create_vhost()
    amqp_url = infra.amqp_url(vhost)
    audit_db = infra.create_database()
    audit_engine = make_engine(audit_db)
    effects.prepare_database(audit_db, audit_engine)

    def options(registry_url, token, name):
        return Options(
            registry_url=registry_url,
            registry_token=token,
            mail_dir=str(files / f"mail-{name}"),
            sms_file=str(files / f"sms-{name}.jsonl"),
            dispatch_interval=0.1,
        )

    try:
        with ExitStack() as stack:
            tg = stack.enter_context(running_registry("TG", amqp_url))
            ml = stack.enter_context(running_registry("ML", amqp_url))
            matching = stack.enter_context(running_matching(amqp_url))
            tg_url = stack.enter_context(serving(tg.app))
            tg_notes = stack.enter_context(
                running_notifications(amqp_url, "TG", options(tg_url, tg.tokens["node"], "tg"))
            )
            net_notes = stack.enter_context(
                running_notifications(amqp_url, None, options(None, None, "network"))
            )
            stack.enter_context(
                running_consumer(audit_engine, amqp_url, AUDIT, effects.record_effect)
            )
            specs = [
                topology.registry_consumer("TG"),
                topology.registry_consumer("ML"),
                topology.matching_consumer(),
                topology.notifications_consumer("TG"),
                topology.notifications_consumer(),
                AUDIT,
            ]
            yield Network(
                amqp_url=amqp_url,
                engines={
                    "TG": tg.engine,
                    "ML": ml.engine,
                    "matching": matching.runtime.engine,
                    "notifications.TG": tg_notes.engine,
                    "notifications": net_notes.engine,
                    "audit": audit_engine,
                },
                notifications=[tg_notes.engine, net_notes.engine],
                specs=specs,
                dead=DeadLetters(amqp_url, specs),
                files=files,
                audit_engine=audit_engine,
            )
    finally:
        audit_engine.dispose()
        infra.drop_database(audit_db)
        infra.delete_vhost(vhost)


def _sibling(type_: str) -> str:
    family = type_.split(".")[0]
    return next(t for t in EVENT_TYPES if t.startswith(family + ".") and t != type_)


def forge(kind: str, type_: str, files: Path):
    """(body, headers, routing key, message id) of one forged event."""
    agencies, data = EXAMPLES[type_]
    legit, other = ENTITLED[type_]
    if kind == "not-entitled":
        event = event_as(type_, source_of(other), agencies, data)
        body, headers = keyring().signed(event, other)
        return body, headers, event.routing_key, event.id
    event = event_as(type_, source_of(legit), agencies, data)
    body, headers = keyring().signed(event, legit)
    key = event.routing_key
    if kind == "wrong-signer":
        headers = keyring().headers(body, other)
    elif kind == "tampered":
        body = encode(dataclasses.replace(event, subject=event.subject + "-tampered"))
    elif kind.startswith("replayed"):
        key = ".".join((_sibling(type_), *event.agencies))
        if kind == "replayed-with-header":  # claims to be a retry of the body's own key
            headers = {**headers, ROUTING_KEY_HEADER: event.routing_key}
    elif kind == "unknown-key":
        headers = stranger_signer(files, legit).headers(body)
    elif kind == "expired-key":
        headers = Signer(keyring().expired_key(legit)).headers(body)
    return body, headers, key, event.id


def _inbox_rows(engine, event_id: str) -> int:
    with engine.connect() as conn:
        return conn.execute(
            select(func.count()).select_from(inbox).where(inbox.c.event_id == event_id)
        ).scalar_one()


def _deliveries(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(Delivery.__table__)).scalar_one()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("type_", sorted(ENTITLED))
def test_a_forged_event_is_dead_lettered_with_its_reason_and_changes_nothing(network, type_, kind):
    deliveries_before = [_deliveries(e) for e in network.notifications]
    counted = {"consumer": "audit", "reason": EXPECTED[kind]}
    refused_before = REGISTRY.get_sample_value("vir_events_refused_total", counted) or 0
    body, headers, key, event_id = forge(kind, type_, network.files)
    publish(network.amqp_url, body, key, headers, event_id)

    hearing = bound(network.specs, key)
    assert "audit" in hearing
    reasons = network.dead.reasons(event_id, hearing)
    assert all(r.startswith(EXPECTED[kind] + ": ") for r in reasons.values()), reasons
    assert REGISTRY.get_sample_value("vir_events_refused_total", counted) == refused_before + 1
    for name, engine in network.engines.items():
        assert _inbox_rows(engine, event_id) == 0, name
    assert event_id not in effects.tally(network.audit_engine).ids
    assert [_deliveries(e) for e in network.notifications] == deliveries_before
    sent = [p.name for p in network.files.rglob("*") if p.is_file()]
    assert not [n for n in sent if n.endswith(".eml") or n.startswith("sms-")], sent


def test_the_same_events_signed_by_the_entitled_principal_are_applied(network):
    """The control: what the forgeries were made from goes through."""
    ids = set()
    for type_ in sorted(ENTITLED):
        agencies, data = EXAMPLES[type_]
        legit = ENTITLED[type_][0]
        event = event_as(type_, source_of(legit), agencies, data)
        body, headers = keyring().signed(event, legit)
        publish(network.amqp_url, body, event.routing_key, headers, event.id)
        ids.add(event.id)
    wait_until(lambda: ids <= effects.tally(network.audit_engine).ids, 30, what="controls applied")
