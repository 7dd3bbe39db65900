"""Two registries and matching over RabbitMQ: one mission walked from the confirmed match through
the checklist, the departure, check-ins, an incident, completion, reviews and the certificate;
another interrupted. Each step is made by the agency entitled to it (the other gets 403) and
reaches the other node's copy and the ledger."""

from __future__ import annotations

import pytest

from tests.support.infra import wait_until
from tests.support.nodes import running_matching, running_registry
from tests.support.registry import pilot_between, prepare_departure, settled_pilot

pytestmark = pytest.mark.integration


def _matches(node, status="proposed"):
    return node.call("GET", f"/api/v1/matches?status={status}&page_size=50").json


def _mobility(node, mob):
    r = node.call("GET", f"/api/v1/mobilities/{mob}")
    return r.json if r.status_code == 200 else None


def _confirm(tg, ml, match_id):
    assert tg.call("POST", f"/api/v1/matches/{match_id}/accept").status_code == 200
    assert ml.call("POST", f"/api/v1/matches/{match_id}/accept").status_code == 200
    mob = f"mob-{match_id.removeprefix('m-')}"
    wait_until(lambda: _mobility(tg, mob) and _mobility(ml, mob), 60, what=f"{mob} on both")
    return mob


def test_a_mission_walks_through_every_step_on_both_nodes(amqp_url):
    with (
        running_registry("TG", amqp_url) as tg,
        running_registry("ML", amqp_url) as ml,
        running_matching(amqp_url) as matching,
    ):
        agreement = pilot_between(tg, ml)
        settled_pilot(matching, tg, ml, agreement["id"])
        first, second = [m["id"] for m in _matches(tg) if m["sending_agency"] == "TG"][:2]
        mob, other = _confirm(tg, ml, first), _confirm(tg, ml, second)
        path = f"/api/v1/mobilities/{mob}"
        on = {"on": "2027-10-02", "planned_end": "2028-07-31"}

        # Pre-departure: TG's checklist and departure; ML may do neither.
        tick = {"on": "2027-09-15"}
        assert ml.call("POST", f"{path}/checklist/contract", json=tick).status_code == 403
        assert ml.call("POST", f"{path}/start", json=on).status_code == 403
        prepare_departure(tg, mob)
        assert tg.call("POST", f"{path}/start", json=on).status_code == 200
        wait_until(lambda: _mobility(ml, mob)["status"] == "in_mission", 60, what="ML: started")
        assert _mobility(ml, mob)["planned_end"] == "2028-07-31"

        # Check-ins: ML answers as host (TG may not), TG's volunteer through the signed link.
        answer = {"check_in": "first", "on": "2027-10-16", "wellbeing": 4, "integration": 3}
        answer |= {"workload": 4, "issues": False, "note": "Accueil chaleureux au CSCom."}
        assert tg.call("POST", f"{path}/check-ins", json=answer).status_code == 403
        assert ml.call("POST", f"{path}/check-ins", json=answer).status_code == 200
        link = tg.call("GET", f"{path}/check-ins/first/link").json["url"]
        assert ml.call("GET", f"{path}/check-ins/first/link").status_code == 403
        form = {"wellbeing": "5", "integration": "4", "workload": "3", "issues": "no"}
        assert tg.client().post(link[link.index("/check-in/") :], data=form).status_code == 200

        def answered(node):
            c = node.call("GET", f"{path}/check-ins").json["check_ins"][0]["answers"]
            return c["host_agency"] is not None and c["volunteer"] is not None

        wait_until(lambda: answered(tg) and answered(ml), 60, what="both answers on both nodes")
        ml_copy = ml.call("GET", f"{path}/check-ins").json["check_ins"][0]["answers"]
        assert ml_copy["volunteer"]["note"] is None  # the volunteer's words stayed in Togo
        tg_copy = tg.call("GET", f"{path}/check-ins").json["check_ins"][0]["answers"]
        assert tg_copy["host_agency"]["note"] is None  # ML's note stayed in Mali

        # An incident: ML reports and owns it; TG sees the codes and may not move it on.
        incident = {"on": "2027-12-04", "severity": "high", "category": "health"}
        reported = ml.call(
            "POST", f"{path}/incidents", json=incident | {"description": "Paludisme"}
        ).json
        wait_until(
            lambda: tg.call("GET", f"/api/v1/incidents/{reported['id']}").status_code == 200,
            60,
            what="TG's copy of the incident",
        )
        step = {"on": "2027-12-20", "status": "resolved"}
        assert tg.call("POST", f"/api/v1/incidents/{reported['id']}", json=step).status_code == 403
        assert ml.call("POST", f"/api/v1/incidents/{reported['id']}", json=step).status_code == 200
        wait_until(
            lambda: (
                tg.call("GET", f"/api/v1/incidents/{reported['id']}").json["status"] == "resolved"
            ),
            60,
            what="TG sees it resolved",
        )
        assert tg.call("GET", f"/api/v1/incidents/{reported['id']}").json["description"] is None

        # Reports and completion; the reviews; the certificate from TG only.
        for kind, day in (
            ("start", "2027-10-10"),
            ("mid_term", "2028-02-15"),
            ("end", "2028-07-25"),
        ):
            assert (
                ml.call("POST", f"{path}/reports", json={"kind": kind, "on": day}).status_code
                == 200
            )
        wait_until(lambda: len(_mobility(tg, mob)["reports"]) == 3, 60, what="TG: 3 reports")
        assert tg.call("POST", f"{path}/complete", json={"on": "2028-07-31"}).status_code == 200
        wait_until(lambda: _mobility(ml, mob)["status"] == "completed", 60, what="ML: completed")
        scores = {"on": "2028-08-05", "overall": 5, "objectives": 4, "support": 4}
        assert (
            ml.call(
                "POST", f"{path}/reviews", json=scores | {"respondent": "volunteer"}
            ).status_code
            == 403
        )
        assert (
            ml.call(
                "POST", f"{path}/reviews", json=scores | {"respondent": "host_organisation"}
            ).status_code
            == 200
        )
        assert (
            tg.call(
                "POST", f"{path}/reviews", json=scores | {"respondent": "volunteer"}
            ).status_code
            == 200
        )
        wait_until(
            lambda: (
                len(_mobility(tg, mob)["reviews"]) == 2 and len(_mobility(ml, mob)["reviews"]) == 2
            ),
            60,
            what="both reviews on both nodes",
        )
        assert ml.call("GET", f"{path}/certificate").status_code == 403
        certificate = tg.call("GET", f"{path}/certificate")
        assert certificate.status_code == 200 and certificate.data.startswith(b"%PDF")

        # The other mission is interrupted before its end.
        other_path = f"/api/v1/mobilities/{other}"
        prepare_departure(tg, other)
        assert tg.call("POST", f"{other_path}/start", json=on).status_code == 200
        stop = {"on": "2027-12-01", "reason": "health", "note": "Rapatriement sanitaire"}
        wait_until(lambda: _mobility(ml, other)["status"] == "in_mission", 60, what="ML: other")
        assert ml.call("POST", f"{other_path}/interrupt", json=stop).status_code == 200
        wait_until(lambda: _mobility(tg, other)["status"] == "interrupted", 60, what="TG: stop")
        assert _mobility(tg, other)["interruption_reason"] == "health"

        for node in (tg, ml):
            ledger = node.call("GET", f"/api/v1/agreements/{agreement['id']}/ledger").json
            tg_ml = next(d for d in ledger["directions"] if d["sending"] == "TG")
            assert (tg_ml["confirmed"], tg_ml["started"], tg_ml["completed"]) == (2, 2, 1)
