"""End to end through RabbitMQ: registry events in, match.proposed out, both registries show the
proposals; both accept, matching confirms, both registries show the match confirmed."""

from __future__ import annotations

import pytest

from tests.support.infra import wait_until
from tests.support.nodes import running_matching, running_registry
from tests.support.registry import pilot_between

pytestmark = pytest.mark.integration


def _matches(node, status="proposed"):
    return node.call("GET", f"/api/v1/matches?status={status}&page_size=50").json


def test_registry_events_in_match_proposals_out_and_confirmed_on_both_sides(amqp_url):
    with (
        running_registry("TG", amqp_url) as tg,
        running_registry("ML", amqp_url) as ml,
        running_matching(amqp_url) as matching,
    ):
        agreement = pilot_between(tg, ml)

        wait_until(
            lambda: len(_matches(tg)) == 6 and len(_matches(ml)) == 6,
            60,
            what="6 proposals on both registries",
        )
        plan = matching.call("GET", f"/api/v1/agreements/{agreement['id']}/plan").json
        assert {(d["sending"], d["proposed"]) for d in plan["directions"]} == {("TG", 4), ("ML", 2)}
        assert {m["id"] for m in _matches(tg)} == {m["id"] for m in _matches(ml)}

        match = next(m for m in _matches(tg) if m["sending_agency"] == "TG")
        assert tg.call("POST", f"/api/v1/matches/{match['id']}/accept").status_code == 200
        assert ml.call("POST", f"/api/v1/matches/{match['id']}/accept").status_code == 200
        wait_until(
            lambda: (
                [m["id"] for m in _matches(tg, "confirmed")] == [match["id"]]
                and [m["id"] for m in _matches(ml, "confirmed")] == [match["id"]]
            ),
            60,
            what="the match confirmed on both registries",
        )
        volunteer = tg.call("GET", f"/api/v1/volunteers/{match['volunteer_id']}").json
        assert volunteer["status"] == "matched"
        ledger = tg.call("GET", f"/api/v1/agreements/{agreement['id']}/ledger").json
        assert next(d for d in ledger["directions"] if d["sending"] == "TG")["confirmed"] == 1
        dossier = tg.call(
            "GET", f"/api/v1/volunteers/{match['volunteer_id']}/dossier", who="node@ML"
        )
        assert dossier.status_code == 200

        # The mission: ML records the arrival, TG's copy and the volunteer follow.
        def mobility(node):
            found = node.call("GET", "/api/v1/mobilities").json
            return found[0] if found else None

        wait_until(lambda: mobility(tg) and mobility(ml), 60, what="the mobility on both nodes")
        assert mobility(tg)["id"] == mobility(ml)["id"]
        started = ml.call(
            "POST", f"/api/v1/mobilities/{mobility(ml)['id']}/start", json={"on": "2027-10-02"}
        )
        assert started.status_code == 200
        wait_until(
            lambda: mobility(tg)["status"] == "in_mission", 60, what="TG sees the mission started"
        )
        assert (
            tg.call("GET", f"/api/v1/volunteers/{match['volunteer_id']}").json["status"]
            == "deployed"
        )
        ledger = tg.call("GET", f"/api/v1/agreements/{agreement['id']}/ledger").json
        assert next(d for d in ledger["directions"] if d["sending"] == "TG")["started"] == 1
