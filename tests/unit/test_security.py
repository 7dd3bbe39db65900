"""Keys, the trust list, signature checks and the entitlement table, without broker or database."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime, timedelta

import pytest

from shared.events import encode, new_event
from shared.events.contracts import CATALOG
from shared.events.examples import EXAMPLES
from shared.security import (
    ENTITLEMENTS,
    KEY_ID_HEADER,
    SIGNATURE_HEADER,
    Refused,
    Signer,
    TrustStore,
    Verifier,
    create_key_file,
    entitlement_error,
    load_key_file,
    load_or_create_key,
    trust_list_document,
    trusted_jwk,
    write_trust_list,
)
from shared.security.trust import TrustListError, parse_trust_list
from tests.support.forgery import ENTITLED

NOW = datetime(2027, 6, 1, tzinfo=UTC)


def source_of(principal: str, service: str = "registry") -> str:
    if principal in ("matching", "notifications"):
        return f"/network/{principal}"
    return f"/agencies/{principal}/{service}"


def example(type_: str, principal: str):
    agencies, data = EXAMPLES[type_]
    return new_event(
        type_, source=source_of(principal), subject="s-1", agencies=agencies, data=data
    )


@pytest.fixture
def keys(tmp_path):
    made = {p: create_key_file(tmp_path / f"{p}.json", p) for p in ("TG", "ML", "matching")}
    return made


def verifier_for(entries, when=NOW):
    from shared.security.trust import TrustList

    document = trust_list_document(entries)
    trust: TrustList = parse_trust_list(document)
    return Verifier(trust, clock=lambda: when)


def test_a_key_file_is_readable_by_its_owner_only_and_never_overwritten(tmp_path):
    path = tmp_path / "keys" / "TG.json"
    key = create_key_file(path, "TG")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_key_file(path).public_x() == key.public_x()
    with pytest.raises(FileExistsError):
        create_key_file(path, "TG")
    assert load_or_create_key(path, "TG").kid == key.kid
    public = key.public_jwk()
    assert public["kty"] == "OKP" and public["crv"] == "Ed25519" and "d" not in public


def test_every_event_type_of_the_catalog_has_one_entitlement_row():
    assert set(ENTITLEMENTS) == {c.type for c in CATALOG}
    assert set(ENTITLED) == set(ENTITLEMENTS)


@pytest.mark.parametrize("type_", sorted(ENTITLED))
def test_the_entitled_principal_may_publish_and_another_may_not(type_):
    allowed, refused = ENTITLED[type_]
    assert entitlement_error(allowed, example(type_, allowed)) is None
    assert entitlement_error(refused, example(type_, refused)) is not None


def test_the_source_must_name_the_signer():
    event = example("volunteer.registered", "TG")
    assert "does not name the signer" in entitlement_error("ML", event)


def test_an_agency_decides_a_match_only_in_its_own_name():
    agencies, data = EXAMPLES["match.accepted"]
    as_tg = new_event(
        "match.accepted",
        source="/agencies/ML/registry",
        subject="m",
        agencies=agencies,
        data={**data, "agency": "TG"},
    )
    assert "own name" in entitlement_error("ML", as_tg)


def test_a_third_agency_cannot_terminate_or_speak_as_a_party():
    agencies, data = EXAMPLES["agreement.terminated"]
    as_ne = new_event(
        "agreement.terminated",
        source="/agencies/ML/registry",
        subject="a",
        agencies=("TG", "NE"),
        data={**data, "agency": "NE"},
    )
    assert entitlement_error("ML", as_ne) is not None


def test_signature_checks_give_each_reason_code(keys):
    body = encode(example("volunteer.registered", "TG"))
    tg, ml = keys["TG"], keys["ML"]
    verifier = verifier_for(
        [
            ("TG", trusted_jwk(tg)),
            ("ML", trusted_jwk(ml, NOW - timedelta(days=400), NOW - timedelta(days=1))),
        ]
    )
    headers = Signer(tg).headers(body)
    assert verifier.signer_of(body, headers).principal == "TG"

    def code(b, h):
        with pytest.raises(Refused) as refused:
            verifier.signer_of(b, h)
        return refused.value.code

    assert code(body, {}) == "bad-signature"
    assert code(body.replace(b'"TG"', b'"NE"'), headers) == "bad-signature"
    assert code(body, {**headers, SIGNATURE_HEADER: "AAAA"}) == "bad-signature"
    assert code(body, {**headers, KEY_ID_HEADER: "nobody-knows"}) == "unknown-key"
    assert code(body, Signer(keys["matching"]).headers(body)) == "unknown-key"
    assert code(body, Signer(ml).headers(body)) == "expired-key"


def test_routing_key_must_be_the_one_derived_from_the_body(keys):
    event = example("match.proposed", "matching")
    verifier = verifier_for([("matching", trusted_jwk(keys["matching"]))])
    body = encode(event)
    key = verifier.signer_of(body, Signer(keys["matching"]).headers(body))
    verifier.check_event(key, event, "match.proposed.TG.ML")
    with pytest.raises(Refused) as refused:
        verifier.check_event(key, event, "match.accepted.TG.ML")
    assert refused.value.code == "routing-mismatch"


def test_a_rotated_key_verifies_during_the_overlap_and_not_after(keys, tmp_path):
    old, new = keys["TG"], create_key_file(tmp_path / "TG-2.json", "TG")
    entries = [
        ("TG", trusted_jwk(old, NOW - timedelta(days=365), NOW + timedelta(days=30))),
        ("TG", trusted_jwk(new, NOW - timedelta(days=1), None)),
    ]
    body = encode(example("volunteer.registered", "TG"))
    during = verifier_for(entries, NOW)
    after = verifier_for(entries, NOW + timedelta(days=31))
    assert during.signer_of(body, Signer(old).headers(body)).kid == old.kid
    assert during.signer_of(body, Signer(new).headers(body)).kid == new.kid
    assert after.signer_of(body, Signer(new).headers(body)).kid == new.kid
    with pytest.raises(Refused) as refused:
        after.signer_of(body, Signer(old).headers(body))
    assert refused.value.code == "expired-key"


def test_the_trust_store_reloads_a_changed_file_and_keeps_the_last_good_one(keys, tmp_path):
    path = tmp_path / "trust-list.json"
    clock = [0.0]
    store = TrustStore(path, interval=5, clock=lambda: clock[0])
    assert store.current().keys == {}  # no file: nobody is trusted
    write_trust_list(path, trust_list_document([("TG", trusted_jwk(keys["TG"]))]))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    clock[0] = 4.0
    assert store.current().keys == {}  # not looked at again before the interval
    clock[0] = 5.0
    assert set(store.current().keys) == {keys["TG"].kid}
    path.write_text("{ broken")
    clock[0] = 10.0
    assert set(store.current().keys) == {keys["TG"].kid}
    document = trust_list_document(
        [("TG", trusted_jwk(keys["TG"])), ("ML", trusted_jwk(keys["ML"]))]
    )
    path.write_text(json.dumps(document))
    clock[0] = 15.0
    assert set(store.current().keys) == {keys["TG"].kid, keys["ML"].kid}


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(format="other"),
        lambda d: d["principals"].update(tg={"keys": []}),
        lambda d: d["principals"]["TG"]["keys"][0].update(crv="P-256"),
        lambda d: d["principals"]["TG"]["keys"][0].update(x="AAAA"),
        lambda d: d["principals"]["TG"]["keys"][0].update(not_after="next week"),
        lambda d: d["principals"].update(ML=d["principals"]["TG"]),
    ],
)
def test_a_malformed_trust_list_is_refused(keys, mutate):
    document = json.loads(json.dumps(trust_list_document([("TG", trusted_jwk(keys["TG"]))])))
    mutate(document)
    with pytest.raises(TrustListError):
        parse_trust_list(document)


def test_the_demo_network_makes_its_keys_and_trust_list_and_keeps_added_principals(tmp_path):
    from shared.security import load_trust_list
    from vir.network import prepare_trust

    env = {"VIR_VAR_DIR": str(tmp_path)}
    path = prepare_trust(["TG", "ML"], env)
    assert path == tmp_path / "trust-list.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    for principal in ("TG", "ML", "matching", "notifications"):
        assert stat.S_IMODE(os.stat(tmp_path / "keys" / f"{principal}.json").st_mode) == 0o600
    first = load_trust_list(path)
    assert first.principals() == {"TG", "ML", "matching", "notifications"}
    # A third country added by hand stays when the network starts again; keys are kept.
    ne = create_key_file(tmp_path / "ne.json", "NE")
    document = json.loads(path.read_text())
    document["principals"]["NE"] = {"keys": [trusted_jwk(ne)]}
    write_trust_list(path, document)
    again = load_trust_list(prepare_trust(["TG", "ML"], env))
    assert set(again.keys) == set(first.keys) | {ne.kid}
