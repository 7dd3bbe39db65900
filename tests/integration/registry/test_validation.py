"""Validation of every write endpoint: a refused request answers 4xx JSON naming the field at
fault, and leaves no trace — no row stored or changed, no event in the outbox.

Each case starts from a body the endpoint accepts (checked by the last test of this module) and
changes one thing, so the field named in `errors.json` is the one the case is about. The refusals
change nothing, so one node, seeded once with an object of each kind, serves the whole module.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select

from services.registry.adapters.orm import metadata
from services.registry.handlers import Node
from services.registry.handlers.peer_events import handle
from shared.db import outbox
from shared.events import new_event
from shared.events.examples import EXAMPLES
from tests.support import infra
from tests.support.registry import RegistryNode, start_registry, volunteer_payload

pytestmark = pytest.mark.integration

MALFORMED = b'{"first_name": "Ama", '  # cut short: not JSON
STALE_HASH = "0" * 64

TERMS = {
    "start": "2027-09-01",
    "end": "2028-12-31",
    "quotas": [
        {"sending": "TG", "host": "ML", "volunteers": 4},
        {"sending": "ML", "host": "TG", "volunteers": 2},
    ],
    "balance_tolerance": 2,
    "fields_of_cooperation": ["health", "education"],
}


# -- the seeded node ------------------------------------------------------------------------------


@dataclass
class Seeded:
    """A TG node holding one object of each kind; `ids` fill the `{name}` slots of paths/bodies."""

    node: RegistryNode
    ids: dict[str, str] = field(default_factory=dict)


def seed(node: RegistryNode) -> dict[str, str]:
    def created(path: str, body: dict[str, Any], who: str = "staff") -> dict[str, Any]:
        r = node.call("POST", path, who=who, json=body)
        assert r.status_code == 201, r.json
        return r.json

    volunteer = created("/api/v1/volunteers", volunteer_payload(1))
    org = created("/api/v1/host-organisations", organisation())
    other_org = created("/api/v1/host-organisations", organisation(name="Lycée de Kara"))
    placement = created("/api/v1/placements", placement_body(org["id"]))
    agreement = created("/api/v1/agreements", {**TERMS, "partners": ["ML"]})
    _, example = EXAMPLES["match.proposed"]
    event = new_event(
        "match.proposed",
        source="/network/matching",
        subject="m-validation",
        agencies=("TG", "ML"),
        data={
            **example,
            "match_id": "m-validation",
            "agreement_id": agreement["id"],
            "volunteer_id": volunteer["id"],
        },
    )
    with node.runtime.sessions.begin() as session:
        handle(session, event, Node("TG"))
    return {
        "volunteer": volunteer["id"],
        "identity_number": volunteer["identity_number"],
        "org": org["id"],
        "other_org_name": other_org["name"],
        "placement": placement["id"],
        "agreement": agreement["id"],
        "terms_hash": agreement["terms_hash"],
        "match": "m-validation",
    }


@pytest.fixture(scope="module")
def seeded() -> Iterator[Seeded]:
    url = infra.create_database()
    node = start_registry("TG", url)
    try:
        yield Seeded(node, seed(node))
    finally:
        node.runtime.shutdown()
        infra.drop_database(url)


def snapshot(node: RegistryNode) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every registry table (tokens aside) and of the outbox."""
    tables = [t for t in metadata.sorted_tables if t.name != "api_token"] + [outbox]
    with node.engine.connect() as conn:
        return {
            t.name: [tuple(r) for r in conn.execute(select(t).order_by(*t.primary_key.columns))]
            for t in tables
        }


# -- valid bodies each case starts from -----------------------------------------------------------


def organisation(**changes: Any) -> dict[str, Any]:
    return {
        "name": "Centre de santé de Bè",
        "city": "Lomé",
        "domain": "health",
        "contact_email": "contact@cs-be.example.org",
        "contact_phone": "+228 22 00 00 00",
        **changes,
    }


