"""Authorisation matrix over every route of the registry API, read from the app's URL map.

- anonymous, a malformed Authorization header, an unknown or a revoked token: 401 everywhere;
- staff or admin of another agency (tokens bound to ML on the TG node): 403 everywhere;
- partner and node tokens: 403 on every write;
- who may read which GET route: the explicit table below, 200 or 403 per role;
- partner and node tokens never see a volunteer's name, contact, birth date or identity number,
  except, by design, the host agency's node reading the dossier of a volunteer under a confirmed
  match, and this agency's own node (its notifications service) reading contact details.

The universal rules run over every route, including routes added later; a route missing from the
tables below, or with a path variable this module cannot fill, fails
`test_every_route_is_classified` until someone decides who may call it.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import update

from services.registry.access import PUBLIC_PREFIXES, create_token
from services.registry.adapters.orm import ImportJob
from services.registry.handlers import Node, decide_match, report_incident
from services.registry.handlers.peer_events import handle
from shared.auth import Role
from shared.db import api_token
from shared.events import new_event
from shared.messaging.publisher import OutgoingMessage
from shared.outbox import OutboxRelay
from shared.settings import RelaySettings
from tests.support.registry import RegistryNode, volunteer_payload

pytestmark = pytest.mark.integration

STAFF = {"admin", "staff"}
READERS = {"admin", "staff", "partner", "node", "partner@ML", "node@ML"}
# Tokens whose GET answers are checked against READABLE_BY and scanned for personal data.
READING_ROLES = ("admin", "staff", "partner", "node", "partner@ML", "node@ML")
NOT_STAFF = ("partner", "node", "partner@ML", "node@ML")

# GET routes: which tokens read 200 (every other token: 403).
READABLE_BY: dict[str, set[str]] = {
    "/api/v1/volunteers": STAFF,
    "/api/v1/volunteers/<volunteer_id>": STAFF,
    # Only the node of the agency hosting a confirmed match of that volunteer (ML here).
    "/api/v1/volunteers/<volunteer_id>/dossier": {"node@ML"},
    # Contact details: this agency's admin and its own node (the notifications service) only.
    "/api/v1/volunteers/<volunteer_id>/contact": {"admin", "node"},
    "/api/v1/volunteers/imports/<job_id>": STAFF,
    "/api/v1/volunteers/export": STAFF,
    "/api/v1/host-organisations": READERS,
    "/api/v1/host-organisations/<org_id>": READERS,
    "/api/v1/placements": READERS,
    "/api/v1/placements/<placement_id>": READERS,
    "/api/v1/agreements": READERS,
    "/api/v1/agreements/<agreement_id>": READERS,
    "/api/v1/agreements/<agreement_id>/ledger": READERS,
    "/api/v1/matches": STAFF,
    "/api/v1/matches/<match_id>": STAFF,
    "/api/v1/mobilities": STAFF,
    "/api/v1/mobilities/<mobility_id>": STAFF,
    "/api/v1/agency": READERS,
    "/api/v1/agency/checklist": READERS,
    "/api/v1/mobilities/<mobility_id>/check-ins": STAFF,
    "/api/v1/mobilities/<mobility_id>/incidents": STAFF,
    "/api/v1/incidents/<incident_id>": STAFF,
    "/api/v1/mobilities/<mobility_id>/certificate": STAFF,
    "/api/v1/agreements/<agreement_id>/evaluation": READERS,
    "/api/v1/mobilities/<mobility_id>/check-ins/<check_in>/link": STAFF,
    "/api/v1/events": {"admin", "node", "node@ML"},
    "/api/v1/tokens": {"admin"},
}

# Other methods: which roles of this agency may call them (partner and node never may).
WRITABLE_BY: dict[tuple[str, str], set[str]] = {
    ("POST", "/api/v1/volunteers"): STAFF,
    ("PATCH", "/api/v1/volunteers/<volunteer_id>"): STAFF,
    ("POST", "/api/v1/volunteers/<volunteer_id>/withdraw"): STAFF,
    ("POST", "/api/v1/volunteers/imports"): STAFF,
    ("POST", "/api/v1/host-organisations"): STAFF,
    ("PUT", "/api/v1/host-organisations/<org_id>"): STAFF,
    ("POST", "/api/v1/placements"): STAFF,
    ("PATCH", "/api/v1/placements/<placement_id>"): STAFF,
    ("POST", "/api/v1/placements/<placement_id>/close"): STAFF,
    ("POST", "/api/v1/agreements"): STAFF,
    ("POST", "/api/v1/agreements/<agreement_id>/approve"): STAFF,
    ("POST", "/api/v1/agreements/<agreement_id>/amend"): STAFF,
    ("POST", "/api/v1/agreements/<agreement_id>/terminate"): STAFF,
    ("POST", "/api/v1/matches/<match_id>/accept"): STAFF,
    ("POST", "/api/v1/matches/<match_id>/decline"): STAFF,
    ("PUT", "/api/v1/agency"): {"admin"},
    ("PUT", "/api/v1/agency/checklist"): {"admin"},
    ("POST", "/api/v1/mobilities/<mobility_id>/checklist/<code>"): STAFF,
    ("POST", "/api/v1/mobilities/<mobility_id>/check-ins"): STAFF,
    ("POST", "/api/v1/mobilities/<mobility_id>/incidents"): STAFF,
    ("POST", "/api/v1/incidents/<incident_id>"): STAFF,
    ("POST", "/api/v1/mobilities/<mobility_id>/reviews"): STAFF,
    ("PUT", "/api/v1/agreements/<agreement_id>/evaluation/lessons"): STAFF,
    ("POST", "/api/v1/mobilities/<mobility_id>/start"): STAFF,
    ("POST", "/api/v1/mobilities/<mobility_id>/reports"): STAFF,
    ("POST", "/api/v1/mobilities/<mobility_id>/complete"): STAFF,
    ("POST", "/api/v1/mobilities/<mobility_id>/interrupt"): STAFF,
    ("DELETE", "/api/v1/tokens/<token_id>"): {"admin"},
}

# The world's mobility has not been completed: its certificate is refused for that reason alone.
ANSWER_WHEN_ALLOWED = {"/api/v1/mobilities/<mobility_id>/certificate": 409}

VARIABLE = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
NO_OBJECT = "no-such-object"


@dataclass(frozen=True)
class Route:
    method: str
    rule: str

    def __str__(self) -> str:
        return f"{self.method} {self.rule}"


def api_routes(node: RegistryNode) -> list[Route]:
    """Every method of every /api/v1 route but the public API description and docs."""
    routes = [
        Route(method, rule.rule)
        for rule in node.app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/") and not rule.rule.startswith(PUBLIC_PREFIXES)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"})
    ]
    assert routes, "no /api/v1 route in the URL map"
    return routes


# -- a node with one object of each kind ----------------------------------------------------------


class NullPublisher:
    """Confirms every batch at once: the relay marks the outbox rows published, fills the feed."""

    def publish_batch(self, messages: Sequence[OutgoingMessage]) -> None:
        pass

    def heartbeat(self) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass
class World:
    node: RegistryNode
    ids: dict[str, str]  # path variable -> id of a real object
    personal: dict[str, list[str]]  # volunteer id -> its personal data as the API writes it
    revoked_token: str

    def path(self, route: Route) -> str:
        return VARIABLE.sub(lambda m: self.ids.get(m.group(1), NO_OBJECT), route.rule)

    def call(self, route: Route, headers: dict[str, str], **kwargs: Any) -> Any:
        return self.node.client().open(
            self.path(route), method=route.method, headers=headers, **kwargs
        )


def personal_volunteer(n: int) -> dict[str, Any]:
    return volunteer_payload(
        n,
        first_name=f"Yawavi{n}",
        last_name=f"Kpodzro{n}",
        date_of_birth=f"1994-03-1{n}",
        identity_number=f"TG-ID-73920{n}",
        email=f"yawavi.kpodzro{n}@example.org",
        phone=f"+228 91 23 45 0{n}",
    )


def personal_data(volunteer: dict[str, Any]) -> list[str]:
    keys = ("first_name", "last_name", "email", "phone", "date_of_birth", "identity_number")
    return [volunteer[k] for k in keys]


def apply(node: RegistryNode, type_: str, data: dict[str, Any]) -> None:
    event = new_event(
        type_,
        source="/network/matching",
        subject=data["match_id"],
        agencies=["TG", "ML"],
        data=data,
    )
    with node.runtime.sessions.begin() as session:
        handle(session, event, Node(node.agency))


def match(match_id: str, agreement_id: str, volunteer_id: str) -> dict[str, Any]:
    return {
        "match_id": match_id,
        "agreement_id": agreement_id,
        "volunteer_id": volunteer_id,
        "placement_id": "pl-ml-1",
        "sending_agency": "TG",
        "host_agency": "ML",
    }


@pytest.fixture
def world(tg: RegistryNode) -> World:
    def created(path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = tg.call("POST", path, json=body)
        assert r.status_code == 201, r.json
        return r.json

    proposed = created("/api/v1/volunteers", personal_volunteer(1))
    confirmed = created("/api/v1/volunteers", personal_volunteer(2))
    org = created(
        "/api/v1/host-organisations",
        {"name": "Centre de santé de Bè", "city": "Lomé", "domain": "health"},
    )
    placement = created(
        "/api/v1/placements",
        {
            "host_organisation_id": org["id"],
            "title": "Animateur·rice de santé",
            "city": "Lomé",
            "domain": "health",
            "start": "2027-10-01",
            "end": "2028-07-31",
            "slots": 2,
        },
    )
    agreement = created(
        "/api/v1/agreements",
        {
            "partners": ["ML"],
            "start": "2027-09-01",
            "end": "2028-12-31",
            "quotas": [
                {"sending": "TG", "host": "ML", "volunteers": 4},
                {"sending": "ML", "host": "TG", "volunteers": 2},
            ],
            "balance_tolerance": 2,
        },
    )
    score = {"score": 0.8, "criteria": []}
    apply(tg, "match.proposed", match("m-proposed", agreement["id"], proposed["id"]) | score)
    apply(tg, "match.proposed", match("m-confirmed", agreement["id"], confirmed["id"]) | score)
    with tg.runtime.sessions.begin() as session:
        decide_match(session, Node("TG"), "m-confirmed", True)
    apply(tg, "match.confirmed", match("m-confirmed", agreement["id"], confirmed["id"]))
    with tg.runtime.sessions.begin() as session:
        incident_id = report_incident(
            session,
            Node("TG"),
            "mob-confirmed",
            {"on": date(2027, 9, 1), "severity": "low", "category": "other"},
        ).id
    with tg.runtime.sessions.begin() as session:
        session.add(
            ImportJob(
                id="imp-1",
                filename="volunteers.csv",
                format="csv",
                status="completed",
                total_rows=0,
                processed_rows=0,
                imported_rows=0,
                error_rows=0,
                errors=[],
                created_by="tok-staff",
                created_at=datetime.now(UTC),
                finished_at=datetime.now(UTC),
            )
        )
        token_id, revoked = create_token(session, "TG", Role.STAFF, "left the agency")
        spare_token_id = create_token(session, "TG", Role.STAFF, "spare")[0]
        session.execute(
            update(api_token).where(api_token.c.id == token_id).values(revoked_at=datetime.now(UTC))
        )
    # Publish the outbox so that the event feed has something to show.
    relay = OutboxRelay(tg.engine, NullPublisher(), RelaySettings(partitions_per_claim=16))
    while relay.run_once():
        pass
    return World(
        node=tg,
        ids={
            # The volunteer with a confirmed match hosted by ML: its dossier is readable by ML.
            "volunteer_id": confirmed["id"],
            "org_id": org["id"],
            "placement_id": placement["id"],
            "agreement_id": agreement["id"],
            "match_id": "m-proposed",
            "mobility_id": "mob-confirmed",  # opened by match.confirmed
            "code": "contract",  # an item of its pre-departure checklist
            "check_in": "first",
            "incident_id": incident_id,
            "job_id": "imp-1",
            "token_id": spare_token_id,
        },
        personal={v["id"]: personal_data(v) for v in (proposed, confirmed)},
        revoked_token=revoked,
    )


def mismatches(found: dict[tuple[str, str], Any], expected: dict[tuple[str, str], Any]) -> str:
    return "\n".join(
        f"{who:>12} {route}: expected {expected[who, route]}, got {status}"
        for (who, route), status in sorted(found.items())
        if status != expected[who, route]
    )


# -- the matrix -----------------------------------------------------------------------------------


def test_every_route_is_classified(world):
    routes = api_routes(world.node)
    unclassified = [
        str(r)
        for r in routes
        if (
            r.rule not in READABLE_BY
            if r.method == "GET"
            else (r.method, r.rule) not in WRITABLE_BY
        )
    ]
    unfillable = sorted(
        {f"{r}: <{v}>" for r in routes for v in VARIABLE.findall(r.rule) if v not in world.ids}
    )
    assert not unclassified, f"decide who may call {unclassified} (READABLE_BY/WRITABLE_BY)"
    assert not unfillable, f"no object to put in {unfillable}: add one to the world fixture"
    known = {str(r) for r in routes}
    stale = [f"GET {rule}" for rule in READABLE_BY if f"GET {rule}" not in known] + [
        f"{m} {rule}" for m, rule in WRITABLE_BY if f"{m} {rule}" not in known
    ]
    assert not stale, f"the tables name routes the API no longer has: {stale}"


@pytest.mark.parametrize(
    "authorization",
    [None, "Basic c3RhZmY6c2VjcmV0", "Bearer", "Bearer unknown", "Bearer revoked"],
    ids=["anonymous", "basic-auth", "empty-bearer", "unknown-token", "revoked-token"],
)
def test_without_a_valid_token_every_route_is_401(world, authorization):
    tokens = {
        "Bearer unknown": f"Bearer vir_tg_{secrets.token_urlsafe(32)}",
        "Bearer revoked": f"Bearer {world.revoked_token}",
    }
    headers = {}
    if authorization:
        headers["Authorization"] = tokens.get(authorization, authorization)
    found = {}
    for route in api_routes(world.node):
        r = world.call(route, headers, json={})
        found[authorization or "anonymous", str(route)] = r.status_code
        assert r.is_json and r.json["code"] == r.status_code, (route, r.data)
    expected = dict.fromkeys(found, 401)
    diff = mismatches(found, expected)
    assert not diff, "\n" + diff


@pytest.mark.parametrize("who", ["staff@ML", "admin@ML"])
def test_staff_and_admin_of_another_agency_get_403_on_every_route(world, who):
    found = {
        (who, str(route)): world.call(route, world.node.headers(who), json={}).status_code
        for route in api_routes(world.node)
    }
    expected = dict.fromkeys(found, 403)
    diff = mismatches(found, expected)
    assert not diff, "\n" + diff


@pytest.mark.parametrize("who", NOT_STAFF)
def test_partner_and_node_tokens_may_not_write_anything(world, who):
    found = {
        (who, str(route)): world.call(route, world.node.headers(who), json={}).status_code
        for route in api_routes(world.node)
        if route.method != "GET"
    }
    expected = dict.fromkeys(found, 403)
    diff = mismatches(found, expected)
    assert not diff, "\n" + diff


def test_who_may_read_what(world):
    routes = [r for r in api_routes(world.node) if r.method == "GET"]
    found, expected = {}, {}
    for route in routes:
        for who in READING_ROLES:
            found[who, str(route)] = world.call(route, world.node.headers(who)).status_code
            allowed = ANSWER_WHEN_ALLOWED.get(route.rule, 200)
            expected[who, str(route)] = allowed if who in READABLE_BY.get(route.rule, ()) else 403
    diff = mismatches(found, expected)
    assert not diff, "\n" + diff


def test_which_roles_of_this_agency_may_write(world):
    """Allowed roles pass authorisation (a malformed body then makes it a 400, storing nothing;
    a route without a body answers for itself); the others get 403."""
    found, expected = {}, {}
    for route in [r for r in api_routes(world.node) if r.method != "GET"]:
        for who in ("staff", "admin"):
            r = world.call(
                route, world.node.headers(who), data=b"{", content_type="application/json"
            )
            allowed = who in WRITABLE_BY.get((route.method, route.rule), ())
            found[who, str(route)] = "passes" if r.status_code not in (401, 403) else r.status_code
            expected[who, str(route)] = "passes" if allowed else 403
    diff = mismatches(found, expected)
    assert not diff, "\n" + diff


def test_partner_and_node_tokens_never_see_personal_data(world):
    everyone = [value for values in world.personal.values() for value in values]
    everyone += [value.replace(" ", "") for value in everyone if value.startswith("+")]  # phones
    seen: dict[str, list[str]] = {}
    read = 0
    for route in [r for r in api_routes(world.node) if r.method == "GET"]:
        for who in NOT_STAFF:
            r = world.call(route, world.node.headers(who))
            if r.status_code != 200:
                continue
            read += 1
            text = r.get_data(as_text=True) + str(r.headers)
            leaked = [value for value in everyone if value in text]
            if leaked:
                seen[f"{who} {route}"] = leaked
    assert read >= 8 * len(NOT_STAFF), "the scan read too little to mean anything"
    # The exceptions, by design, and exactly what each shows (of one volunteer only):
    volunteer = world.personal[world.ids["volunteer_id"]]
    first, last, email, phone, _birth, _identity = volunteer
    expected = {
        # the host agency's node: the dossier of a volunteer it hosts under a confirmed match
        "node@ML GET /api/v1/volunteers/<volunteer_id>/dossier": set(volunteer),
        # this agency's own node (its notifications service): contact details, nothing more
        "node GET /api/v1/volunteers/<volunteer_id>/contact": {first, last, email, phone},
    }
    assert {where: set(values) for where, values in seen.items()} == expected


def test_the_scan_finds_personal_data_where_staff_may_see_it(world):
    """The control: the same scan on staff's reading of the volunteers finds their data."""
    r = world.node.call("GET", "/api/v1/volunteers")
    assert r.status_code == 200
    assert all(value in r.get_data(as_text=True) for v in world.personal.values() for value in v)
