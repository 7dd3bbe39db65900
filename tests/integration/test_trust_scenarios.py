"""The hostile-peer scenarios of the trust issue, on a real broker with the pilot loaded: ML,
holding its own valid key and full broker permissions, tries to speak for TG or NE."""

from __future__ import annotations

import dataclasses
from contextlib import ExitStack
from datetime import date

import pytest
from sqlalchemy import func, select

from services.matching.adapters.orm import AgreementView
from services.notifications.adapters.orm import Delivery
from services.notifications.config import Options
from services.registry.domain import agreements as rules
from shared.db import inbox, outbox
from shared.events.examples import EXAMPLES
from shared.messaging import topology
from tests.support import infra
from tests.support.forgery import DeadLetters, bound, event_as, publish_signed
from tests.support.infra import wait_until
from tests.support.nodes import running_matching, running_notifications, running_registry, serving
from tests.support.registry import PILOT_TERMS, pilot_between

pytestmark = pytest.mark.integration
HEARING = [
    topology.registry_consumer("TG"),
    topology.registry_consumer("ML"),
    topology.matching_consumer(),
    topology.notifications_consumer("TG"),
]


@dataclasses.dataclass
class Pilot:
    amqp_url: str
    tg: object
    ml: object
    matching: object
    tg_notifications: object
    agreement: dict
    dead: DeadLetters

    def refused(self, event_id: str, routing_key: str, code: str, only=None) -> None:
        names = only or bound(HEARING, routing_key)
        reasons = self.dead.reasons(event_id, names)
        assert all(r.startswith(code + ": ") for r in reasons.values()), reasons

    def proposals(self) -> list[dict]:
        return self.tg.call("GET", "/api/v1/matches?page_size=50").json


@pytest.fixture(scope="module")
def pilot(tmp_path_factory):
    files = tmp_path_factory.mktemp("pilot")
    vhost = infra.create_vhost()
    amqp_url = infra.amqp_url(vhost)
    try:
        with ExitStack() as stack:
            tg = stack.enter_context(running_registry("TG", amqp_url))
            ml = stack.enter_context(running_registry("ML", amqp_url))
            matching = stack.enter_context(running_matching(amqp_url))
            tg_url = stack.enter_context(serving(tg.app))
            notes = stack.enter_context(
                running_notifications(
                    amqp_url,
                    "TG",
                    Options(
                        registry_url=tg_url,
                        registry_token=tg.tokens["node"],
                        mail_dir=str(files / "mail"),
                        sms_file=str(files / "sms.jsonl"),
                        dispatch_interval=0.1,
                    ),
                )
            )
            agreement = pilot_between(tg, ml)
            net = Pilot(
                amqp_url, tg, ml, matching, notes, agreement, DeadLetters(amqp_url, HEARING)
            )
            wait_until(lambda: len(net.proposals()) == 6, 60, what="6 proposals on TG")
            yield net
    finally:
        infra.delete_vhost(vhost)


