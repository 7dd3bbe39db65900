"""End to end through RabbitMQ: registry events in, match.proposed out, both registries show the
proposals; both accept, matching confirms, both registries show the match confirmed."""

from __future__ import annotations

import pytest

from tests.support.infra import wait_until
from tests.support.nodes import running_matching, running_registry
from tests.support.registry import pilot_between, prepare_departure, settled_pilot

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

        settled_pilot(matching, tg, ml, agreement["id"])
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

        # The mission: only TG, the sending agency, ticks its checklist and records the departure;
        # ML's copy follows, and so do TG's volunteer and ledger.
        def mobility(node):
            found = node.call("GET", "/api/v1/mobilities").json
            return found[0] if found else None

        wait_until(lambda: mobility(tg) and mobility(ml), 60, what="the mobility on both nodes")
        mob = mobility(tg)["id"]
        assert mobility(ml)["id"] == mob and mobility(ml)["checklist"] == []
        on = {"on": "2027-10-02"}
        assert ml.call("POST", f"/api/v1/mobilities/{mob}/start", json=on).status_code == 403
        assert (
            ml.call("POST", f"/api/v1/mobilities/{mob}/checklist/contract", json=on).status_code
            == 403
        )
        refused = tg.call("POST", f"/api/v1/mobilities/{mob}/start", json=on)
        assert refused.status_code == 409 and "contract" in refused.json["message"]
        prepare_departure(tg, mob)
        wait_until(
            lambda: [i["done"] for i in mobility(ml)["checklist"] if i["mandatory"]] == [True] * 4,
            60,
            what="ML's copy of TG's ticks",
        )
        assert {i["code"]: i["label_fr"] for i in mobility(ml)["checklist"]}["insurance"] == (
            "Assurance santé et rapatriement"
        )
        started = tg.call("POST", f"/api/v1/mobilities/{mob}/start", json=on)
        assert started.status_code == 200
        wait_until(
            lambda: mobility(ml)["status"] == "in_mission", 60, what="ML sees the mission started"
        )
        assert (
            tg.call("GET", f"/api/v1/volunteers/{match['volunteer_id']}").json["status"]
            == "deployed"
        )
        ledger = tg.call("GET", f"/api/v1/agreements/{agreement['id']}/ledger").json
        assert next(d for d in ledger["directions"] if d["sending"] == "TG")["started"] == 1
