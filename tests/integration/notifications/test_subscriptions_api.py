"""The partner subscriptions API on a real PostgreSQL database, pinging a real HTTP receiver."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from services.notifications.adapters.orm import Delivery, DeliveryAttempt, Subscription
from services.notifications.config import Options
from services.notifications.dependencies import dependencies
from services.notifications.views import subscriptions as views
from shared.access import authenticate, create_token
from shared.api import base_app
from shared.auth import Role
from tests.integration.notifications.test_webhooks import (
    LOOPBACK,
    Network,
    Receiver,
    aware,
    match_confirmed,
    running_receiver,
    start_network,
)

pytestmark = pytest.mark.integration

BASE = "/api/v1/subscriptions"


@dataclass
class Api:
    net: Network
    app: Flask
    tokens: dict[str, str] = field(default_factory=dict)
    token_ids: dict[str, str] = field(default_factory=dict)

    def call(self, method: str, path: str, who: str | None = "ministry", **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return self.app.test_client().open(path, method=method, headers=headers, **kwargs)

    def create(self, url: str, who: str = "ministry", **overrides: Any) -> Any:
        body = {
            "partner": "Ministère de la Jeunesse",
            "owner_email": "webhooks@ministere.example",
            "url": url,
            "patterns": ["match.#"],
            **overrides,
        }
        return self.call("POST", BASE, who, json=body)

    def count(self) -> int:
        with self.net.runtime.sessions() as session:
            return session.scalar(select(func.count()).select_from(Subscription)) or 0


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as receiver:
        yield receiver


def make_app(net: Network) -> Flask:
    """The service's app once the blueprint is wired into create_app; until then, the same
    pieces assembled here."""
    try:
        from services.notifications.api import create_app

        app = create_app(runtime=net.runtime)
        if any(rule.rule.startswith(BASE) for rule in app.url_map.iter_rules()):
            return app
    except ImportError:  # pragma: no cover
        pass
    app, api = base_app(__name__, net.runtime, "VIR Exchange notifications")
    app.before_request(authenticate)
    views.register(api)
    return app


@pytest.fixture
def api(pg_url: str) -> Iterator[Api]:
    net = start_network(pg_url, Options(webhook_allowed_hosts=LOOPBACK))
    client = Api(net, make_app(net))
    with net.runtime.engine.begin() as conn:
        for who, role, agency in [
            ("ministry", Role.PARTNER, "TG"),
            ("ngo", Role.PARTNER, "ML"),
            ("admin", Role.ADMIN, "TG"),
            ("admin@ML", Role.ADMIN, "ML"),
            ("staff", Role.STAFF, "TG"),
            ("node", Role.NODE, "ML"),
        ]:
            client.token_ids[who], client.tokens[who] = create_token(conn, agency, role, who)
    yield client
    net.runtime.shutdown()


def test_a_partner_creates_a_subscription_and_sees_its_secret_once(api, receiver):
    created = api.create(receiver.url, patterns=["agreement.#", "#.ML.#", "match.confirmed.*.*"])

    assert created.status_code == 201, created.json
    sub = created.json
    assert sub["secret"].startswith("whsec_") and len(sub["secret"]) > 40
    assert sub["status"] == "active" and sub["url"] == receiver.url
    assert sub["patterns"] == ["agreement.#", "#.ML.#", "match.confirmed.*.*"]
    Webhook(sub["secret"])  # the format the standardwebhooks library expects

    listed = api.call("GET", BASE)
    assert listed.status_code == 200
    assert [s["id"] for s in listed.json] == [sub["id"]]
    assert "secret" not in listed.json[0]
    assert '"total": 1' in listed.headers["X-Pagination"]
    one = api.call("GET", f"{BASE}/{sub['id']}")
    assert one.status_code == 200 and "secret" not in one.json
    with api.net.runtime.sessions() as session:
        stored = session.get(Subscription, sub["id"])
        assert stored is not None and stored.created_by == api.token_ids["ministry"]


def test_ping_sends_a_signed_webhook_and_says_what_the_receiver_answered(api, receiver):
    sub = api.create(receiver.url).json

    ping = api.call("POST", f"{BASE}/{sub['id']}/ping")

    assert ping.status_code == 200
    assert ping.json == {"delivered": True, "status": 200, "answer": "HTTP 200: ok"}
    [request] = receiver.requests
    payload = Webhook(sub["secret"]).verify(request.body, request.headers)
    assert payload["type"] == "vir.ping" and payload["data"] == {"subscription_id": sub["id"]}

    receiver.answer((503, {}, b"maintenance"))
    down = api.call("POST", f"{BASE}/{sub['id']}/ping")
    assert down.json == {"delivered": False, "status": 503, "answer": "HTTP 503: maintenance"}


def test_rotating_the_secret_voids_the_old_one_at_once(api, receiver):
    sub = api.create(receiver.url).json

    rotated = api.call("POST", f"{BASE}/{sub['id']}/rotate-secret")

    assert rotated.status_code == 200
    new_secret = rotated.json["secret"]
    assert new_secret.startswith("whsec_") and new_secret != sub["secret"]
    assert api.call("POST", f"{BASE}/{sub['id']}/ping").json["delivered"] is True
    [request] = receiver.requests
    with pytest.raises(WebhookVerificationError):
        Webhook(sub["secret"]).verify(request.body, request.headers)
    assert Webhook(new_secret).verify(request.body, request.headers)["type"] == "vir.ping"


def test_a_paused_subscription_keeps_its_deliveries_waiting_until_resumed(api, receiver):
    net = api.net
    sub = api.create(receiver.url).json
    net.publish(match_confirmed())

    paused = api.call("POST", f"{BASE}/{sub['id']}/pause")
    assert paused.status_code == 200 and paused.json["status"] == "paused"
    net.run_at(net.clock.now)

    [delivery] = net.webhook_deliveries(sub["id"])
    waiting = net.delivery(delivery.id)
    assert waiting.status == "pending" and waiting.last_error == "subscription paused"
    assert [a.outcome for a in net.attempts(delivery.id)] == ["retry"]
    assert receiver.requests == []
    assert net.subscription(sub["id"]).failing_since is None, "paused is not failing"
    net.publish(match_confirmed(2))
    assert len(net.webhook_deliveries(sub["id"])) == 1, "no new deliveries while paused"

    resumed = api.call("POST", f"{BASE}/{sub['id']}/resume")
    assert resumed.status_code == 200 and resumed.json["status"] == "active"
    net.run_at(aware(waiting.next_attempt_at))

    assert net.delivery(delivery.id).status == "sent"
    [request] = receiver.requests
    Webhook(sub["secret"]).verify(request.body, request.headers)


def test_deleting_a_subscription_cancels_what_it_still_had_to_receive(api, receiver):
    net = api.net
    sub = api.create(receiver.url).json
    net.publish(match_confirmed())

    deleted = api.call("DELETE", f"{BASE}/{sub['id']}")

    assert deleted.status_code == 204
    assert api.call("GET", f"{BASE}/{sub['id']}").status_code == 404
    assert api.call("GET", BASE).json == []
    [delivery] = net.webhook_deliveries(sub["id"])
    assert net.delivery(delivery.id).status == "cancelled"
    net.run_at(net.clock.now + timedelta(hours=1))
    assert receiver.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "notaurl",
        "ftp://x",
        "https://",
        "https://10.0.0.5/hook",
        "https://192.168.1.10/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://0.0.0.0/hook",
        "http://localhost:8000",
        "https://example.org:99999/",
    ],
)
def test_a_url_that_may_not_receive_webhooks_is_refused_with_a_field_error(api, url):
    answer = api.create(url)

    assert answer.status_code == 422, answer.json
    assert list(answer.json["errors"]["json"]) == ["url"]
    assert answer.json["errors"]["json"]["url"][0]
    assert api.count() == 0


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1:9150\\@8.8.8.8/",
        "https://8.8.8.8\\@127.0.0.1:9150/",
        "https://user:secret@example.org/hook",
        "https://8.8.8.8@127.0.0.1/hook",
        "https://example.org/ho ok",
        "https://example.org/hook\tx",
    ],
)
def test_a_url_read_differently_by_two_parsers_is_refused(api, receiver, url):
    # 127.0.0.1 is allowed here, so only the URL's form can refuse these.
    answer = api.create(url)

    assert answer.status_code == 422, answer.json
    assert list(answer.json["errors"]["json"]) == ["url"]
    assert api.count() == 0
    assert receiver.requests == []


def test_the_url_stored_is_the_one_parsed_and_checked(api, receiver):
    created = api.create(receiver.url + "/a b".replace(" ", "%20") + "?x=1")
    assert created.status_code == 201, created.json
    assert created.json["url"] == receiver.url + "/a%20b?x=1"


def test_loopback_needs_the_operator_allow_list(api, receiver):
    dependencies(api.net.runtime).options = Options()
    refused = api.create(receiver.url)
    assert refused.status_code == 422
    assert "https" in refused.json["errors"]["json"]["url"][0]
    https = api.create(receiver.url.replace("http://", "https://"))
    assert https.status_code == 422
    assert "private" in https.json["errors"]["json"]["url"][0]

    dependencies(api.net.runtime).options = Options(webhook_allowed_hosts=LOOPBACK)
    assert api.create(receiver.url).status_code == 201


@pytest.mark.parametrize(
    "patterns",
    [["agreemnt.#"], ["#.QQ.#"], ["match..#"], ["#.ml.#"], ["match.#", "Match.confirmed"], []],
)
def test_an_unknown_pattern_is_refused_with_a_field_error(api, receiver, patterns):
    answer = api.create(receiver.url, patterns=patterns)

    assert answer.status_code == 422, answer.json
    assert list(answer.json["errors"]["json"]) == ["patterns"]
    assert api.count() == 0


def test_bad_url_and_bad_pattern_are_both_reported(api):
    answer = api.create("ftp://x", patterns=["agreemnt.#"])
    assert answer.status_code == 422
    errors = answer.json["errors"]["json"]
    assert "agreemnt" in errors["patterns"][0] and errors["url"]


def test_missing_or_malformed_fields_are_refused(api, receiver):
    answer = api.call("POST", BASE, json={"url": receiver.url, "extra": 1})
    assert answer.status_code == 422
    errors = answer.json["errors"]["json"]
    assert {"partner", "owner_email", "patterns", "extra"} <= set(errors)
    bad_mail = api.create(receiver.url, owner_email="not-an-address")
    assert bad_mail.status_code == 422 and "owner_email" in bad_mail.json["errors"]["json"]
    assert api.count() == 0


def test_only_admin_and_partner_tokens_may_call_it(api, receiver):
    assert api.call("GET", BASE, who=None).status_code == 401
    assert api.create(receiver.url, who="staff").status_code == 403
    assert api.call("GET", BASE, who="staff").status_code == 403
    assert api.call("GET", BASE, who="node").status_code == 403
    assert api.count() == 0


def test_a_partner_sees_and_changes_only_its_own_subscriptions(api, receiver):
    mine = api.create(receiver.url).json
    theirs = api.create(receiver.url, who="ngo").json

    assert [s["id"] for s in api.call("GET", BASE).json] == [mine["id"]]
    for method, path in [
        ("GET", ""),
        ("POST", "/pause"),
        ("POST", "/resume"),
        ("POST", "/rotate-secret"),
        ("POST", "/ping"),
        ("DELETE", ""),
    ]:
        assert api.call(method, f"{BASE}/{theirs['id']}{path}").status_code == 404, path
    assert receiver.requests == []
    assert api.net.subscription(theirs["id"]).secret == theirs["secret"]

    # TG's admin sees and changes its own agency's partners' subscriptions, never ML's.
    tg_admin = api.call("GET", BASE, who="admin").json
    assert [s["id"] for s in tg_admin] == [mine["id"]]
    assert api.call("POST", f"{BASE}/{mine['id']}/pause", who="admin").status_code == 200
    for method, path in [("GET", ""), ("POST", "/pause"), ("POST", "/resume"), ("DELETE", "")]:
        answer = api.call(method, f"{BASE}/{theirs['id']}{path}", who="admin")
        assert answer.status_code == 404, path
    assert api.net.subscription(theirs["id"]).status == "active"
    ml_admin = api.call("GET", BASE, who="admin@ML").json
    assert [s["id"] for s in ml_admin] == [theirs["id"]]
    assert api.call("DELETE", f"{BASE}/{mine['id']}", who="admin@ML").status_code == 404


def test_lists_are_paginated(api, receiver):
    ids = [api.create(receiver.url).json["id"] for _ in range(3)]

    page = api.call("GET", f"{BASE}?page=2&page_size=2")

    assert page.status_code == 200 and len(page.json) == 1
    assert '"total": 3' in page.headers["X-Pagination"]
    assert {s["id"] for s in api.call("GET", f"{BASE}?page_size=100").json} == set(ids)


def test_the_api_is_described_in_openapi(api):
    spec = api.call("GET", "/api/v1/openapi.json", who=None).json
    assert f"{BASE}/{{subscription_id}}/rotate-secret" in spec["paths"]
    assert "secret" not in spec["components"]["schemas"]["SubscriptionOut"]["properties"]


def test_deliveries_and_attempts_stay_for_the_record(api, receiver):
    """A delivery made before a deletion keeps its log (the delivery log is the audit trail)."""
    net = api.net
    sub = api.create(receiver.url).json
    net.publish(match_confirmed())
    net.run_at(net.clock.now)
    assert api.call("DELETE", f"{BASE}/{sub['id']}").status_code == 204
    with net.runtime.sessions() as session:
        [delivery] = session.scalars(
            select(Delivery).where(Delivery.recipient_id == sub["id"])
        ).all()
        assert delivery.status == "sent"
        assert session.scalar(
            select(func.count()).where(DeliveryAttempt.delivery_id == delivery.id)
        )
