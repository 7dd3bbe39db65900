"""RabbitMQ definitions of one national broker in the distributed network.

Each country runs its own RabbitMQ. `vir.events` is federated between national brokers with the
federation plugin: every broker has one upstream per peer (amqps with peer verification, the link
authenticated by its client certificate), acks upstream only once the downstream confirmed
(`on-confirm`), at most one hop, so an isolated country keeps working on its own broker and
catches up from the upstream queue the peer keeps for it when the link returns.

`deploy/rabbitmq/<country>/definitions.json` is generated from this module
(`vir topology national`) and a test fails when the two drift. The functions are pure: they take
names and return RabbitMQ's definitions format (the one `rabbitmqctl import_definitions` and the
`load_definitions` setting read). No password is ever part of their output: users carry an empty
`password_hash` (no password login possible) until `with_passwords` (broker_passwords.py)
fills in salted hashes at install time; federation users log in with their client certificate
only (EXTERNAL).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote, urlencode

from shared.events.contracts import EVENT_TYPES
from shared.messaging import topology
from shared.messaging.topology import ConsumerSpec

RABBITMQ_VERSION = "3.10.8"  # the definitions format this is tested against
DEFAULT_VHOST = "vir"
TLS_DIR = "/etc/rabbitmq/tls"  # ca.pem, server.pem/.key, client.pem/.key (deploy/tls/make-certs.sh)
FEDERATION_PORT = 5671
FEDERATION_POLICY = "federate-vir-events"
HASHING_ALGORITHM = "rabbit_password_hashing_sha256"
OPERATOR_USER = "operator"

# Upstream settings of every federation link.
ACK_MODE = "on-confirm"  # the upstream message is acked only once the downstream confirmed it
MAX_HOPS = 1  # full mesh: an event never travels further than from its own country to a peer
RECONNECT_DELAY_S = 5
LINK_HEARTBEAT_S = 30

# --- who publishes which event types ------------------------------------------------------------

# A registry publishes these about its own agency only (routing key `<type>.<its code>`).
REGISTRY_OWN_TYPES = tuple(t for t in EVENT_TYPES if t.split(".")[0] in ("volunteer", "placement"))
# A registry publishes these as one of the agencies listed (its code anywhere among them: the
# parties of an agreement in proposal order, the sending then host agency of a match).
REGISTRY_PARTY_TYPES = tuple(
    t
    for t in EVENT_TYPES
    if t.split(".")[0] in ("agreement", "mobility") or t in ("match.accepted", "match.declined")
)
# The matching service: proposals and their outcome, always `<type>.<sending>.<host>`.
MATCHING_TYPES = tuple(
    t for t in EVENT_TYPES if t.startswith("match.") and t not in REGISTRY_PARTY_TYPES
)
NOTIFICATION_TYPES = tuple(t for t in EVENT_TYPES if t.startswith("notification."))
# The partner feed (vir.public) republishes network events, never notification reports.
PUBLIC_TYPES = tuple(t for t in EVENT_TYPES if t not in NOTIFICATION_TYPES)

_CODE = r"[A-Z]{2}"


def _escape(text: str) -> str:
    """Quote regex metacharacters, leaving the rest readable (PCRE and Python agree on these)."""
    return re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", text)


def _types(types: Iterable[str]) -> str:
    return "(?:" + "|".join(_escape(t) for t in sorted(types)) + ")"


def _names(names: Iterable[str]) -> str:
    return "^(?:" + "|".join(_escape(n) for n in names) + ")$"


def registry_routing_keys(agency: str) -> str:
    """Routing keys a registry's relay may publish on vir.events: its own agency's events."""
    code = _escape(agency)
    return (
        f"^{_types(REGISTRY_OWN_TYPES)}\\.{code}$"
        f"|^{_types(REGISTRY_PARTY_TYPES)}(?:\\.{_CODE})*\\.{code}(?:\\.{_CODE})*$"
    )


def matching_routing_keys() -> str:
    return f"^{_types(MATCHING_TYPES)}\\.{_CODE}\\.{_CODE}$"


def notification_routing_keys() -> str:
    return f"^{_types(NOTIFICATION_TYPES)}(?:\\.{_CODE})+$"


def public_routing_keys() -> str:
    return f"^{_types(PUBLIC_TYPES)}(?:\\.{_CODE})+$"


# --- users and their permissions ----------------------------------------------------------------


@dataclass(frozen=True)
class BrokerUser:
    """One user of a national broker and what it may do in the network's vhost.

    `topic_write` maps a topic exchange to the routing keys the user may publish there."""

    name: str
    configure: str
    write: str
    read: str
    topic_write: dict[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()


NOTHING = "^$"


def consumer_user(name: str, spec: ConsumerSpec, extra_write: Sequence[str] = ()) -> BrokerUser:
    """A service consuming `spec`: reads its own queue, may (re)declare only its own queues, and
    writes its retry and dead-letter copies (plus `extra_write` exchanges)."""
    own = [q.name for q in topology.consumer_queues(spec)]
    return BrokerUser(
        name=name,
        configure=_names(own),
        write=_names([topology.RETRY_EXCHANGE, topology.DEAD_LETTER_EXCHANGE, *extra_write]),
        read=_names([spec.queue]),
    )


def relay_user(name: str, routing_keys: str) -> BrokerUser:
    """An outbox relay: publishes on vir.events only, and only `routing_keys` there."""
    return BrokerUser(
        name=name,
        configure=NOTHING,
        write=_names([topology.EVENTS_EXCHANGE]),
        read=NOTHING,
        topic_write={topology.EVENTS_EXCHANGE: routing_keys},
    )


def cluster_name(country: str) -> str:
    """The national broker's cluster name: federation names its upstream exchange and queue
    after the downstream's cluster, vhost and exchange."""
    return f"vir-{country.lower()}"


