"""Federation between national brokers, on the machine's broker: two vhosts stand in for the
brokers of Togo and Mali, linked both ways by federation upstreams on `vir.events`.

Counted like the fault tests: every event arrives on both sides (lost = 0) and no effect is
applied twice, although the link is cut while both countries keep registering volunteers.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import threading
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import amqp
import pytest
from kombu import Connection
from prometheus_client import REGISTRY
from sqlalchemy import Engine

from shared.db import make_engine
from shared.messaging import broker_passwords, federation, topology
from shared.messaging.publisher import ConfirmingPublisher
from shared.outbox import OutboxRelay
from shared.settings import RelaySettings
from tests.support import effects, infra
from tests.support import federation as fed
from tests.support.infra import wait_until
from tests.support.keys import keyring
from tests.support.running import running_consumer, running_relay

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]

BEFORE_CUT = 200  # events per country while the link is up
DURING_CUT = 200  # events per country while it is cut
LINK_TIMEOUT = 120.0


@dataclass
class Country:
    code: str
    vhost: str
    database: str
    link_user: str  # the user this country's link logs in as on its peer (its downstream side)
    link_password: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    engine: Engine | None = None
    written: set[str] = field(default_factory=set)

    @property
    def url(self) -> str:
        return infra.amqp_url(self.vhost)

    def tally(self) -> effects.Tally:
        assert self.engine is not None
        return effects.tally(self.engine)


def _duplicate_deliveries() -> float:
    """Deliveries the effects consumers found in their inbox already (this process, both sides)."""
    labels = {"consumer": effects.SPEC.name, "outcome": "duplicate"}
    return REGISTRY.get_sample_value("vir_events_consumed_total", labels) or 0.0


def test_two_countries_cut_apart_both_keep_working_and_catch_up_with_nothing_lost_or_applied_twice(
    pg_url,
):
    run = uuid.uuid4().hex[:12]
    tg = Country("TG", f"vir-fed-tg-{run}", pg_url, f"vir-fed-link-tg-{run}")
    ml = Country("ML", f"vir-fed-ml-{run}", infra.create_database(), f"vir-fed-link-ml-{run}")
    pairs = [(tg, ml), (ml, tg)]  # (downstream, upstream)
    cluster = fed.cluster_name()
    try:
        with ExitStack() as stack:
            for country in (tg, ml):
                fed.create_vhost(country.vhost)
                fed.create_user(country.link_user, country.link_password)
                country.engine = make_engine(country.database)
                stack.callback(country.engine.dispose)
                effects.prepare_database(country.database, country.engine)
                # As in a deployment, the queues exist before anything flows (definitions).
                with Connection(country.url) as conn:
                    topology.declare(
                        conn.default_channel,
                        [topology.registry_consumer(country.code), effects.SPEC],
                    )
            for down, up in pairs:
                # The downstream's link may use its own upstream exchange and queue, no more.
                fed.set_permissions(
                    up.vhost, down.link_user, federation.federation_permissions(cluster, down.vhost)
                )
                uri = fed.amqp_url_as(down.link_user, down.link_password, up.vhost)
                fed.set_upstream(down.vhost, up.code.lower(), uri, reconnect_delay=1)
                fed.set_federation_policy(down.vhost)
            for down, up in pairs:
                wait_until(
                    lambda d=down: fed.links_running(d.vhost), LINK_TIMEOUT, 0.2, "links running"
                )
                wait_until(
                    lambda u=up: fed.federated_binding(u.vhost, "volunteer.#"),
                    LINK_TIMEOUT,
                    0.2,
                    "the downstream's bindings on the upstream",
                )
            links = {d.vhost: fed.links(d.vhost) for d, _ in pairs}
            for found in links.values():
                assert [(link["status"], link["upstream_exchange"]) for link in found] == [
                    ("running", topology.EVENTS_EXCHANGE)
                ]

            for country in (tg, ml):
                stack.enter_context(
                    running_consumer(
                        country.engine, country.url, effects.SPEC, effects.record_effect
                    )
                )
                stack.enter_context(
                    running_relay(country.engine, country.url, principal=country.code)
                )
            duplicates_before = _duplicate_deliveries()

            # 1. Linked: each side gets its own events and the other's.
            for country in (tg, ml):
                country.written |= fed.write_events(country.engine, country.code, 0, BEFORE_CUT)
            everything = tg.written | ml.written
            for country in (tg, ml):
                wait_until(
                    lambda c=country: c.tally().ids == everything,
                    LINK_TIMEOUT,
                    0.1,
                    f"{country.code} has both countries' first events",
                )

            # 2. Cut: the federation users lose their rights and their connections.
            for down, up in pairs:
                fed.clear_permissions(up.vhost, down.link_user)
            link_users = {tg.link_user, ml.link_user}

            def cut_off() -> bool:
                # The management API lists a connection a few seconds late: close whatever
                # shows up until no link runs (a channel keeps its cached rights otherwise).
                fed.close_connections_of(link_users)
                return all(fed.no_link_running(down.vhost) for down, _ in pairs)

            wait_until(cut_off, LINK_TIMEOUT, 0.2, "links down")

            # 3. Isolated: both keep registering; each still hears itself at once...
            cut = {
                c.code: fed.write_events(c.engine, c.code, BEFORE_CUT, DURING_CUT) for c in (tg, ml)
            }
            for country in (tg, ml):
                wait_until(
                    lambda c=country: cut[c.code] <= c.tally().ids,
                    LINK_TIMEOUT,
                    0.1,
                    f"{country.code} applies its own events while isolated",
                )
            # ...while the other's wait in the upstream queue the link left behind.
            for down, up in pairs:
                queues = fed.upstream_queues(up.vhost)
                assert len(queues) == 1, queues
                wait_until(
                    lambda u=up, q=queues[0]: infra.queue_depth(u.vhost, q) >= DURING_CUT,
                    LINK_TIMEOUT,
                    0.1,
                    f"{up.code}'s events kept for {down.code}",
                )
            for down, up in pairs:
                assert fed.no_link_running(down.vhost), "a link came back while its user is blocked"
                assert not (cut[up.code] & down.tally().ids), "an event crossed a cut link"

            # 4. Restored: the links come back and catch up.
            for down, up in pairs:
                fed.set_permissions(
                    up.vhost, down.link_user, federation.federation_permissions(cluster, down.vhost)
                )
            for down, _ in pairs:
                wait_until(
                    lambda d=down: fed.links_running(d.vhost), LINK_TIMEOUT, 0.2, "links back"
                )
            for country in (tg, ml):
                country.written |= cut[country.code]
            everything = tg.written | ml.written
            assert len(everything) == 2 * (BEFORE_CUT + DURING_CUT)
            for country in (tg, ml):
                wait_until(
                    lambda c=country: c.tally().distinct == len(everything),
                    LINK_TIMEOUT,
                    0.1,
                    f"{country.code} caught up",
                )
            # Quiet: nothing left in flight that could still be applied a second time.
            for country in (tg, ml):
                for queue in [effects.SPEC.queue, *fed.upstream_queues(country.vhost)]:
                    wait_until(
                        lambda c=country, q=queue: infra.queue_depth(c.vhost, q) == 0,
                        LINK_TIMEOUT,
                        0.1,
                        f"{queue} drained",
                    )

        # Consumers and relays stopped: count.
        for country in (tg, ml):
            tally = country.tally()
            lost = everything - tally.ids
            assert len(lost) == 0, f"{country.code}: {len(lost)} events lost"
            assert tally.duplicates == 0, f"{country.code}: {tally.duplicates} applied twice"
            assert tally.ids == everything
        # max-hops 1: an event never comes back to where it was published. An echo would show
        # as a redelivered duplicate of every event; only the few the cut interrupted may be.
        echoed = _duplicate_deliveries() - duplicates_before
        assert echoed < BEFORE_CUT, f"{echoed} duplicate deliveries: events travel in a loop"
    finally:
        fed.clean_up([tg.vhost, ml.vhost], [tg.link_user, ml.link_user])
        infra.drop_database(ml.database)


# -- the generated definitions on a real broker --------------------------------------------------


def _publish(url: str, exchange: str, routing_key: str) -> str | None:
    """Publish one confirmed message; the refusal's text, or None when accepted."""
    parts = Connection(url)
    conn = amqp.Connection(
        f"{parts.hostname}:{parts.port}",
        userid=parts.userid,
        password=parts.password,
        virtual_host=parts.virtual_host,
    )
    try:
        conn.connect()
        channel = conn.channel()
        channel.confirm_select()
        channel.basic_publish(amqp.Message(b"{}", delivery_mode=2), exchange, routing_key)
        channel.exchange_declare(exchange, "topic", passive=True)  # surfaces a refusal
        return None
    except amqp.exceptions.AccessRefused as exc:
        return str(exc)
    finally:
        try:
            conn.close()
        except Exception:  # noqa: BLE001 - the broker may have closed it already
            pass