def placement_body(org_id: str) -> dict[str, Any]:
    return {
        "host_organisation_id": org_id,
        "title": "Animateur·rice de santé communautaire",
        "city": "Lomé",
        "domain": "health",
        "required_skills": ["public health"],
        "required_languages": [{"code": "fr", "level": "B2"}],
        "start": "2027-10-01",
        "end": "2028-07-31",
        "slots": 2,
    }


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # `{name}` slots are filled from Seeded.ids
    body: Callable[[dict[str, str]], Any]
    who: str = "staff"


ENDPOINTS: dict[str, Endpoint] = {
    "register": Endpoint("POST", "/api/v1/volunteers", lambda ids: volunteer_payload(900)),
    "update-volunteer": Endpoint(
        "PATCH", "/api/v1/volunteers/{volunteer}", lambda ids: {"skills": ["nursing"]}
    ),
    "withdraw": Endpoint(
        "POST", "/api/v1/volunteers/{volunteer}/withdraw", lambda ids: {"reason": "personal"}
    ),
    "create-organisation": Endpoint(
        "POST", "/api/v1/host-organisations", lambda ids: organisation(name="École de Tsévié")
    ),
    "update-organisation": Endpoint(
        "PUT", "/api/v1/host-organisations/{org}", lambda ids: organisation(city="Aného")
    ),
    "publish-placement": Endpoint(
        "POST", "/api/v1/placements", lambda ids: placement_body(ids["org"])
    ),
    "update-placement": Endpoint(
        "PATCH", "/api/v1/placements/{placement}", lambda ids: {"slots": 3}
    ),
    "close-placement": Endpoint(
        "POST", "/api/v1/placements/{placement}/close", lambda ids: {"reason": "filled"}
    ),
    "propose-agreement": Endpoint(
        "POST", "/api/v1/agreements", lambda ids: {**TERMS, "partners": ["ML"]}
    ),
    "approve-agreement": Endpoint(
        "POST",
        "/api/v1/agreements/{agreement}/approve",
        lambda ids: {"terms_hash": ids["terms_hash"]},
    ),
    "amend-agreement": Endpoint(
        "POST",
        "/api/v1/agreements/{agreement}/amend",
        lambda ids: {**TERMS, "balance_tolerance": 1},
    ),
    "terminate-agreement": Endpoint(
        "POST",
        "/api/v1/agreements/{agreement}/terminate",
        lambda ids: {"reason": "end_of_programme", "effective": "2028-12-31"},
    ),
    "decline-match": Endpoint(
        "POST", "/api/v1/matches/{match}/decline", lambda ids: {"reason": "dates"}
    ),
    "update-agency": Endpoint(
        "PUT",
        "/api/v1/agency",
        lambda ids: {
            "name": "Agence nationale du volontariat au Togo",
            "languages": ["fr", "ee"],
            "contact_email": "contact@anvt.example.org",
            "node_url": "https://anvt.example.org",
        },
        who="admin",
    ),
}


REMOVE = object()


def changed(body: Any, path: str, value: Any) -> Any:
    """`body` with the value at dotted `path` ("quotas.0.volunteers") replaced, or REMOVEd."""
    body = copy.deepcopy(body)
    *parents, last = path.split(".")
    target = body
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    key: Any = int(last) if isinstance(target, list) else last
    if value is REMOVE:
        del target[key]
    else:
        target[key] = value
    return body


class Ref(str):
    """A value taken from the seeded ids when the case runs (e.g. an identity already stored)."""


@dataclass(frozen=True)
class Bad:
    endpoint: str
    changes: dict[str, Any]  # dotted path -> new value (or REMOVE); applied to the valid body
    status: int
    error: str  # dotted path of the field in errors.json, e.g. "quotas.0.volunteers"
    replace: Any = None  # a whole body sent instead of the changed valid one


def case(id_: str, endpoint: str, status: int, error: str, **changes: Any) -> Any:
    return pytest.param(
        Bad(endpoint, {k.replace("__", "."): v for k, v in changes.items()}, status, error),
        id=f"{endpoint}:{id_}",
    )


def whole(id_: str, endpoint: str, status: int, error: str, body: Any) -> Any:
    return pytest.param(Bad(endpoint, {}, status, error, replace=body), id=f"{endpoint}:{id_}")