def federation_user_name(country: str) -> str:
    """The user `country`'s broker logs in as on its peers (its client certificate's CN)."""
    return f"federation-{country.lower()}"


def federation_resources(
    downstream_cluster: str, downstream_vhost: str, exchange: str = topology.EVENTS_EXCHANGE
) -> str:
    """The queue and exchange (`… A` or `… B`) the federation plugin declares on the upstream
    broker for one downstream: `federation: <x> -> <cluster>`, suffixed `:<vhost>:<x>` when the
    downstream's vhost differs from the upstream's (RabbitMQ 3.10's naming)."""
    head = f"federation: {exchange} -> {downstream_cluster}"
    suffix = f":{downstream_vhost}:{exchange}"
    return f"^{_escape(head)}(?:{_escape(suffix)})?(?: [A-Z])?$"


def federation_permissions(
    downstream_cluster: str, downstream_vhost: str, exchange: str = topology.EVENTS_EXCHANGE
) -> dict[str, str]:
    """Permissions, on the upstream vhost, of the user a downstream's federation link logs in as:
    declare and use its own upstream exchange and queue, bind them to `exchange`, nothing else."""
    own = federation_resources(downstream_cluster, downstream_vhost, exchange)
    return {
        "configure": own,
        "write": own,
        "read": f"{own}|{_names([exchange])}",
    }


def federation_user(peer: str, vhost: str) -> BrokerUser:
    perms = federation_permissions(cluster_name(peer), vhost)
    return BrokerUser(
        name=federation_user_name(peer),
        configure=perms["configure"],
        write=perms["write"],
        read=perms["read"],
    )


def national_consumers(country: str, network_services: bool = False) -> list[ConsumerSpec]:
    """The queues on `country`'s broker: its registry's, its notifications instance's, and, on
    the broker of the country hosting them, matching's and the network notifications'."""
    specs = [topology.registry_consumer(country), topology.notifications_consumer(country)]
    if network_services:
        specs += [topology.matching_consumer(), topology.notifications_consumer()]
    return specs


def national_users(
    country: str,
    peers: Iterable[str],
    *,
    network_services: bool = False,
    vhost: str = DEFAULT_VHOST,
) -> list[BrokerUser]:
    """The users of `country`'s broker: its operators (people, administrator), one per service
    process of the country (consumers and outbox relays apart), one per peer's federation link."""
    code = country.lower()
    operator = BrokerUser(OPERATOR_USER, ".*", ".*", ".*", tags=("administrator",))
    users = [
        operator,
        consumer_user(f"registry-{code}", topology.registry_consumer(country)),
        relay_user(f"relay-registry-{code}", registry_routing_keys(country)),
        consumer_user(f"notifications-{code}", topology.notifications_consumer(country)),
        relay_user(f"relay-notifications-{code}", notification_routing_keys()),
    ]
    if network_services:
        # The network notifications also feed partners on vir.public (PII-free events only).
        notifications = replace(
            consumer_user(
                "notifications", topology.notifications_consumer(), [topology.PUBLIC_EXCHANGE]
            ),
            topic_write={topology.PUBLIC_EXCHANGE: public_routing_keys()},
        )
        users += [
            consumer_user("matching", topology.matching_consumer()),
            relay_user("relay-matching", matching_routing_keys()),
            notifications,
            relay_user("relay-notifications", notification_routing_keys()),
        ]
    users += [federation_user(peer, vhost) for peer in sorted(peers)]
    return users


# --- federation upstreams -----------------------------------------------------------------------


@dataclass(frozen=True)
class Peer:
    country: str
    host: str
    port: int = FEDERATION_PORT


