"""Partner webhooks end to end: a real PostgreSQL database, a real HTTP receiver on loopback (the
operator's allow-list permits it), the dispatcher driven by a fake clock."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from services.notifications import handlers, subscriptions
from services.notifications.adapters.orm import Delivery, DeliveryAttempt, Subscription
from services.notifications.adapters.webhook import WebhookChannel, message_id
from services.notifications.bootstrap import bootstrap
from services.notifications.config import Options, load_settings
from services.notifications.dependencies import dependencies
from services.notifications.dispatch import Dispatcher
from services.notifications.domain.messages import Notification
from services.notifications.domain.retry import JITTER, WEBHOOK_SCHEDULE
from services.notifications.webhook_urls import AddressRefused
from shared.events import Event, new_event
from shared.events.examples import EXAMPLES
from shared.migrations import upgrade
from shared.runtime import Runtime

pytestmark = pytest.mark.integration

LOOPBACK = ("127.0.0.1",)
PERSONAL = ("name", "email", "phone", "contact", "birth", "identity", "gender", "address")


# -- a real HTTP receiver -------------------------------------------------------------------------


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    status: int


Reply = tuple[int, dict[str, str], bytes]


@dataclass
class Receiver:
    """A partner's endpoint on 127.0.0.1: records every request and answers from a script (one
    reply per request, the last one repeated), 200 when none is given."""

    script: list[Reply | int] = field(default_factory=list)
    delay: float = 0.0
    requests: list[Received] = field(default_factory=list)
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, *replies: Reply | int) -> None:
        with self._lock:
            self.script = list(replies)

    def _next(self) -> Reply:
        with self._lock:
            reply = self.script.pop(0) if len(self.script) > 1 else (self.script or [200])[0]
        return (reply, {}, b"ok") if isinstance(reply, int) else reply

    @property
    def delivered(self) -> list[Received]:
        return [r for r in self.requests if 200 <= r.status < 300]

    def make_handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if receiver.delay:
                    time.sleep(receiver.delay)  # a slow receiver, to trip the sender's timeout
                status, headers, reply = receiver._next()
                receiver.requests.append(Received(dict(self.headers.items()), body, status))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            do_GET = do_POST  # noqa: N815 - a redirect target must not be requested either

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), receiver.make_handler())
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/vir"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as receiver:
        yield receiver


# -- the network instance, with fakes for the channels that are not under test --------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC) + timedelta(seconds=1)

    def __call__(self) -> datetime:
        return self.now


class FakeFeed:
    name = "amqp"

    def __init__(self) -> None:
        self.sent: list[Notification] = []

    def send(self, notification: Notification) -> str:
        self.sent.append(notification)
        return "confirmed"


class FakeMail:
    name = "email"

    def __init__(self) -> None:
        self.sent: list[Notification] = []

    def send(self, notification: Notification) -> str:
        self.sent.append(notification)
        return "250 queued"


@dataclass
class Network:
    runtime: Runtime
    dispatcher: Dispatcher
    clock: FakeClock
    mail: FakeMail
    options: Options

    def subscribe(self, url: str, patterns: list[str] | None = None) -> Subscription:
        with self.runtime.sessions.begin() as session:
            return subscriptions.create(
                session,
                partner="Ministère de la Jeunesse",
                owner_email="webhooks@ministere.example",
                url=url,
                patterns=patterns or ["match.#"],
                created_by="tok-test",
                allowed_hosts=self.options.webhook_allowed_hosts,
            )

    def publish(self, event: Event) -> None:
        """What the consumer does with an event: stage its deliveries in one transaction."""
        with self.runtime.sessions.begin() as session:
            handlers.handle(session, event, agency=None)

    def run_at(self, at: datetime) -> int:
        self.clock.now = at
        return self.dispatcher.run_once()

    def webhook_deliveries(self, subscription_id: str) -> list[Delivery]:
        with self.runtime.sessions() as session:
            return list(
                session.scalars(
                    select(Delivery)
                    .where(Delivery.recipient_id == subscription_id, Delivery.channel == "webhook")
                    .order_by(Delivery.created_at)
                )
            )

    def delivery(self, delivery_id: str) -> Delivery:
        with self.runtime.sessions() as session:
            found = session.get(Delivery, delivery_id)
            assert found is not None
            return found

    def attempts(self, delivery_id: str) -> list[DeliveryAttempt]:
        with self.runtime.sessions() as session:
            return list(
                session.scalars(
                    select(DeliveryAttempt)
                    .where(DeliveryAttempt.delivery_id == delivery_id)
                    .order_by(DeliveryAttempt.id)
                )
            )

    def subscription(self, subscription_id: str) -> Subscription:
        with self.runtime.sessions() as session:
            found = session.get(Subscription, subscription_id)
            assert found is not None
            return found

    def owner_mails(self, subscription_id: str) -> list[Delivery]:
        with self.runtime.sessions() as session:
            return list(
                session.scalars(
                    select(Delivery).where(
                        Delivery.recipient_id == subscription_id, Delivery.channel == "email"
                    )
                )
            )


def start_network(pg_url: str, options: Options, webhook: WebhookChannel | None = None) -> Network:
    """The network instance (no AGENCY_CODE) as bootstrap builds it, with a fake clock; the real
    webhook channel is given the same allow-list as the options."""
    upgrade("notifications", pg_url)
    settings = load_settings({"DATABASE_URL": pg_url, "AMQP_URL": "memory://"})
    mail = FakeMail()
    channels = {
        "webhook": webhook or WebhookChannel(allowed_hosts=options.webhook_allowed_hosts),
        "amqp": FakeFeed(),
        "email": mail,
    }
    runtime = bootstrap(settings, options=options, channels=channels)
    dispatcher: Dispatcher = dependencies(runtime).dispatcher
    clock = FakeClock()
    dispatcher.clock = clock
    return Network(runtime, dispatcher, clock, mail, options)


@pytest.fixture
def network(pg_url: str) -> Iterator[Network]:
    net = start_network(pg_url, Options(webhook_allowed_hosts=LOOPBACK))
    yield net
    net.runtime.shutdown()


def match_confirmed(n: int = 1) -> Event:
    agencies, data = EXAMPLES["match.confirmed"]
    return new_event(
        "match.confirmed",
        source="/network/matching",
        subject=f"m-{n:04d}",
        agencies=agencies,
        data={**data, "match_id": f"m-{n:04d}"},
    )


def drive(
    net: Network, delivery_id: str, until: Callable[[Delivery], bool], limit: int = 20
) -> None:
    """Run the dispatcher at each next attempt time of `delivery_id` until `until` holds."""
    for _ in range(limit):
        d = net.delivery(delivery_id)
        if until(d):
            return
        assert d.status == "pending", f"delivery ended {d.status}: {d.last_error}"
        net.run_at(aware(d.next_attempt_at))
    raise AssertionError(f"{delivery_id} still not done after {limit} rounds")


def gaps(attempts: list[DeliveryAttempt]) -> list[timedelta]:
    times = [aware(a.at) for a in attempts]
    return [b - a for a, b in zip(times, times[1:], strict=False)]


def within_jitter(gap: timedelta, base: timedelta) -> bool:
    # Microseconds are lost when PostgreSQL stores the times: allow a millisecond on each side.
    slack = timedelta(milliseconds=1)
    return base * (1 - JITTER) - slack <= gap <= base * (1 + JITTER) + slack


def aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# -- tests ----------------------------------------------------------------------------------------


def test_partner_receives_a_signed_webhook_without_personal_data(network, receiver):
    sub = network.subscribe(receiver.url, ["match.#"])
    other = network.subscribe(receiver.url, ["agreement.#"])
    network.publish(match_confirmed())

    network.run_at(network.clock.now)

    assert len(receiver.requests) == 1, "only the match.# subscription is told"
    request = receiver.requests[0]
    payload = Webhook(sub.secret).verify(request.body, request.headers)
    assert payload["type"] == "match.confirmed"
    assert payload["data"] == {
        "match_id": "m-0001",
        "agreement_id": "agr-tg-ml-2017",
        "placement_id": "pl-ml-0001",
        "sending_agency": "TG",
        "host_agency": "ML",
    }
    assert "vol-tg-0001" not in request.body.decode(), "not even the volunteer's opaque id"
    keys = _keys(payload)
    assert not [k for k in keys if any(word in k.lower() for word in PERSONAL)], keys
    assert request.headers["content-type"] == "application/json"
    [delivery] = network.webhook_deliveries(sub.id)
    assert request.headers["webhook-id"] == message_id(delivery.idempotency_key)
    assert delivery.status == "sent"
    assert network.attempts(delivery.id)[0].provider_answer == "HTTP 200"
    assert network.webhook_deliveries(other.id) == []

    tampered = request.body.replace(b'"host_agency":"ML"', b'"host_agency":"NE"')
    assert tampered != request.body
    with pytest.raises(WebhookVerificationError):
        Webhook(sub.secret).verify(tampered, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(subscriptions.new_secret()).verify(request.body, request.headers)


def _keys(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [k for k, v in value.items() for k in [k, *_keys(v)]]
    if isinstance(value, list):
        return [k for item in value for k in _keys(item)]
    return []


def test_receiver_down_for_a_while_gets_the_event_exactly_once_on_schedule(network, receiver):
    sub = network.subscribe(receiver.url)
    receiver.answer(503, 503, 503, 200)
    network.publish(match_confirmed())
    [delivery] = network.webhook_deliveries(sub.id)

    network.run_at(network.clock.now)
    pending = network.delivery(delivery.id)
    assert pending.status == "pending" and pending.attempts == 1
    # Nothing happens before the next attempt is due.
    assert network.run_at(aware(pending.next_attempt_at) - timedelta(milliseconds=10)) == 0
    assert len(receiver.requests) == 1
    assert network.subscription(sub.id).failing_since is not None

    drive(network, delivery.id, until=lambda d: d.status == "sent")
    # Later rounds, hours and days on, send nothing again.
    network.run_at(network.clock.now + timedelta(days=4))

    assert [r.status for r in receiver.requests] == [503, 503, 503, 200]
    assert len(receiver.delivered) == 1
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1, "one id for retries"
    for request in receiver.requests:
        Webhook(sub.secret).verify(request.body, request.headers)
    attempts = network.attempts(delivery.id)
    assert [a.outcome for a in attempts] == ["retry", "retry", "retry", "sent"]
    assert attempts[0].provider_answer == "HTTP 503: ok"
    for gap, base in zip(gaps(attempts), WEBHOOK_SCHEDULE, strict=False):
        assert within_jitter(gap, base), (gap, base)
    assert network.subscription(sub.id).failing_since is None
    assert network.subscription(sub.id).status == "active"


@pytest.mark.parametrize(
    "retry_after, expected",
    [
        ("120", timedelta(seconds=120)),
        (None, timedelta(minutes=10)),  # an HTTP-date ten minutes ahead
    ],
)
def test_retry_after_is_honoured(network, receiver, retry_after, expected):
    if retry_after is None:
        retry_after = format_datetime(datetime.now(UTC) + expected, usegmt=True)
    sub = network.subscribe(receiver.url)
    receiver.answer((429, {"Retry-After": retry_after}, b"slow down"), 200)
    network.publish(match_confirmed())
    [delivery] = network.webhook_deliveries(sub.id)

    first = network.clock.now
    network.run_at(first)

    delay = aware(network.delivery(delivery.id).next_attempt_at) - first
    assert expected - timedelta(seconds=5) <= delay <= expected, delay
    assert network.run_at(first + delay - timedelta(seconds=1)) == 0
    assert len(receiver.requests) == 1
    network.run_at(first + delay)
    assert [r.status for r in receiver.requests] == [429, 200]
    assert network.delivery(delivery.id).status == "sent"


def test_410_disables_the_subscription_cancels_its_deliveries_and_tells_the_owner(
    network, receiver
):
    sub = network.subscribe(receiver.url)
    receiver.answer(503)
    network.publish(match_confirmed(1))
    network.run_at(network.clock.now)
    [waiting] = network.webhook_deliveries(sub.id)
    assert network.delivery(waiting.id).status == "pending"

    receiver.answer((410, {}, b"this endpoint is retired"))
    network.publish(match_confirmed(2))
    network.run_at(network.clock.now)  # only the new delivery is due

    gone = next(d for d in network.webhook_deliveries(sub.id) if d.id != waiting.id)
    assert network.delivery(gone.id).status == "failed"
    assert [a.outcome for a in network.attempts(gone.id)] == ["gone"]
    assert "this endpoint is retired" in network.attempts(gone.id)[0].provider_answer
    assert network.delivery(waiting.id).status == "cancelled"
    disabled = network.subscription(sub.id)
    assert disabled.status == "disabled" and "410" in disabled.disabled_reason

    # The owner's e-mail is staged with the disabling, and due at once (same dispatcher round).
    [mail] = network.owner_mails(sub.id)
    assert mail.mandatory and mail.category == "partners" and mail.recipient_kind == "partner"
    assert mail.payload["url"] == receiver.url and "410" in mail.payload["reason"]
    assert mail.status == "sent"
    [sent] = network.mail.sent
    assert sent.recipient.address == "webhooks@ministere.example"
    assert sent.payload["subscription_id"] == sub.id

    network.publish(match_confirmed(3))  # a disabled subscription is not told any more
    network.run_at(network.clock.now + timedelta(days=2))
    assert len(network.webhook_deliveries(sub.id)) == 2
    assert [r.status for r in receiver.requests] == [503, 410]
    assert len(network.mail.sent) == 1


def test_endpoint_failing_for_more_than_three_days_is_disabled_and_its_owner_told(
    network, receiver
):
    sub = network.subscribe(receiver.url)
    receiver.answer(503)
    network.publish(match_confirmed(1))
    [first] = network.webhook_deliveries(sub.id)

    drive(network, first.id, until=lambda d: d.status != "pending")

    attempts = network.attempts(first.id)
    assert [a.outcome for a in attempts] == ["retry"] * len(WEBHOOK_SCHEDULE) + ["failed"]
    for gap, base in zip(gaps(attempts), WEBHOOK_SCHEDULE, strict=True):
        assert within_jitter(gap, base), (gap, base)
    failing_since = aware(network.subscription(sub.id).failing_since)
    assert failing_since == aware(attempts[0].at)
    assert network.subscription(sub.id).status == "active", "a day and a half is not enough"

    network.publish(match_confirmed(2))
    network.run_at(failing_since + timedelta(days=3, minutes=1))

    disabled = network.subscription(sub.id)
    assert disabled.status == "disabled"
    assert disabled.disabled_reason.startswith("failing since")
    [mail] = network.owner_mails(sub.id)
    assert "failing since" in mail.payload["reason"]
    network.run_at(network.clock.now + timedelta(minutes=1))
    assert [n.recipient.address for n in network.mail.sent] == ["webhooks@ministere.example"]
    assert not receiver.delivered


def test_redirects_are_not_followed_and_fail_the_delivery(network, receiver):
    sub = network.subscribe(receiver.url)
    receiver.answer((302, {"Location": receiver.url + "/elsewhere"}, b""))
    network.publish(match_confirmed())
    network.run_at(network.clock.now)

    [delivery] = network.webhook_deliveries(sub.id)
    assert network.delivery(delivery.id).status == "failed"
    assert "redirect" in network.delivery(delivery.id).last_error
    assert len(receiver.requests) == 1


def test_other_client_errors_fail_at_once(network, receiver):
    sub = network.subscribe(receiver.url)
    receiver.answer((400, {}, b"x" * 2000))
    network.publish(match_confirmed())
    network.run_at(network.clock.now)

    [delivery] = network.webhook_deliveries(sub.id)
    assert network.delivery(delivery.id).status == "failed"
    [attempt] = network.attempts(delivery.id)
    assert attempt.outcome == "failed"
    assert attempt.provider_answer == "HTTP 400: " + "x" * 500


def test_a_receiver_slower_than_the_timeout_is_retried(pg_url, receiver):
    options = Options(webhook_allowed_hosts=LOOPBACK)
    net = start_network(pg_url, options, WebhookChannel(timeout=0.2, allowed_hosts=LOOPBACK))
    try:
        sub = net.subscribe(receiver.url)
        receiver.delay = 1.0
        net.publish(match_confirmed())
        net.run_at(net.clock.now)
        [delivery] = net.webhook_deliveries(sub.id)
        assert net.delivery(delivery.id).status == "pending"
        assert net.attempts(delivery.id)[0].outcome == "retry"
        assert "no answer" in net.attempts(delivery.id)[0].reason
    finally:
        net.runtime.shutdown()


def test_a_loopback_url_is_refused_at_send_time_without_the_allow_list(pg_url, receiver):
    """The operator's allow-list changed since the subscription was made (or its host now
    resolves elsewhere): nothing is sent."""
    net = start_network(
        pg_url, Options(webhook_allowed_hosts=LOOPBACK), WebhookChannel(allowed_hosts=())
    )
    try:
        sub = net.subscribe(receiver.url)
        net.publish(match_confirmed())
        net.run_at(net.clock.now)
        [delivery] = net.webhook_deliveries(sub.id)
        assert net.delivery(delivery.id).status == "failed"
        assert "refused" in net.delivery(delivery.id).last_error
        assert receiver.requests == []
    finally:
        net.runtime.shutdown()


def test_the_connection_itself_is_refused_when_its_peer_is_private(receiver):
    """Even past the DNS check (a rebinding DNS answers differently the second time), the
    address actually connected to is checked."""
    channel = WebhookChannel(allowed_hosts=())
    try:
        with pytest.raises(AddressRefused):
            channel.session.post(receiver.url, data=b"{}", timeout=5)
    finally:
        channel.close()
    assert receiver.requests == []
    allowed = WebhookChannel(allowed_hosts=("127.0.0.0/8",))
    try:
        assert allowed.session.post(receiver.url, data=b"{}", timeout=5).status_code == 200
    finally:
        allowed.close()


def test_the_payload_is_compact_json(network, receiver):
    sub = network.subscribe(receiver.url)
    network.publish(match_confirmed())
    network.run_at(network.clock.now)
    [request] = receiver.requests
    [delivery] = network.webhook_deliveries(sub.id)
    assert request.body == json.dumps(delivery.payload, separators=(",", ":")).encode()


def test_a_stored_url_that_two_parsers_read_differently_is_never_fetched(receiver):
    """A URL stored before the check was tightened: `urllib.parse` reads 8.8.8.8 in it, urllib3
    (which fetches) the loopback receiver. It is refused before any connection."""
    from services.notifications.domain.messages import Notification, Recipient, Undeliverable

    host_port = receiver.url.removeprefix("http://").split("/", 1)[0]
    channel = WebhookChannel(allowed_hosts=LOOPBACK)
    notification = Notification(
        delivery_id="dlv-1",
        idempotency_key="k-1",
        event_id="e-1",
        event_type="match.confirmed",
        category="partners",
        mandatory=False,
        payload={},
        recipient=Recipient(
            "partner", "sub-1", f"http://{host_port}\\@8.8.8.8/", secret="whsec_" + "A" * 44
        ),
    )
    try:
        with pytest.raises(Undeliverable, match="backslash"):
            channel.send(notification)
    finally:
        channel.close()
    assert receiver.requests == []