def _count(engine, table, *where) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def test_ml_cannot_accept_a_match_in_tgs_name(pilot):
    """Scenario 1: a match.accepted with agency TG, sent by ML, confirmed a match TG never
    accepted, sent the volunteer an SMS and opened the dossier to ML."""
    match = next(m for m in pilot.proposals() if m["sending_agency"] == "TG")
    path = f"/api/v1/matches/{match['id']}"
    assert pilot.ml.call("POST", f"{path}/accept").status_code == 200
    wait_until(
        lambda: (
            _count(
                pilot.matching.runtime.engine,
                inbox,
                inbox.c.event_type == "match.accepted",
                inbox.c.source == "/agencies/ML/registry",
            )
            == 1
        ),
        30,
        what="ML's own acceptance applied by matching",
    )
    data = {k: match[k] for k in ("agreement_id", "volunteer_id", "placement_id")}
    data |= {"match_id": match["id"], "agency": "TG"}
    for source in ("/agencies/ML/registry", "/agencies/TG/registry"):
        forged = event_as("match.accepted", source, ["TG", "ML"], data)
        publish_signed(pilot.amqp_url, forged, "ML")
        pilot.refused(forged.id, forged.routing_key, "not-entitled")

    assert pilot.tg.call("GET", path).json["status"] == "proposed"
    assert pilot.ml.call("GET", path).json["status"] == "proposed"
    assert (
        _count(
            pilot.matching.runtime.engine,
            outbox,
            outbox.c.event_type == "match.confirmed",
            outbox.c.aggregate_id == match["id"],
        )
        == 0
    )
    assert _count(pilot.tg_notifications.engine, Delivery.__table__) == _count(
        pilot.tg_notifications.engine,
        Delivery.__table__,
        Delivery.event_type != "match.confirmed",
    )
    dossier = f"/api/v1/volunteers/{match['volunteer_id']}/dossier"
    assert pilot.tg.call("GET", dossier, who="node@ML").status_code in (403, 404)

    # TG's own acceptance is what confirms it.
    assert pilot.tg.call("POST", f"{path}/accept").status_code == 200
    wait_until(
        lambda: pilot.ml.call("GET", path).json["status"] == "confirmed",
        60,
        what="the match confirmed once TG accepted",
    )
    assert pilot.tg.call("GET", dossier, who="node@ML").status_code == 200


def test_proposed_and_confirmed_bodies_under_an_accepted_routing_key_are_refused(pilot):
    """Scenario 2: match.proposed + match.confirmed bodies published under the routing key
    match.accepted.TG.ML confirmed a match for a TG volunteer who was in no proposal."""
    proposed = {m["volunteer_id"] for m in pilot.proposals()}
    volunteers = pilot.tg.call("GET", "/api/v1/volunteers?page_size=50").json
    free = next(v for v in volunteers if v["id"] not in proposed and v["status"] == "available")
    some = next(m for m in pilot.proposals() if m["host_agency"] == "ML")
    base = {
        "match_id": "m-forged-0001",
        "agreement_id": pilot.agreement["id"],
        "volunteer_id": free["id"],
        "placement_id": some["placement_id"],
        "sending_agency": "TG",
        "host_agency": "ML",
    }
    bodies = [
        event_as("match.proposed", "/network/matching", ["TG", "ML"], {**base, "score": 0.9}),
        event_as("match.confirmed", "/network/matching", ["TG", "ML"], base),
    ]
    for forged in bodies:
        publish_signed(pilot.amqp_url, forged, "ML", routing_key="match.accepted.TG.ML")
        pilot.refused(forged.id, "match.accepted.TG.ML", "routing-mismatch")

    assert pilot.tg.call("GET", "/api/v1/matches/m-forged-0001").status_code == 404
    assert pilot.ml.call("GET", "/api/v1/matches/m-forged-0001").status_code == 404
    assert pilot.tg.call("GET", f"/api/v1/volunteers/{free['id']}").json["status"] == "available"
    for engine in (pilot.tg.engine, pilot.ml.engine, pilot.matching.runtime.engine):
        assert _count(engine, inbox, inbox.c.event_id.in_([b.id for b in bodies])) == 0


