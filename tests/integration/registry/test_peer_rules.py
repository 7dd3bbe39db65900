"""A peer's event reaches this node's state only through the domain rules: one the rules refuse
is dead-lettered with the reason and changes nothing. On the real broker, published by a client
holding full permissions on the vhost (the broker's permissions are not what refuses them)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kombu import Connection, Exchange, Producer

from services.registry.bootstrap import event_consumers
from shared.events import new_event
from shared.messaging.consumer import REASON_HEADER
from tests.support import infra
from tests.support.infra import get_messages, queue_depth, wait_until
from tests.support.keys import keyring
from tests.support.registry import PILOT_TERMS, RegistryNode, start_registry, volunteer_payload

pytestmark = pytest.mark.integration
MATCHING = "/network/matching"
ML = "/agencies/ML/registry"


@pytest.fixture
def tg(amqp_url) -> Iterator[tuple[RegistryNode, Any]]:
    database = infra.create_database()
    node = start_registry("TG", database, amqp_url)
    runtime = node.runtime
    [consumer] = event_consumers(runtime)
    runtime.consumers.append(consumer)
    runtime.start_thread("TG-consumer", consumer.run)
    wait_until(consumer.ready.is_set, 30, what="TG consumer ready")
    try:
        yield node, consumer.spec
    finally:
        runtime.shutdown()
        infra.drop_database(database)


def _publish(amqp_url: str, type_: str, data: dict, source: str, agencies=("TG", "ML")) -> None:
    """Signed by the principal `source` names, so the event passes the signature and entitlement
    checks and reaches the domain rules this test is about."""
    event = new_event(type_, source=source, subject="forged", agencies=agencies, data=data)
    body, headers = keyring().signed(event)
    with Connection(amqp_url) as conn:
        Producer(conn.default_channel).publish(
            body,
            headers=headers,
            exchange=Exchange("vir.events", type="topic"),
            routing_key=event.routing_key,
            message_id=event.id,
            content_type="application/cloudevents+json",
            content_encoding="binary",
        )


def _dead(vhost: str, spec, expected: int) -> list[str]:
    queue = spec.dead_letter_queue
    wait_until(lambda: queue_depth(vhost, queue) >= expected, 30, what=f"{expected} dead letters")
    return [m["properties"]["headers"][REASON_HEADER] for m in get_messages(vhost, queue)]


def _match(agreement_id: str, volunteer_id: str, match_id: str) -> dict:
    return {
        "match_id": match_id,
        "agreement_id": agreement_id,
        "volunteer_id": volunteer_id,
        "placement_id": "pl-ml-1",
        "sending_agency": "TG",
        "host_agency": "ML",
    }


def _get(node: RegistryNode, path: str) -> Any:
    r = node.call("GET", path)
    return r.json if r.status_code == 200 else None


def test_match_and_mobility_events_the_rules_refuse_are_dead_lettered_and_change_nothing(
    tg, amqp_url, vhost
):
    node, spec = tg
    volunteer = node.call("POST", "/api/v1/volunteers", json=volunteer_payload(1)).json
    agreement = node.call(
        "POST", "/api/v1/agreements", json={"partners": ["ML"], **PILOT_TERMS}
    ).json
    ghost = _match(agreement["id"], volunteer["id"], "m-ghost")
    unaccepted = _match(agreement["id"], volunteer["id"], "m-unaccepted")

    # A confirmation of a match this node never saw proposed.
    _publish(amqp_url, "match.confirmed", ghost, MATCHING)
    # A proposal, then its confirmation although TG never accepted it.
    _publish(amqp_url, "match.proposed", {**unaccepted, "score": 0.9}, MATCHING)
    wait_until(lambda: _get(node, "/api/v1/matches/m-unaccepted") is not None, 30, what="proposal")
    _publish(amqp_url, "match.confirmed", unaccepted, MATCHING)
    reasons = _dead(vhost, spec, 2)

    assert any("m-ghost was never proposed" in r for r in reasons), reasons
    assert any("TG has not accepted this proposal" in r for r in reasons), reasons
    assert _get(node, "/api/v1/matches/m-ghost") is None
    assert _get(node, "/api/v1/matches/m-unaccepted")["status"] == "proposed"
    assert _get(node, "/api/v1/mobilities") == []
    assert _get(node, f"/api/v1/volunteers/{volunteer['id']}")["status"] == "proposed"

    # Once TG accepted, the same confirmation goes through; a mission step out of order does not.
    assert node.call("POST", "/api/v1/matches/m-unaccepted/accept").status_code == 200
    _publish(amqp_url, "match.confirmed", unaccepted, MATCHING)
    wait_until(lambda: _get(node, "/api/v1/mobilities") != [], 30, what="mobility opened")
    [mobility] = _get(node, "/api/v1/mobilities")
    step = {k: mobility[k] for k in ("match_id", "agreement_id", "sending_agency", "host_agency")}
    step["mobility_id"] = mobility["id"]
    _publish(amqp_url, "mobility.completed", {**step, "on": "2028-07-31"}, ML)
    # NE, signing as itself, names itself host of TG and ML's mobility: the signature and the
    # entitlement table let it through (NE is the host the event names); the rules do not.
    # (Not mobility.started: only the sending agency may publish it, so the table refuses it.)
    _publish(
        amqp_url,
        "mobility.completed",
        {**step, "host_agency": "NE", "on": "2027-10-02"},
        "/agencies/NE/registry",
        agencies=("TG", "NE"),
    )
    reasons = _dead(vhost, spec, 2)
    assert any("cannot be completed" in r for r in reasons), reasons
    assert any(
        "refused by the rules" in r and ("host_agency differs" in r or "NE is not a party" in r)
        for r in reasons
    ), reasons
    after = _get(node, f"/api/v1/mobilities/{mobility['id']}")
    assert after["status"] == "pre_departure" and after["ended_on"] is None
    assert _get(node, f"/api/v1/volunteers/{volunteer['id']}")["status"] == "matched"


def test_agreement_events_in_another_partys_name_are_dead_lettered_and_change_nothing(
    tg, amqp_url, vhost
):
    node, spec = tg
    # ML proposes terms TG never approved: TG's copy holds ML's approval only.
    terms = {
        "agreement_id": "agr-ml-tg",
        "parties": ["ML", "TG"],  # the proposer first, as the entitlement table requires
        "start": "2027-09-01",
        "end": "2028-12-31",
        "quotas": [
            {"sending": "TG", "host": "ML", "volunteers": 50},
            {"sending": "ML", "host": "TG", "volunteers": 50},
        ],
        "balance_tolerance": 100,
        "fields_of_cooperation": [],
        "revision": 1,
    }
    from services.registry.domain.agreements import terms_from_data
    from shared.events.typed import load

    unsigned = load("agreement.proposed", 1, {**terms, "terms_hash": "0" * 64})
    terms["terms_hash"] = terms_from_data(unsigned).hash()
    _publish(amqp_url, "agreement.proposed", terms, ML, agencies=("ML", "TG"))
    wait_until(lambda: _get(node, "/api/v1/agreements/agr-ml-tg") is not None, 30, what="copy")
    copy = _get(node, "/api/v1/agreements/agr-ml-tg")
    assert copy["approvals"] == {"ML": terms["terms_hash"]} and copy["status"] == "proposed"

    approval = {"agreement_id": "agr-ml-tg", "terms_hash": terms["terms_hash"], "revision": 1}
    # ML approves in TG's name; ML approves another hash; NE, no party, terminates "as NE".
    _publish(amqp_url, "agreement.approved", {**approval, "agency": "TG"}, ML)
    _publish(
        amqp_url, "agreement.approved", {**approval, "agency": "ML", "terms_hash": "0" * 64}, ML
    )
    _publish(
        amqp_url,
        "agreement.terminated",
        {
            "agreement_id": "agr-ml-tg",
            "agency": "NE",
            "reason": "breach",
            "effective": "2028-01-01",
        },
        "/agencies/NE/registry",
        agencies=("TG", "ML", "NE"),
    )
    reasons = _dead(vhost, spec, 3)
    # Refused by the entitlement table before it reaches the rules (which refuse it as well).
    assert any(r.startswith("not-entitled: ") and "own name" in r for r in reasons), reasons
    assert any("no longer current" in r or "other terms" in r for r in reasons), reasons
    assert any("NE is not a party" in r for r in reasons), reasons
    copy = _get(node, "/api/v1/agreements/agr-ml-tg")
    assert copy["status"] == "proposed" and copy["approvals"] == {"ML": terms["terms_hash"]}
    assert copy["terminated_by"] is None
    assert node.outbox_count("agreement.activated") == 0