def test_the_generated_definitions_import_and_each_service_user_is_confined_to_its_role(pg_url):
    run = uuid.uuid4().hex[:12]
    vhost = f"vir-fed-defs-{run}"
    deployed = json.loads((ROOT / "deploy" / "rabbitmq" / "tg" / "definitions.json").read_text())
    scoped, names = fed.scoped_definitions(deployed, vhost, run)
    users = broker_passwords.password_users(deployed)
    passwords = {names[u]: secrets.token_urlsafe(16) for u in users}
    try:
        fed.import_definitions(broker_passwords.with_passwords(scoped, passwords))
        queues = {q["name"] for q in fed.api("GET", f"queues/{vhost}").json()}
        assert {"registry.TG", "notifications.TG", "matching", "notifications"} <= queues
        policies = fed.api("GET", f"policies/{vhost}").json()
        assert [(p["name"], p["apply-to"]) for p in policies] == [
            (federation.FEDERATION_POLICY, "exchanges")
        ]

        def url(user: str) -> str:
            return fed.amqp_url_as(names[user], passwords[names[user]], vhost)

        # The registry's relay publishes its own agency's events, and only those.
        relay = url("relay-registry-tg")
        assert _publish(relay, "vir.events", "volunteer.registered.TG") is None
        assert _publish(relay, "vir.events", "agreement.approved.TG.ML") is None
        assert _publish(relay, "vir.events", "match.accepted.ML.TG") is None
        for forged in ("volunteer.registered.ML", "match.confirmed.TG.ML", "agreement.approved.ML"):
            assert "access to topic" in (_publish(relay, "vir.events", forged) or ""), forged
        assert "access to exchange" in (_publish(relay, "vir.public", "placement.closed.TG") or "")
        # Matching proposes and confirms, it never decides for an agency.
        matching_relay = url("relay-matching")
        assert _publish(matching_relay, "vir.events", "match.proposed.TG.ML") is None
        refused = _publish(matching_relay, "vir.events", "match.accepted.TG.ML")
        assert "access to topic" in (refused or "")
        # The network notifications feed partners on vir.public, never on vir.events.
        notifications = url("notifications")
        assert _publish(notifications, "vir.public", "match.confirmed.TG.ML") is None
        refused = _publish(notifications, "vir.events", "match.confirmed.TG.ML")
        assert "access to exchange" in (refused or "")

        # A consumer reads its own queue only (what the relay published above waits there).
        with Connection(url("registry-tg")) as conn:
            channel = conn.channel()
            wait_until(
                lambda: channel.queue_declare("registry.TG", passive=True).message_count >= 2,
                30,
                what="registry.TG got the agreement and match events",
            )
            assert channel.basic_get("registry.TG") is not None
        with Connection(url("registry-tg")) as conn, pytest.raises(amqp.exceptions.AccessRefused):
            conn.channel().basic_get("matching")
        # The real relay and consumer do their work with these users, topology not declared
        # by them (AMQP_DECLARE_TOPOLOGY=false): a retry goes through vir.retry, a poison
        # message (the bodies published above) to the dead-letter queue.
        engine = make_engine(pg_url)
        effects.prepare_database(pg_url, engine)
        failed_once: set[str] = set()

        def flaky(event, session) -> None:
            if not failed_once:
                failed_once.add(event.id)
                raise RuntimeError("first delivery fails")
            effects.record_effect(event, session)

        relay_publisher = ConfirmingPublisher(
            url("relay-registry-tg"), confirm_timeout=5, heartbeat=10, declare_topology=False
        )
        relay_loop = OutboxRelay(
            engine,
            relay_publisher,
            RelaySettings(idle_delay=0.05),
            signer=keyring().signer("TG"),
        )
        stop = threading.Event()
        thread = threading.Thread(target=relay_loop.run, args=(stop, 0.5), daemon=True)
        spec = topology.notifications_consumer("TG")
        try:
            with running_consumer(
                engine, url("notifications-tg"), spec, flaky, declare_topology=False
            ):
                thread.start()
                written = fed.write_events(engine, "TG", 0, 20)
                wait_until(lambda: effects.tally(engine).ids == written, 60, what="20 effects")
            assert failed_once <= written and effects.tally(engine).duplicates == 0
            assert infra.queue_depth(vhost, spec.dead_letter_queue) >= 1
        finally:
            stop.set()
            thread.join(15)
            engine.dispose()
        # The federation user of the peer has no password at all: certificate only.
        with pytest.raises((amqp.exceptions.AccessRefused, ConnectionError)):
            with Connection(fed.amqp_url_as(names["federation-ml"], "", vhost)) as conn:
                conn.connect()
    finally:
        fed.clean_up([vhost], list(names.values()))