WRONG_TYPES = [
    case("first_name-number", "register", 422, "first_name", first_name=42),
    case("date_of_birth-number", "register", 422, "date_of_birth", date_of_birth=19950402),
    case("skills-string", "register", 422, "skills", skills="public health"),
    case("consent-string", "register", 422, "consent", consent="yes"),
    case("language-code-number", "register", 422, "languages.0.code", languages__0__code=7),
    whole("body-a-list", "register", 422, "_schema", [volunteer_payload(901)]),
    case("skills-string", "update-volunteer", 422, "skills", skills="nursing"),
    case("available_from-number", "update-volunteer", 422, "available_from", available_from=5),
    case("email-number", "update-volunteer", 422, "email", email=12),
    case("reason-number", "withdraw", 422, "reason", reason=1),
    case("name-list", "create-organisation", 422, "name", name=["École"]),
    case("contact_email-bool", "create-organisation", 422, "contact_email", contact_email=True),
    case("city-number", "update-organisation", 422, "city", city=12),
    case("slots-word", "publish-placement", 422, "slots", slots="many"),
    case("start-number", "publish-placement", 422, "start", start=20271001),
    case(
        "required_skills-string", "publish-placement", 422, "required_skills", required_skills="x"
    ),
    case("slots-word", "update-placement", 422, "slots", slots="two"),
    case("start-bool", "update-placement", 422, "start", start=True),
    case("reason-object", "close-placement", 422, "reason", reason={"why": "filled"}),
    case("quotas-string", "propose-agreement", 422, "quotas", quotas="TG→ML"),
    case(
        "balance_tolerance-word",
        "propose-agreement",
        422,
        "balance_tolerance",
        balance_tolerance="x",
    ),
    case("partners-string", "propose-agreement", 422, "partners", partners="ML"),
    case(
        "volunteers-word",
        "propose-agreement",
        422,
        "quotas.0.volunteers",
        quotas__0__volunteers="four",
    ),
    case("terms_hash-number", "approve-agreement", 422, "terms_hash", terms_hash=123),
    case("start-bool", "amend-agreement", 422, "start", start=True),
    case("quota-a-string", "amend-agreement", 422, "quotas.0", quotas__0="TG→ML:4"),
    case("effective-number", "terminate-agreement", 422, "effective", effective=20281231),
    case("reason-list", "terminate-agreement", 422, "reason", reason=["end"]),
    case("reason-number", "decline-match", 422, "reason", reason=42),
    case("languages-string", "update-agency", 422, "languages", languages="fr"),
    case("name-number", "update-agency", 422, "name", name=5),
]