def test_ml_cannot_make_an_agreement_active_on_tgs_node(pilot):
    """Scenario 3: an agreement.proposed with viragencies TG.ML sent by ML, then approvals,
    became an active agreement on TG's node with quota 50 and tolerance 100."""
    terms = rules.Terms(
        agreement_id="agr-forged-0001",
        parties=("TG", "ML"),
        start=date(2027, 9, 1),
        end=date(2028, 12, 31),
        quotas=(rules.Quota("TG", "ML", 50), rules.Quota("ML", "TG", 50)),
        balance_tolerance=100,
        fields_of_cooperation=("health",),
    )
    data = {
        "agreement_id": terms.agreement_id,
        "parties": ["TG", "ML"],
        "start": "2027-09-01",
        "end": "2028-12-31",
        "quotas": [q.__dict__ for q in terms.quotas],
        "balance_tolerance": 100,
        "fields_of_cooperation": ["health"],
        "terms_hash": terms.hash(),
        "revision": 1,
    }
    source = "/agencies/ML/registry"
    proposal = event_as("agreement.proposed", source, ["TG", "ML"], data)
    approval = {"agreement_id": terms.agreement_id, "terms_hash": terms.hash(), "revision": 1}
    as_tg = event_as("agreement.approved", source, ["TG", "ML"], {**approval, "agency": "TG"})
    as_ml = event_as("agreement.approved", source, ["TG", "ML"], {**approval, "agency": "ML"})
    activated = event_as("agreement.activated", source, ["TG", "ML"], data)
    for event in (proposal, as_tg, as_ml, activated):
        publish_signed(pilot.amqp_url, event, "ML")
    pilot.refused(proposal.id, proposal.routing_key, "not-entitled")
    pilot.refused(as_tg.id, as_tg.routing_key, "not-entitled")

    assert pilot.tg.call("GET", f"/api/v1/agreements/{terms.agreement_id}").status_code == 404
    for agreement in pilot.tg.call("GET", "/api/v1/agreements?page_size=50").json:
        assert all(q["volunteers"] != 50 for q in agreement["quotas"])
    with pilot.matching.runtime.sessions() as session:
        view = session.get(AgreementView, terms.agreement_id)
        assert view is None or view.status != "active"


def test_ml_cannot_terminate_a_tg_ne_agreement_as_ne(pilot):
    """Scenario 4: ML, not a party, terminated a TG–NE agreement on TG's node "as NE"."""
    terms = {
        **PILOT_TERMS,
        "quotas": [
            {"sending": "TG", "host": "NE", "volunteers": 1},
            {"sending": "NE", "host": "TG", "volunteers": 1},
        ],
    }
    agreement = pilot.tg.call("POST", "/api/v1/agreements", json={"partners": ["NE"], **terms})
    assert agreement.status_code == 201, agreement.json
    agreement = agreement.json
    path = f"/api/v1/agreements/{agreement['id']}"
    # NE approves from its own node: a signed, entitled event that TG applies.
    approval = {
        "agreement_id": agreement["id"],
        "agency": "NE",
        "terms_hash": agreement["terms_hash"],
        "revision": 1,
    }
    ne_approval = event_as("agreement.approved", "/agencies/NE/registry", ["TG", "NE"], approval)
    publish_signed(pilot.amqp_url, ne_approval, "NE")
    wait_until(
        lambda: pilot.tg.call("GET", path).json["status"] == "active", 30, what="TG–NE active"
    )

    _, example = EXAMPLES["agreement.terminated"]
    ending = {**example, "agreement_id": agreement["id"]}
    as_ne = event_as(
        "agreement.terminated", "/agencies/ML/registry", ["TG", "NE"], ending | {"agency": "NE"}
    )
    as_ne_source = event_as(
        "agreement.terminated", "/agencies/NE/registry", ["TG", "NE"], ending | {"agency": "NE"}
    )
    ml_claims_party = event_as(
        "agreement.terminated",
        "/agencies/ML/registry",
        ["TG", "NE", "ML"],
        ending | {"agency": "ML"},
    )
    for event in (as_ne, as_ne_source, ml_claims_party):
        publish_signed(pilot.amqp_url, event, "ML")
    pilot.refused(as_ne.id, as_ne.routing_key, "not-entitled")
    pilot.refused(as_ne_source.id, as_ne_source.routing_key, "not-entitled")
    # Listed as a party in the event, ML passes the table; TG's node knows the real parties.
    pilot.refused(
        ml_claims_party.id, ml_claims_party.routing_key, "refused by handler", only=["registry.TG"]
    )

    answer = pilot.tg.call("GET", path).json
    assert answer["status"] == "active"
