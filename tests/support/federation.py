"""Federation between vhosts of the machine's broker, standing in for national brokers, driven
through the management HTTP API; events of any agency for the effects harness."""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import requests
from sqlalchemy import Engine, insert

from shared.db import make_session_factory
from shared.events import Event, new_event
from shared.messaging import federation, topology
from shared.outbox import add_event
from tests.support import effects, infra

FEDERATION_PREFIX = f"federation: {topology.EVENTS_EXCHANGE} -> "


def _auth() -> tuple[str, str]:
    parts = urlsplit(infra.amqp_base_url())
    return parts.username or "guest", parts.password or "guest"


def _q(name: str) -> str:
    return quote(name, safe="")


def api(method: str, path: str, **kwargs: Any) -> requests.Response:
    r = requests.request(
        method, f"{infra.management_url()}/api/{path}", auth=_auth(), timeout=30, **kwargs
    )
    r.raise_for_status()
    return r


def api_quietly(method: str, path: str) -> None:
    """For clean-up: a missing object is fine, so is an error (the rest must still be removed)."""
    try:
        requests.request(method, f"{infra.management_url()}/api/{path}", auth=_auth(), timeout=60)
    except requests.RequestException:
        pass


# -- vhosts, users, permissions ------------------------------------------------------------------


def create_vhost(name: str) -> None:
    """A vhost where the test's own (management) user may do anything."""
    api("PUT", f"vhosts/{_q(name)}")
    set_permissions(name, _auth()[0], {"configure": ".*", "write": ".*", "read": ".*"})


def create_user(name: str, password: str) -> None:
    api("PUT", f"users/{_q(name)}", json={"password": password, "tags": ""})


def set_permissions(vhost: str, user: str, perms: dict[str, str]) -> None:
    api("PUT", f"permissions/{_q(vhost)}/{_q(user)}", json=perms)


def clear_permissions(vhost: str, user: str) -> None:
    api("DELETE", f"permissions/{_q(vhost)}/{_q(user)}")


def close_connections_of(users: set[str]) -> int:
    """Close every connection logged in as one of `users`; return how many were closed."""
    closed = 0
    for conn in api("GET", "connections").json():
        if conn.get("user") in users:
            requests.delete(
                f"{infra.management_url()}/api/connections/{_q(conn['name'])}",
                auth=_auth(),
                headers={"X-Reason": "federation link cut by the test"},
                timeout=30,
            )
            closed += 1
    return closed


def cluster_name() -> str:
    return str(api("GET", "overview").json()["cluster_name"])


def amqp_url_as(user: str, password: str, vhost: str) -> str:
    """amqp://user:password@<the test broker>/<vhost>."""
    parts = urlsplit(infra.amqp_base_url())
    host = parts.hostname or "127.0.0.1"
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}:{parts.port or 5672}"
    return urlunsplit(("amqp", netloc, "/" + _q(vhost), "", ""))


# -- federation ----------------------------------------------------------------------------------


def set_upstream(vhost: str, name: str, uri: str, reconnect_delay: int = 1) -> None:
    value = federation.upstream_value(uri, reconnect_delay=reconnect_delay)
    api("PUT", f"parameters/federation-upstream/{_q(vhost)}/{_q(name)}", json={"value": value})


def set_federation_policy(vhost: str) -> None:
    policy = federation.federation_policy(vhost)
    body = {k: policy[k] for k in ("pattern", "definition", "apply-to", "priority")}
    api("PUT", f"policies/{_q(vhost)}/{_q(policy['name'])}", json=body)


def links(vhost: str) -> list[dict[str, Any]]:
    return list(api("GET", f"federation-links/{_q(vhost)}").json())


def links_running(vhost: str) -> bool:
    found = links(vhost)
    return bool(found) and all(link["status"] == "running" for link in found)


def no_link_running(vhost: str) -> bool:
    return not any(link["status"] == "running" for link in links(vhost))


def federated_binding(upstream_vhost: str, routing_key: str) -> bool:
    """The downstream's binding `routing_key` has reached the upstream's vir.events."""
    bindings = api(
        "GET", f"exchanges/{_q(upstream_vhost)}/{_q(topology.EVENTS_EXCHANGE)}/bindings/source"
    )
    return any(
        b["destination_type"] == "exchange"
        and b["destination"].startswith(FEDERATION_PREFIX)
        and b["routing_key"] == routing_key
        for b in bindings.json()
    )


def upstream_queues(vhost: str) -> list[str]:
    """The queues the federation plugin keeps in `vhost` for its downstreams."""
    return [
        q["name"]
        for q in api("GET", f"queues/{_q(vhost)}").json()
        if q["name"].startswith(FEDERATION_PREFIX)
    ]


def clean_up(vhosts: list[str], users: list[str]) -> None:
    for vhost in vhosts:
        api_quietly("DELETE", f"policies/{_q(vhost)}/{_q(federation.FEDERATION_POLICY)}")
        try:
            names = [link["upstream"] for link in links(vhost)]
        except requests.RequestException:
            names = []
        for name in set(names):
            api_quietly("DELETE", f"parameters/federation-upstream/{_q(vhost)}/{_q(name)}")
    for vhost in vhosts:
        api_quietly("DELETE", f"vhosts/{_q(vhost)}")
    for user in users:
        api_quietly("DELETE", f"users/{_q(user)}")


# -- generated definitions in a scratch vhost ----------------------------------------------------


def scoped_definitions(
    definitions: dict[str, Any], vhost: str, suffix: str
) -> tuple[dict[str, Any], dict[str, str]]:
    """The definitions moved to `vhost`, every user renamed `<name>-<suffix>` (users are global),
    without the broker-wide cluster name; and the renaming."""
    out = copy.deepcopy(definitions)
    out.pop("global_parameters", None)
    names = {u["name"]: f"{u['name']}-{suffix}" for u in out["users"]}
    for user in out["users"]:
        user["name"] = names[user["name"]]
    out["vhosts"] = [{"name": vhost}]
    for section in (
        "permissions",
        "topic_permissions",
        "parameters",
        "policies",
        "exchanges",
        "queues",
        "bindings",
    ):
        for item in out.get(section, []):
            item["vhost"] = vhost
            if "user" in item:
                item["user"] = names[item["user"]]
    return out, names


def import_definitions(definitions: dict[str, Any]) -> None:
    api("POST", "definitions", json=definitions)


# -- events of any agency ------------------------------------------------------------------------


def volunteer_event(n: int, agency: str) -> Event:
    vid = f"vol-{agency.lower()}-{n}"
    return new_event(
        "volunteer.withdrawn",
        source=f"/agencies/{agency}/registry",
        subject=vid,
        agencies=[agency],
        data={"volunteer_id": vid, "agency": agency, "reason": "personal"},
    )


def write_events(engine: Engine, agency: str, first: int, count: int) -> set[str]:
    """`count` business changes of `agency`, each with its event in the same transaction."""
    sessions = make_session_factory(engine)
    ids = set()
    for n in range(first, first + count):
        event = volunteer_event(n, agency)
        with sessions.begin() as session:
            session.execute(insert(effects.changes).values(volunteer_id=event.subject))
            add_event(session, event)
        ids.add(event.id)
    return ids