RULES = [
    # volunteers
    case("unknown-nationality", "register", 422, "nationality", nationality="QQ"),
    case(
        "unknown-country",
        "register",
        422,
        "preferred_countries.1",
        preferred_countries=["ML", "ZZ"],
    ),
    case("unknown-language", "register", 422, "languages.1.code", languages__1__code="xx"),
    case("end-before-start", "register", 422, "available_until", available_until="2017-08-31"),
    case("born-in-the-future", "register", 422, "date_of_birth", date_of_birth="2999-01-01"),
    case("missing-consent", "register", 422, "consent", consent=REMOVE),
    case(
        "duplicate-identity",
        "register",
        409,
        "identity_number",
        identity_number=Ref("identity_number"),
    ),
    case(
        "unknown-country",
        "update-volunteer",
        422,
        "preferred_countries.0",
        preferred_countries=["QQ"],
    ),
    case(
        "unknown-language",
        "update-volunteer",
        422,
        "languages.0.code",
        languages=[{"code": "xx", "level": "B1"}],
    ),
    case(
        "end-before-start",
        "update-volunteer",
        422,
        "available_until",
        available_from="2018-01-01",
        available_until="2017-12-31",
    ),
    case(
        "end-before-stored-start",
        "update-volunteer",
        422,
        "available_until",
        available_until="2017-01-01",
    ),
    case("identity-not-patchable", "update-volunteer", 422, "first_name", first_name="Akossiwa"),
    case("unknown-reason", "withdraw", 422, "reason", reason="bored"),
    case("missing-reason", "withdraw", 422, "reason", reason=REMOVE),
    # host organisations and placements
    case("bad-phone", "create-organisation", 422, "contact_phone", contact_phone="call me"),
    case("empty-name", "create-organisation", 422, "name", name=""),
    case("duplicate-name-city", "create-organisation", 409, "name", name="Centre de santé de Bè"),
    case("missing-name", "update-organisation", 422, "name", name=REMOVE),
    case("bad-email", "update-organisation", 422, "contact_email", contact_email="not-an-email"),
    # Was a 500 (the unique constraint failing at commit) until the PUT checked for duplicates.
    case(
        "duplicate-name-city",
        "update-organisation",
        409,
        "name",
        name=Ref("other_org_name"),
        city="Lomé",
    ),
    case("end-before-start", "publish-placement", 422, "end", end="2027-09-30"),
    case("negative-slots", "publish-placement", 422, "slots", slots=-1),
    case("zero-slots", "publish-placement", 422, "slots", slots=0),
    case(
        "unknown-language",
        "publish-placement",
        422,
        "required_languages.0.code",
        required_languages__0__code="xx",
    ),
    case(
        "unknown-organisation",
        "publish-placement",
        422,
        "host_organisation_id",
        host_organisation_id="org-nope",
    ),
    case("end-before-start", "update-placement", 422, "end", start="2028-01-01", end="2027-12-31"),
    case("end-before-stored-start", "update-placement", 422, "end", end="2027-01-01"),
    case("negative-slots", "update-placement", 422, "slots", slots=-3),
    case(
        "unknown-language",
        "update-placement",
        422,
        "required_languages.0.code",
        required_languages=[{"code": "xx", "level": "A1"}],
    ),
    case("empty-reason", "close-placement", 422, "reason", reason=""),
    case("free-text-reason", "close-placement", 422, "reason", reason="Budget withdrawn"),
    # agreements
    case("unknown-partner", "propose-agreement", 422, "partners.0", partners=["QQ"]),
    case(
        "unknown-sending-agency",
        "propose-agreement",
        422,
        "quotas.0.sending",
        quotas__0__sending="ZZ",
    ),
    case(
        "negative-quota", "propose-agreement", 422, "quotas.0.volunteers", quotas__0__volunteers=-1
    ),
    case("negative-tolerance", "propose-agreement", 422, "balance_tolerance", balance_tolerance=-1),
    case("end-before-start", "propose-agreement", 422, "end", end="2027-08-31"),
    case("only-ourselves", "propose-agreement", 422, "partners", partners=["TG"]),
    case("quota-for-a-non-party", "propose-agreement", 422, "quotas", quotas__1__sending="NE"),
    case("no-quota", "propose-agreement", 422, "quotas", quotas=[]),
    case("not-a-sha256", "approve-agreement", 422, "terms_hash", terms_hash="not-a-hash"),
    case("stale-terms", "approve-agreement", 409, "terms_hash", terms_hash=STALE_HASH),
    case("negative-quota", "amend-agreement", 422, "quotas.1.volunteers", quotas__1__volunteers=-2),
    case("unknown-host-agency", "amend-agreement", 422, "quotas.0.host", quotas__0__host="QQ"),
    case("end-before-start", "amend-agreement", 422, "end", end="2026-12-31"),
    case("partners-not-amendable", "amend-agreement", 422, "partners", partners=["ML", "NE"]),
    case("same-terms", "amend-agreement", 409, "quotas", balance_tolerance=2),
    case("not-a-date", "terminate-agreement", 422, "effective", effective="tomorrow"),
    case("empty-reason", "terminate-agreement", 422, "reason", reason=""),
    case("free-text-reason", "terminate-agreement", 422, "reason", reason="end of pilot"),
    case("long-note", "terminate-agreement", 422, "note", note="x" * 2001),
    # matches and the agency
    case("reason-too-short", "decline-match", 422, "reason", reason="no"),
    case("free-text-reason", "decline-match", 422, "reason", reason="placement dates moved"),
    case("missing-reason", "decline-match", 422, "reason", reason=REMOVE),
    case("unknown-language", "update-agency", 422, "languages.1", languages=["fr", "xx"]),
    case("no-language", "update-agency", 422, "languages", languages=[]),
    case("not-an-http-url", "update-agency", 422, "node_url", node_url="ftp://anvt.example.org"),
]


