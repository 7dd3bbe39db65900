"""The national brokers' definitions under deploy/: generated from the code, no guest, narrow
users, federation of vir.events only, over amqps with peer verification."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner

from shared.events.contracts import EVENT_TYPES
from shared.messaging import broker_passwords, federation, topology
from vir.cli import main

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "rabbitmq"
NATIONAL = {
    "TG": (["--peer", "ML=rabbitmq-ml", "--hosts-network-services"], {"ML": "rabbitmq-ml"}, True),
    "ML": (["--peer", "TG=rabbitmq-tg"], {"TG": "rabbitmq-tg"}, False),
}


def _deployed(country: str) -> dict:
    return json.loads((DEPLOY / country.lower() / "definitions.json").read_text())


def _expected(country: str) -> dict:
    _, peers, network = NATIONAL[country]
    return federation.national_definitions(country, peers, network_services=network)


@pytest.fixture(params=sorted(NATIONAL))
def country(request) -> str:
    return request.param


def test_deployed_definitions_are_what_the_code_generates(country):
    assert _deployed(country) == _expected(country), (
        f"regenerate: vir topology national --country {country} "
        f"{' '.join(NATIONAL[country][0])} "
        f"--output deploy/rabbitmq/{country.lower()}/definitions.json"
    )


def test_the_cli_writes_the_deployed_file(country, tmp_path):
    out = tmp_path / "definitions.json"
    args = ["topology", "national", "--country", country, *NATIONAL[country][0]]
    result = CliRunner().invoke(main, [*args, "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text() == (DEPLOY / country.lower() / "definitions.json").read_text()


def test_no_guest_and_no_password_in_the_files(country):
    text = (DEPLOY / country.lower() / "definitions.json").read_text()
    assert "guest" not in text.lower()
    defs = json.loads(text)
    assert all(u["password_hash"] == "" for u in defs["users"])  # set at install only
    for p in defs["parameters"]:
        assert urlsplit(p["value"]["uri"]).password is None
        assert urlsplit(p["value"]["uri"]).username is None  # the client certificate logs in


def test_every_user_has_permissions_on_the_vhost_and_only_there(country):
    defs = _deployed(country)
    users = {u["name"] for u in defs["users"]}
    vhosts = {v["name"] for v in defs["vhosts"]}
    assert vhosts == {federation.DEFAULT_VHOST}
    assert {p["user"] for p in defs["permissions"]} == users
    assert len(defs["permissions"]) == len(users)
    assert {p["vhost"] for p in defs["permissions"]} == vhosts
    assert {t["user"] for t in defs["topic_permissions"]} <= users
    admins = [u["name"] for u in defs["users"] if "administrator" in u["tags"]]
    assert admins == [federation.OPERATOR_USER]
    everything = [p["user"] for p in defs["permissions"] if p["configure"] == ".*"]
    assert everything == [federation.OPERATOR_USER]


def test_each_service_of_the_country_has_its_users(country):
    names = {u["name"] for u in _deployed(country)["users"]}
    cc = country.lower()
    assert {f"registry-{cc}", f"relay-registry-{cc}", f"notifications-{cc}"} <= names
    network = {"matching", "relay-matching", "notifications", "relay-notifications"}
    assert (network <= names) is NATIONAL[country][2]
    assert not (network & names) or NATIONAL[country][2]
    peers = NATIONAL[country][1]
    assert {n for n in names if n.startswith("federation-")} == {
        federation.federation_user_name(p) for p in peers
    }


def _perms(defs: dict, user: str) -> dict:
    return next(p for p in defs["permissions"] if p["user"] == user)


def _matches(regex: str, name: str) -> bool:
    return re.search(regex, name) is not None  # RabbitMQ's semantics: search, anchors inside


def test_a_consumer_configures_and_reads_its_own_queues_only():
    defs = _deployed("TG")
    queues = [q["name"] for q in defs["queues"]]
    perms = _perms(defs, "registry-tg")
    own = [q for q in queues if q == "registry.TG" or q.startswith("registry.TG.")]
    assert {q for q in queues if _matches(perms["configure"], q)} == set(own)
    assert {q for q in queues if _matches(perms["read"], q)} == {"registry.TG"}
    exchanges = [e["name"] for e in defs["exchanges"]]
    assert {e for e in exchanges if _matches(perms["write"], e)} == {"vir.retry", "vir.dlx"}
    assert not any(_matches(perms["configure"], e) for e in exchanges)


def test_a_relay_only_writes_vir_events_and_only_its_agencys_routing_keys():
    defs = _deployed("TG")
    perms = _perms(defs, "relay-registry-tg")
    names = [e["name"] for e in defs["exchanges"]] + [q["name"] for q in defs["queues"]]
    assert [n for n in names if _matches(perms["write"], n)] == ["vir.events"]
    assert not any(_matches(perms["read"], n) or _matches(perms["configure"], n) for n in names)
    [topic] = [t for t in defs["topic_permissions"] if t["user"] == "relay-registry-tg"]
    assert topic["exchange"] == topology.EVENTS_EXCHANGE
    keys = topic["write"]
    # What services/registry/handlers/ emits: its own volunteers and placements, the
    # agreements it is a party to (proposer first), its decisions on a match (sending, host).
    for key in (
        "volunteer.registered.TG",
        "volunteer.updated.TG",
        "placement.published.TG",
        "agreement.proposed.TG.ML",
        "agreement.approved.ML.TG",
        "agreement.activated.TG.ML.NE",
        "match.accepted.TG.ML",
        "match.declined.ML.TG",
        "mobility.started.ML.TG",
    ):
        assert _matches(keys, key), key
    for key in (
        "volunteer.registered.ML",  # another agency's volunteer
        "volunteer.registered.TG.ML",
        "placement.published.ML",
        "agreement.approved.ML.NE",  # an agreement TG is no party to
        "match.confirmed.TG.ML",  # matching's decision
        "match.proposed.TG.ML",
        "notification.delivered.TG",
        "volunteer.registered.TGX",
        "volunteer.registered",
        "unknown.type.TG",
    ):
        assert not _matches(keys, key), key


def test_matching_and_notifications_publish_only_their_own_types():
    defs = _deployed("TG")
    topics = {(t["user"], t["exchange"]): t["write"] for t in defs["topic_permissions"]}
    matching = topics[("relay-matching", "vir.events")]
    assert _matches(matching, "match.proposed.TG.ML")
    assert _matches(matching, "match.confirmed.ML.TG")
    assert not _matches(matching, "match.accepted.TG.ML")
    assert not _matches(matching, "volunteer.registered.TG")
    reports = topics[("relay-notifications", "vir.events")]
    assert _matches(reports, "notification.delivered.TG.ML")
    assert not _matches(reports, "match.confirmed.TG.ML")
    public = topics[("notifications", "vir.public")]
    assert _matches(public, "match.confirmed.TG.ML")
    assert not _matches(public, "notification.delivered.TG")
    assert _perms(defs, "notifications")["write"] == "^(?:vir\\.retry|vir\\.dlx|vir\\.public)$"


def test_every_event_type_has_exactly_one_kind_of_publisher():
    kinds = [
        federation.REGISTRY_OWN_TYPES,
        federation.REGISTRY_PARTY_TYPES,
        federation.MATCHING_TYPES,
        federation.NOTIFICATION_TYPES,
    ]
    published = [t for kind in kinds for t in kind]
    assert sorted(published) == sorted(EVENT_TYPES)


def test_the_federation_policy_applies_to_vir_events_only(country):
    defs = _deployed(country)
    [policy] = defs["policies"]
    assert policy["apply-to"] == "exchanges"
    assert policy["definition"] == {"federation-upstream-set": "all"}
    exchanges = [e["name"] for e in defs["exchanges"]]
    names = [*exchanges, "vir.events.x", "x.vir.events", "vir_events", "federation: vir.events"]
    assert [n for n in names if _matches(policy["pattern"], n)] == ["vir.events"]


def test_upstreams_are_amqps_with_peer_verification_on_confirm_and_one_hop(country):
    defs = _deployed(country)
    peers = NATIONAL[country][1]
    assert [p["name"] for p in defs["parameters"]] == [c.lower() for c in sorted(peers)]
    for parameter in defs["parameters"]:
        assert parameter["component"] == "federation-upstream"
        value = parameter["value"]
        assert value["ack-mode"] == "on-confirm"
        assert value["max-hops"] == 1
        assert value["reconnect-delay"] > 0
        assert value["trust-user-id"] is False
        assert value["exchange"] == "vir.events"
        uri = urlsplit(value["uri"])
        host = peers[parameter["name"].upper()]
        assert (uri.scheme, uri.hostname, uri.port) == ("amqps", host, 5671)
        assert uri.path == f"/{federation.DEFAULT_VHOST}"
        query = {k: v[0] for k, v in parse_qs(uri.query).items()}
        assert query["verify"] == "verify_peer"
        assert query["server_name_indication"] == host
        assert query["auth_mechanism"] == "external"
        for key in ("cacertfile", "certfile", "keyfile"):
            assert query[key].startswith("/etc/rabbitmq/tls/")
    assert defs["global_parameters"] == [
        {"name": "cluster_name", "value": federation.cluster_name(country)}
    ]


def test_a_peers_federation_user_may_only_use_its_own_upstream_exchange_and_queue():
    defs = _deployed("TG")
    perms = _perms(defs, "federation-ml")
    # Names RabbitMQ 3.10 gives them on TG's broker for ML's link (same vhost on both sides).
    own = ["federation: vir.events -> vir-ml", "federation: vir.events -> vir-ml A"]
    own.append("federation: vir.events -> vir-ml B")
    others = [
        "federation: vir.events -> vir-ne",
        "federation: vir.events -> vir-ml-x B",
        "vir.events",
        "vir.public",
        "registry.TG",
        "matching",
    ]
    for name in own:
        assert _matches(perms["configure"], name) and _matches(perms["write"], name), name
    for name in others:
        assert not _matches(perms["configure"], name) and not _matches(perms["write"], name)
    assert _matches(perms["read"], "vir.events")  # binds its upstream exchange to vir.events
    assert not _matches(perms["read"], "vir.public") and not _matches(perms["read"], "matching")
    # Between vhosts of one broker, the names carry the downstream's vhost and exchange.
    other_vhost = federation.federation_resources("rabbit@vm", "vir-fed-ml-1")
    assert _matches(other_vhost, "federation: vir.events -> rabbit@vm:vir-fed-ml-1:vir.events B")


def test_each_broker_holds_the_queues_of_its_own_consumers(country):
    queues = {q["name"] for q in _deployed(country)["queues"]}
    assert {f"registry.{country}", f"notifications.{country}"} <= queues
    assert ({"matching", "notifications"} <= queues) is NATIONAL[country][2]
    other = "ML" if country == "TG" else "TG"
    assert f"registry.{other}" not in queues
    assert all(q["arguments"]["x-queue-type"] == "quorum" for q in _deployed(country)["queues"])


def test_install_time_passwords_become_sha256_hashes_and_federation_stays_certificate_only():
    defs = _expected("ML")
    wanted = broker_passwords.password_users(defs)
    assert not [n for n in wanted if n.startswith("federation-")]
    passwords = {name: f"secret-{name}" for name in wanted}
    installed = broker_passwords.with_passwords(defs, passwords)
    for user in installed["users"]:
        if user["name"].startswith("federation-"):
            assert user["password_hash"] == ""
            continue
        raw = base64.b64decode(user["password_hash"])
        salt, digest = raw[:4], raw[4:]
        assert digest == hashlib.sha256(salt + f"secret-{user['name']}".encode()).digest()
    assert defs["users"][1]["password_hash"] == ""  # the input is left alone
    with pytest.raises(ValueError, match="no password given"):
        broker_passwords.with_passwords(defs, {wanted[0]: "x"})
    with pytest.raises(ValueError, match="not in the definitions"):
        broker_passwords.with_passwords(defs, {**passwords, "guest": "guest"})


def test_passwords_file_and_peer_parsing():
    assert broker_passwords.parse_passwords("# users\n\nrelay-registry-tg=a=b\n") == {
        "relay-registry-tg": "a=b"
    }
    with pytest.raises(ValueError):
        broker_passwords.parse_passwords("no-separator\n")
    assert federation.parse_peer("ml=rabbitmq-ml") == federation.Peer("ML", "rabbitmq-ml", 5671)
    assert federation.parse_peer("NE=broker.ne.example:5999").port == 5999
    for bad in ("ML", "MLI=host", "ML="):
        with pytest.raises(ValueError):
            federation.parse_peer(bad)
    with pytest.raises(ValueError):
        federation.national_definitions("TG", {"TG": "rabbitmq-tg"})


def test_the_cli_refuses_a_bad_peer_and_writes_hashes_with_a_passwords_file(tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["topology", "national", "--country", "TG", "--peer", "ML"])
    assert result.exit_code != 0 and "COUNTRY=HOST" in result.output
    defs = _expected("ML")
    secrets_file = tmp_path / "passwords"
    secrets_file.write_text("".join(f"{n}=pw-{n}\n" for n in broker_passwords.password_users(defs)))
    out = tmp_path / "definitions.json"
    args = ["topology", "national", "--country", "ML", "--peer", "TG=rabbitmq-tg"]
    result = runner.invoke(
        main, [*args, "--passwords-file", str(secrets_file), "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.stat().st_mode & 0o777 == 0o600
    users = {u["name"]: u["password_hash"] for u in json.loads(out.read_text())["users"]}
    assert users["federation-tg"] == "" and users["registry-ml"] != ""