def parse_peer(spec: str) -> Peer:
    """`ML=rabbitmq-ml` or `ML=rabbitmq-ml.example.org:5671`."""
    country, sep, address = spec.partition("=")
    host, _, port = address.partition(":")
    country = country.strip().upper()
    if not sep or not re.fullmatch(r"[A-Z]{2}", country) or not host:
        raise ValueError(f"a peer is COUNTRY=HOST[:PORT], e.g. ML=rabbitmq-ml; got {spec!r}")
    return Peer(country, host.strip(), int(port) if port else FEDERATION_PORT)


def upstream_uri(peer: Peer, vhost: str = DEFAULT_VHOST, tls_dir: str = TLS_DIR) -> str:
    """amqps to the peer's broker, verifying its certificate against the network CA and its
    name, logging in with this broker's client certificate (no password anywhere)."""
    query = urlencode(
        {
            "auth_mechanism": "external",
            "cacertfile": f"{tls_dir}/ca.pem",
            "certfile": f"{tls_dir}/client.pem",
            "keyfile": f"{tls_dir}/client.key",
            "verify": "verify_peer",
            "server_name_indication": peer.host,
            "heartbeat": LINK_HEARTBEAT_S,
        },
        safe="/",
    )
    return f"amqps://{peer.host}:{peer.port}/{quote(vhost, safe='')}?{query}"


def upstream_value(uri: str, *, reconnect_delay: int = RECONNECT_DELAY_S) -> dict[str, Any]:
    return {
        "uri": uri,
        "exchange": topology.EVENTS_EXCHANGE,
        "ack-mode": ACK_MODE,
        "max-hops": MAX_HOPS,
        "reconnect-delay": reconnect_delay,
        "trust-user-id": False,
    }


def federation_policy(vhost: str) -> dict[str, Any]:
    return {
        "vhost": vhost,
        "name": FEDERATION_POLICY,
        "pattern": f"^{_escape(topology.EVENTS_EXCHANGE)}$",
        "apply-to": "exchanges",
        "definition": {"federation-upstream-set": "all"},
        "priority": 0,
    }


# --- the whole file -----------------------------------------------------------------------------


def national_definitions(
    country: str,
    peers: Mapping[str, str] | Sequence[Peer],
    *,
    network_services: bool = False,
    vhost: str = DEFAULT_VHOST,
    tls_dir: str = TLS_DIR,
) -> dict[str, Any]:
    """Definitions of `country`'s broker, federated with `peers` ({"ML": "rabbitmq-ml"} or Peer
    list). `network_services`: this broker also hosts matching and the network notifications."""
    country = country.upper()
    if not re.fullmatch(r"[A-Z]{2}", country):
        raise ValueError(f"a country is an ISO 3166 alpha-2 code such as TG, got {country!r}")
    if isinstance(peers, Mapping):
        peer_list = [parse_peer(f"{c}={h}") for c, h in peers.items()]
    else:
        peer_list = list(peers)
    peer_list.sort(key=lambda p: p.country)
    if any(p.country == country for p in peer_list):
        raise ValueError(f"{country} cannot be its own peer")
    users = national_users(
        country, [p.country for p in peer_list], network_services=network_services, vhost=vhost
    )
    out: dict[str, Any] = {
        "rabbit_version": RABBITMQ_VERSION,
        "rabbitmq_version": RABBITMQ_VERSION,
        "global_parameters": [{"name": "cluster_name", "value": cluster_name(country)}],
        "users": [
            {
                "name": u.name,
                "password_hash": "",  # no password login until set at install (with_passwords)
                "hashing_algorithm": HASHING_ALGORITHM,
                "tags": list(u.tags),
                "limits": {},
            }
            for u in users
        ],
        "vhosts": [{"name": vhost, "description": f"VIR Exchange network, broker {country}"}],
        "permissions": [
            {
                "user": u.name,
                "vhost": vhost,
                "configure": u.configure,
                "write": u.write,
                "read": u.read,
            }
            for u in users
        ],
        "topic_permissions": [
            {"user": u.name, "vhost": vhost, "exchange": exchange, "write": keys, "read": NOTHING}
            for u in users
            for exchange, keys in sorted(u.topic_write.items())
        ],
        "parameters": [
            {
                "vhost": vhost,
                "component": "federation-upstream",
                "name": p.country.lower(),
                "value": upstream_value(upstream_uri(p, vhost, tls_dir)),
            }
            for p in peer_list
        ],
        "policies": [federation_policy(vhost)] if peer_list else [],
    }
    out.update(topology.definitions(national_consumers(country, network_services), vhost))
    # kombu keeps a queue's bindings in a set: sort them so that the file is stable.
    out["bindings"].sort(key=lambda b: (b["destination"], b["source"], b["routing_key"]))
    return out