def body_of(bad: Bad, ids: dict[str, str]) -> Any:
    if bad.replace is not None:
        return bad.replace
    body = ENDPOINTS[bad.endpoint].body(ids)
    for path, value in bad.changes.items():
        body = changed(body, path, ids[value] if isinstance(value, Ref) else value)
    return body


def send(seeded: Seeded, endpoint: Endpoint, **kwargs: Any) -> Any:
    return seeded.node.call(
        endpoint.method, endpoint.path.format(**seeded.ids), who=endpoint.who, **kwargs
    )


def error_at(errors: Any, dotted: str) -> Any:
    """The messages at `dotted` in a marshmallow error tree (list indexes are string keys)."""
    node = errors
    for key in dotted.split("."):
        assert isinstance(node, dict) and key in node, f"no error at {dotted!r}: {errors}"
        node = node[key]
    return node


def refused_without_trace(seeded: Seeded, request: Callable[[], Any]) -> Any:
    before, events = snapshot(seeded.node), seeded.node.outbox_count()
    volunteers = seeded.node.volunteer_count()
    response = request()
    assert seeded.node.outbox_count() == events, "a refused request emitted an event"
    assert seeded.node.volunteer_count() == volunteers
    after = snapshot(seeded.node)
    changed_tables = sorted(name for name in before if before[name] != after[name])
    assert not changed_tables, f"a refused request changed {changed_tables}"
    assert response.is_json, response.data
    return response


# -- the tests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_malformed_json_is_a_400_naming_the_body(seeded, name):
    endpoint = ENDPOINTS[name]
    r = refused_without_trace(
        seeded,
        lambda: send(seeded, endpoint, data=MALFORMED, content_type="application/json"),
    )
    assert r.status_code == 400, r.json
    assert r.json["errors"]["json"], r.json


@pytest.mark.parametrize("bad", WRONG_TYPES)
def test_a_value_of_the_wrong_type_is_a_422_naming_the_field(seeded, bad):
    check_refusal(seeded, bad)


@pytest.mark.parametrize("bad", RULES)
def test_a_value_breaking_a_rule_is_refused_naming_the_field(seeded, bad):
    check_refusal(seeded, bad)


def check_refusal(seeded: Seeded, bad: Bad) -> None:
    body = body_of(bad, seeded.ids)
    r = refused_without_trace(seeded, lambda: send(seeded, ENDPOINTS[bad.endpoint], json=body))
    assert r.status_code == bad.status, r.json
    errors = r.json.get("errors", {}).get("json")
    assert errors, r.json
    messages = error_at(errors, bad.error)
    assert messages, r.json
    # Only the field the case changed is at fault: the rest of the body was valid.
    assert list(errors) == [bad.error.split(".")[0]], r.json


def test_every_write_endpoint_has_cases():
    tested = {b.values[0].endpoint for b in WRONG_TYPES} & {b.values[0].endpoint for b in RULES}
    assert tested == set(ENDPOINTS)


def test_the_valid_bodies_the_cases_start_from_are_accepted(tg):
    """The control: each unchanged body succeeds, so each refusal above is due to its change."""
    ids = seed(tg)
    for name in (
        "register",
        "update-volunteer",
        "create-organisation",
        "update-organisation",
        "publish-placement",
        "update-placement",
        "approve-agreement",
        "amend-agreement",
        "decline-match",
        "terminate-agreement",
        "close-placement",
        "withdraw",
        "update-agency",
    ):
        endpoint = ENDPOINTS[name]
        r = tg.call(
            endpoint.method, endpoint.path.format(**ids), who=endpoint.who, json=endpoint.body(ids)
        )
        assert r.status_code in (200, 201), (name, r.json)
    r = tg.call("POST", "/api/v1/agreements", json=ENDPOINTS["propose-agreement"].body(ids))
    assert r.status_code == 201, r.json
