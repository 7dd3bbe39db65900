"""Two registry nodes (TG and ML: two databases, one broker) keep their agreement copies equal."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from services.registry.bootstrap import event_consumers
from tests.support import infra
from tests.support.infra import wait_until
from tests.support.registry import PILOT_TERMS, RegistryNode, start_registry

pytestmark = pytest.mark.integration


@contextmanager
def running_node(agency: str, amqp_url: str) -> Iterator[RegistryNode]:
    database = infra.create_database()
    node = start_registry(agency, database, amqp_url)
    runtime = node.runtime
    runtime.start_thread(f"{agency}-relay", runtime.relay().run, runtime.stop)
    for consumer in event_consumers(runtime):
        runtime.consumers.append(consumer)
        runtime.start_thread(f"{agency}-consumer", consumer.run)
        wait_until(consumer.ready.is_set, 30, what=f"{agency} consumer ready")
    try:
        yield node
    finally:
        runtime.shutdown()
        infra.drop_database(database)


@pytest.fixture
def network(amqp_url):
    with running_node("TG", amqp_url) as tg, running_node("ML", amqp_url) as ml:
        yield tg, ml


def _agreement(node: RegistryNode, agreement_id: str) -> dict | None:
    r = node.call("GET", f"/api/v1/agreements/{agreement_id}")
    return r.json if r.status_code == 200 else None


def test_agreement_is_active_on_both_nodes_only_when_both_approved_the_same_hash(network):
    tg, ml = network
    proposed = tg.call("POST", "/api/v1/agreements", json={"partners": ["ML"], **PILOT_TERMS})
    assert proposed.status_code == 201, proposed.json
    agreement_id, first_hash = proposed.json["id"], proposed.json["terms_hash"]
    assert proposed.json["status"] == "proposed"

    wait_until(
        lambda: _agreement(ml, agreement_id) is not None, 30, what="ML receives the proposal"
    )
    copy = _agreement(ml, agreement_id)
    assert copy["terms_hash"] == first_hash and copy["status"] == "proposed"
    assert copy["quotas"] == proposed.json["quotas"] and copy["approvals"] == {"TG": first_hash}

    approved = ml.call(
        "POST", f"/api/v1/agreements/{agreement_id}/approve", json={"terms_hash": first_hash}
    )
    assert approved.status_code == 200 and approved.json["status"] == "active"
    wait_until(
        lambda: _agreement(tg, agreement_id)["status"] == "active", 30, what="TG sees it active"
    )
    assert _agreement(tg, agreement_id)["approvals"] == {"TG": first_hash, "ML": first_hash}

    amended_terms = {**PILOT_TERMS, "balance_tolerance": 1}
    amended = tg.call("POST", f"/api/v1/agreements/{agreement_id}/amend", json=amended_terms)
    assert amended.status_code == 200, amended.json
    second_hash = amended.json["terms_hash"]
    assert second_hash != first_hash and amended.json["revision"] == 2
    assert amended.json["status"] == "amended" and amended.json["approvals"] == {"TG": second_hash}
    wait_until(
        lambda: _agreement(ml, agreement_id)["revision"] == 2, 30, what="ML receives the amendment"
    )
    copy = _agreement(ml, agreement_id)
    assert copy["status"] == "amended" and copy["approvals"] == {"TG": second_hash}
    assert copy["balance_tolerance"] == 1

    stale = ml.call(
        "POST", f"/api/v1/agreements/{agreement_id}/approve", json={"terms_hash": first_hash}
    )
    assert stale.status_code == 409
    assert "terms_hash" in stale.json["errors"]["json"]
    assert _agreement(ml, agreement_id)["status"] == "amended"

    again = ml.call(
        "POST", f"/api/v1/agreements/{agreement_id}/approve", json={"terms_hash": second_hash}
    )
    assert again.status_code == 200 and again.json["status"] == "active"
    wait_until(
        lambda: _agreement(tg, agreement_id)["status"] == "active", 30, what="TG active again"
    )


def test_termination_is_recorded_on_both_nodes(network):
    tg, ml = network
    agreement = tg.call("POST", "/api/v1/agreements", json={"partners": ["ML"], **PILOT_TERMS}).json
    wait_until(lambda: _agreement(ml, agreement["id"]) is not None, 30, what="ML copy")
    r = ml.call(
        "POST",
        f"/api/v1/agreements/{agreement['id']}/terminate",
        json={"reason": "end_of_programme", "effective": "2018-12-31", "note": "fin du pilote"},
    )
    assert r.status_code == 200 and r.json["status"] == "terminated"
    assert r.json["termination_note"] == "fin du pilote"  # ML's own note, on ML's node
    wait_until(
        lambda: _agreement(tg, agreement["id"])["status"] == "terminated", 30, what="TG terminated"
    )
    copy = _agreement(tg, agreement["id"])
    assert copy["terminated_by"] == "ML" and copy["termination_reason"] == "end_of_programme"
    assert copy["termination_note"] is None  # the note stayed on ML's node
    late = tg.call(
        "POST",
        f"/api/v1/agreements/{agreement['id']}/approve",
        json={"terms_hash": agreement["terms_hash"]},
    )
    assert late.status_code == 409


def test_ml_cannot_see_an_agreement_between_tg_and_another_agency(network):
    tg, ml = network
    other = tg.call(
        "POST",
        "/api/v1/agreements",
        json={
            "partners": ["NE"],
            **{**PILOT_TERMS, "quotas": [{"sending": "TG", "host": "NE", "volunteers": 1}]},
        },
    )
    assert other.status_code == 201
    marker = tg.call("POST", "/api/v1/agreements", json={"partners": ["ML"], **PILOT_TERMS}).json[
        "id"
    ]
    wait_until(lambda: _agreement(ml, marker) is not None, 30, what="ML receives its own agreement")
    assert _agreement(ml, other.json["id"]) is None
