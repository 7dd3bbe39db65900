"""A registry node on a real PostgreSQL database, with a token per role, for API tests."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select

from services.registry.access import create_token
from services.registry.adapters.orm import Volunteer
from services.registry.api import create_app
from services.registry.bootstrap import bootstrap
from services.registry.config import dashboard_options, load_settings
from shared.auth import Role
from shared.db import outbox
from shared.migrations import upgrade
from shared.runtime import Runtime
from tests.support.keys import keyring


@dataclass
class RegistryNode:
    agency: str
    app: Flask
    runtime: Runtime
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def engine(self) -> Engine:
        return self.runtime.engine

    def client(self) -> FlaskClient:
        return self.app.test_client()

    def headers(self, who: str = "staff") -> dict[str, str]:
        """`who` is a role of this agency ("staff"), or "<role>@<agency>" for a foreign token."""
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def call(self, method: str, path: str, who: str | None = "staff", **kwargs: Any) -> Any:
        headers = self.headers(who) if who else {}
        return self.client().open(path, method=method, headers=headers, **kwargs)

    def outbox_count(self, event_type: str | None = None) -> int:
        statement = select(func.count()).select_from(outbox)
        if event_type:
            statement = statement.where(outbox.c.event_type == event_type)
        with self.engine.connect() as conn:
            return conn.execute(statement).scalar_one()

    def volunteer_count(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(Volunteer)).scalar_one()


def start_registry(
    agency: str,
    database_url: str,
    amqp_url: str = "memory://",
    env: Mapping[str, str] | None = None,
) -> RegistryNode:
    """`env` overrides settings (e.g. TRUST_LIST_FILE for a network with its own trust list)."""
    upgrade("registry", database_url)
    settings = load_settings(
        {
            "AGENCY_CODE": agency,
            "DATABASE_URL": database_url,
            "AMQP_URL": amqp_url,
            **keyring().env(agency),
            **(env or {}),
        }
    )
    runtime = bootstrap(settings)
    # Connected to a real broker, a node needs a dashboard secret of its own.
    dashboard = dashboard_options({**os.environ, "DASHBOARD_SECRET_KEY": secrets.token_urlsafe(32)})
    node = RegistryNode(
        agency=agency, app=create_app(runtime=runtime, dashboard=dashboard), runtime=runtime
    )
    other = "ML" if agency != "ML" else "TG"
    with runtime.sessions.begin() as session:
        for role in Role:
            node.tokens[role.value] = create_token(
                session, agency, role, f"{role.value} of {agency}"
            )[1]
            node.tokens[f"{role.value}@{other}"] = create_token(
                session, other, role, f"{role.value} of {other}"
            )[1]
    return node


def volunteer_payload(n: int = 1, **overrides: Any) -> dict[str, Any]:
    payload = {
        "first_name": "Ama",
        "last_name": f"Mensah{n}",
        "date_of_birth": "1995-04-02",
        "gender": "female",
        "nationality": "TG",
        "identity_number": f"TG-{n:06d}",
        "email": f"ama{n}@example.org",
        "phone": "+228 90 00 00 00",
        "consent": {"given_at": "2017-06-01T10:00:00Z", "purposes": ["registration", "matching"]},
        "languages": [{"code": "fr", "level": "native"}, {"code": "ee", "level": "native"}],
        "skills": ["public health"],
        "domains": ["health"],
        "education_level": "master",
        "available_from": "2017-09-01",
        "available_until": "2018-08-31",
        "preferred_countries": ["ML"],
    }
    payload.update(overrides)
    return payload


# The pilot's quotas (4 TG→ML, 2 ML→TG, tolerance 2) over a period still to come, so that an
# approved agreement reads "active" rather than "expired".
PILOT_TERMS = {
    "start": "2027-09-01",
    "end": "2028-12-31",
    "quotas": [
        {"sending": "TG", "host": "ML", "volunteers": 4},
        {"sending": "ML", "host": "TG", "volunteers": 2},
    ],
    "balance_tolerance": 2,
    "fields_of_cooperation": ["health", "education"],
}


def _placement(node, n, org_id):
    return node.call(
        "POST",
        "/api/v1/placements",
        json={
            "host_organisation_id": org_id,
            "title": f"Animateur·rice santé {n}",
            "city": "Sikasso" if node.agency == "ML" else "Kara",
            "domain": "health",
            "required_skills": ["public health"],
            "required_languages": [{"code": "fr", "level": "B2"}],
            "start": "2027-10-01",
            "end": "2028-07-31",
            "slots": 1,
        },
    )


def populate(node: RegistryNode, volunteers: int, placements: int) -> None:
    """Register `volunteers` volunteers and `placements` one-slot health placements on `node`."""
    nationality = node.agency
    for n in range(volunteers):
        payload = volunteer_payload(
            n,
            nationality=nationality,
            identity_number=f"{nationality}-{n:06d}",
            preferred_countries=[],
            available_from="2027-09-01",
            available_until="2028-08-31",
        )
        assert node.call("POST", "/api/v1/volunteers", json=payload).status_code == 201
    org = node.call(
        "POST",
        "/api/v1/host-organisations",
        json={"name": f"Centre {node.agency}", "city": "X", "domain": "health"},
    )
    assert org.status_code == 201, org.json
    for n in range(placements):
        assert _placement(node, n, org.json["id"]).status_code == 201


def publish_placements(node: RegistryNode, placements: int) -> None:
    """Publish `placements` one-slot health placements on `node` (one host organisation)."""
    org = node.call(
        "POST",
        "/api/v1/host-organisations",
        json={"name": f"Centre {node.agency}", "city": "X", "domain": "health"},
    )
    assert org.status_code == 201, org.json
    for n in range(placements):
        assert _placement(node, n, org.json["id"]).status_code == 201


def pilot_between(tg: RegistryNode, ml: RegistryNode) -> dict[str, Any]:
    """Over a running broker: populate both nodes as in the pilot, TG proposes the agreement and
    ML approves it once its copy arrived. Returns TG's answer to the proposal."""
    from tests.support.infra import wait_until

    populate(tg, volunteers=6, placements=2)
    populate(ml, volunteers=3, placements=4)
    agreement = tg.call("POST", "/api/v1/agreements", json={"partners": ["ML"], **PILOT_TERMS}).json
    path = f"/api/v1/agreements/{agreement['id']}"
    wait_until(
        lambda: ml.call("GET", path).status_code == 200, 30, what="ML's copy of the agreement"
    )
    approved = ml.call("POST", f"{path}/approve", json={"terms_hash": agreement["terms_hash"]})
    assert approved.status_code == 200, approved.json
    return agreement