# -- certificates of the links -------------------------------------------------------------------


def _openssl(*args: str) -> str:
    return subprocess.run(
        ["openssl", *args], check=True, capture_output=True, text=True, timeout=60
    ).stdout


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl on this machine")
def test_make_certs_issues_a_network_ca_a_server_cert_per_broker_and_a_client_cert_per_link(
    tmp_path,
):
    script = ROOT / "deploy" / "tls" / "make-certs.sh"
    out = tmp_path / "tls"
    run = subprocess.run(
        [str(script), str(out), "TG=rabbitmq-tg", "ML=rabbitmq-ml"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    ca = out / "ca" / "ca.pem"
    for cc, host in (("tg", "rabbitmq-tg"), ("ml", "rabbitmq-ml")):
        folder = out / cc
        assert sorted(p.name for p in folder.iterdir()) == [
            "ca.pem",
            "client.key",
            "client.pem",
            "server.key",
            "server.pem",
        ]
        for name in ("server.pem", "client.pem"):
            assert _openssl("verify", "-CAfile", str(ca), str(folder / name)).strip().endswith("OK")
        server = _openssl("x509", "-in", str(folder / "server.pem"), "-noout", "-text")
        assert f"DNS:{host}" in server and "TLS Web Server Authentication" in server
        client = _openssl("x509", "-in", str(folder / "client.pem"), "-noout", "-subject")
        assert f"CN = federation-{cc}" in client  # the user its links log in as (EXTERNAL)
        for key in ("server.key", "client.key"):
            assert (folder / key).stat().st_mode & 0o777 == 0o600
    # A second run (a country joins) keeps the CA and the certificates already issued.
    before = (ca.read_bytes(), (out / "tg" / "server.pem").read_bytes())
    again = subprocess.run(
        [str(script), str(out), "TG=rabbitmq-tg", "NE=rabbitmq-ne"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr
    assert (ca.read_bytes(), (out / "tg" / "server.pem").read_bytes()) == before
    assert (out / "ne" / "server.pem").exists()
    bad = subprocess.run([str(script), str(out), "TG"], capture_output=True, timeout=60)
    assert bad.returncode != 0