def settled_pilot(matching: Any, tg: RegistryNode, ml: RegistryNode, agreement_id: str) -> None:
    """Wait until matching has heard every pilot volunteer and placement, planned them, and both
    registries show exactly its 6 open proposals: from then on nothing re-plans the pilot, so a
    proposal a test accepts cannot be superseded while its acceptance travels."""
    from services.matching.adapters.orm import PlacementView, VolunteerView
    from tests.support.infra import wait_until

    def heard_all() -> bool:
        with matching.runtime.sessions() as session:
            volunteers = session.scalar(select(func.count()).select_from(VolunteerView))
            placements = session.scalar(select(func.count()).select_from(PlacementView))
        return volunteers == 9 and placements == 6

    seen: dict[str, Any] = {}

    def settled() -> bool:
        answer = matching.call("GET", f"/api/v1/agreements/{agreement_id}/plan")
        seen["plan status"] = answer.status_code
        if answer.status_code != 200:  # matching has not heard of the agreement yet
            return False
        plan = answer.json
        seen.update(
            {k: plan[k] for k in ("status", "planning_pending", "planned_at", "directions")}
        )
        if plan["planning_pending"]:
            return False
        open_ = {p["id"] for p in plan["proposals"] if p["status"] == "proposed"}
        shown = [
            {m["id"] for m in n.call("GET", "/api/v1/matches?status=proposed&page_size=50").json}
            for n in (tg, ml)
        ]
        seen.update(
            matching=sorted(open_),
            TG=sorted(shown[0]),
            ML=sorted(shown[1]),
            plan=[(p["id"], p["status"]) for p in plan["proposals"]],
        )
        return len(open_) == 6 and all(ids == open_ for ids in shown)

    wait_until(heard_all, 60, what="matching has heard the pilot's 9 volunteers and 6 placements")
    try:
        wait_until(settled, 60, what="the same 6 proposals on matching and both nodes")
    except AssertionError as timeout:
        from datetime import UTC, datetime

        from services.matching.adapters.orm import AgreementView
        from services.matching.planning import read_and_plan

        with matching.runtime.sessions() as session:
            for name, view in (("volunteers", VolunteerView), ("placements", PlacementView)):
                seen[name] = session.execute(
                    select(view.agency, view.status, func.count()).group_by(
                        view.agency, view.status
                    )
                ).all()
            agreement = session.get(AgreementView, agreement_id)
            solved = read_and_plan(session, agreement, datetime.now(UTC))
            seen["a plan now"] = len(solved.result.proposals) if solved else None
        raise AssertionError(f"{timeout}; last seen: {seen}") from None


def prepare_departure(node: RegistryNode, mobility_id: str, on: str = "2027-09-15") -> None:
    """The sending agency ticks every mandatory item of a mobility's pre-departure checklist."""
    mobility = node.call("GET", f"/api/v1/mobilities/{mobility_id}").json
    for item in mobility["checklist"]:
        if item["mandatory"] and not item["done"]:
            path = f"/api/v1/mobilities/{mobility_id}/checklist/{item['code']}"
            ticked = node.call("POST", path, json={"on": on})
            assert ticked.status_code == 200, ticked.json


def apply_event(
    node: RegistryNode,
    type_: str,
    data: dict[str, Any],
    source: str = "/network/matching",
    agencies: tuple[str, ...] = ("TG", "ML"),
) -> Any:
    """Hand an event to the node's consumer handler, as if the broker delivered it."""
    from services.registry.handlers import Node
    from services.registry.handlers.peer_events import handle
    from shared.events import new_event

    event = new_event(
        type_,
        source=source,
        subject=data.get("match_id") or data.get("mobility_id") or data["agreement_id"],
        agencies=list(agencies),
        data=data,
    )
    with node.runtime.sessions.begin() as session:
        handle(session, event, Node(node.agency))
    return event


def confirmed_mobility(node: RegistryNode, match_id: str = "m-77", n: int = 1) -> dict[str, Any]:
    """A TG volunteer matched to an ML placement and confirmed: the mobility on TG's node."""
    volunteer = node.call("POST", "/api/v1/volunteers", json=volunteer_payload(n)).json
    agreement = node.call("POST", "/api/v1/agreements", json={"partners": ["ML"], **PILOT_TERMS})
    match = {
        "match_id": match_id,
        "agreement_id": agreement.json["id"],
        "volunteer_id": volunteer["id"],
        "placement_id": "pl-ml-1",
        "sending_agency": "TG",
        "host_agency": "ML",
    }
    apply_event(node, "match.proposed", {**match, "score": 0.8, "criteria": []})
    assert node.call("POST", f"/api/v1/matches/{match_id}/accept").status_code == 200
    apply_event(node, "match.confirmed", match)
    mobility = next(
        m for m in node.call("GET", "/api/v1/mobilities").json if m["match_id"] == match_id
    )
    return {"mobility": mobility, "volunteer": volunteer, "agreement": agreement.json}
