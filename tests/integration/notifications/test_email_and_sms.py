"""E-mail and SMS to people, end to end: an agency's notifications instance on a real PostgreSQL
database, a real SMTP server (aiosmtpd) and a real HTTP SMS gateway shaped like Africa's
Talking's, both on loopback. Only the directory of contacts (the registry, over HTTP) is a fake."""

from __future__ import annotations

import email
import email.policy
import json
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from sqlalchemy import select

from services.notifications import handlers
from services.notifications.adapters.directory import Directory
from services.notifications.adapters.email import SmtpChannel, message_id
from services.notifications.adapters.orm import Delivery, DeliveryAttempt
from services.notifications.adapters.sms import FileSmsChannel, HttpSmsGateway, make_sms_channel
from services.notifications.bootstrap import bootstrap
from services.notifications.config import Options, load_settings
from services.notifications.dependencies import dependencies
from services.notifications.dispatch import Dispatcher
from services.notifications.domain.messages import (
    Notification,
    Recipient,
    RetryLater,
    Undeliverable,
)
from services.notifications.rendering import (
    GSM7_BASIC,
    GSM7_EXTENDED,
    SMS_MAX,
    TEMPLATES,
    TRANSLATIONS,
    gsm7_length,
    render,
)
from shared.events import Event, new_event
from shared.events.examples import EXAMPLES
from shared.migrations import upgrade
from shared.runtime import Runtime

pytestmark = pytest.mark.integration

VOLUNTEER = "vol-tg-0001"
VOLUNTEER_EMAIL = "ama.mensah@example.tg"
VOLUNTEER_PHONE = "+228 90 12 34 56"
TG_STAFF_EMAIL = "echanges@anvt.example.tg"
ML_STAFF_EMAIL = "echanges@cnpv.example.ml"
TG_STAFF_PHONE = "+228 22 21 00 00"
ML_STAFF_PHONE = "+223 20 22 00 00"
HOST_ORG = "org-ml-0001"
HOST_ORG_EMAIL = "contact@cscom-sikasso.example.ml"
TITLE = "Animateur·rice de santé communautaire"
HOST_ORG_NAME = "Centre de santé communautaire de Sikasso"


# -- a real SMTP server ---------------------------------------------------------------------------


@dataclass
class Mailbox:
    """aiosmtpd handler: keeps every accepted message; RCPT answers may be scripted per address."""

    messages: list[EmailMessage] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    port: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: ANN001, ANN201, N802
        reply = self.rcpt_replies.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(message)  # type: ignore[arg-type]
            self.raw.append(envelope.content)
        return "250 2.0.0 Ok: queued as 4F2A9C"

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if address in str(m["To"])]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_mailbox(**smtp: Any) -> Iterator[Mailbox]:
    """An SMTP server on loopback; `smtp` goes to aiosmtpd's SMTP (e.g. authentication)."""
    box = Mailbox(port=free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port, **smtp)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with running_mailbox() as box:
        yield box


# -- a real HTTP SMS gateway (Africa's Talking's shape) -------------------------------------------


@dataclass
class Gateway:
    """POST /version1/messaging: records each request; answers from a script (the last reply is
    repeated), a `Success` for the recipient when none is given."""

    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    script: list[tuple[int, dict[str, str], Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, *replies: tuple[int, dict[str, str], Any]) -> None:
        with self._lock:
            self.script = list(replies)

    def _reply(self, to: str) -> tuple[int, dict[str, str], Any]:
        with self._lock:
            if self.script:
                return self.script.pop(0) if len(self.script) > 1 else self.script[0]
        return 201, {}, recipient_status(to, "Success", 101)

    def make_handler(self) -> type[BaseHTTPRequestHandler]:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
                form = {k: v[0] for k, v in parse_qs(body).items()}
                with gateway._lock:
                    gateway.requests.append(
                        {"path": self.path, "headers": dict(self.headers.items()), "form": form}
                    )
                status, headers, reply = gateway._reply(form.get("to", ""))
                if self.path != "/version1/messaging":
                    status, headers, reply = 404, {}, "not found"
                data = (json.dumps(reply) if not isinstance(reply, str) else reply).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


def recipient_status(to: str, status: str, code: int) -> dict[str, Any]:
    sent = 1 if status == "Success" else 0
    return {
        "SMSMessageData": {
            "Message": f"Sent to {sent}/1 Total Cost: XOF 25.0000",
            "Recipients": [
                {
                    "statusCode": code,
                    "number": to,
                    "status": status,
                    "cost": "XOF 25.0000" if sent else "0",
                    "messageId": "ATXid_6c1b3f0e9d" if sent else "None",
                }
            ],
        }
    }


@contextmanager
def running_gateway() -> Iterator[Gateway]:
    gw = Gateway()
    server = ThreadingHTTPServer(("127.0.0.1", 0), gw.make_handler())
    server.daemon_threads = True
    gw.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield gw
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    with running_gateway() as gw:
        yield gw


# -- the agency's instance ------------------------------------------------------------------------


@dataclass
class Person:
    email: str | None = None
    phone: str | None = None
    language: str = "fr"
    name: str | None = None


class FakeDirectory(Directory):
    """The registry's contact lookup, from a dict: (kind, id) -> Person."""

    def __init__(self, people: dict[tuple[str, str], Person]):
        self.people = people

    def resolve(self, kind: str, recipient_id: str, channel: str) -> Recipient:
        person = self.people.get((kind, recipient_id))
        if person is None:
            raise Undeliverable(f"unknown to the registry: {kind} {recipient_id}")
        address = person.email if channel == "email" else person.phone
        if not address:
            raise Undeliverable(f"no {channel} address on file for this {kind}")
        return Recipient(kind, recipient_id, address, person.language, person.name)


def people(volunteer_language: str = "fr") -> dict[tuple[str, str], Person]:
    return {
        ("volunteer", VOLUNTEER): Person(
            VOLUNTEER_EMAIL, VOLUNTEER_PHONE, volunteer_language, "Ama Mensah"
        ),
        ("staff", "TG"): Person(TG_STAFF_EMAIL, TG_STAFF_PHONE, "fr", "ANVT, service des échanges"),
        ("staff", "ML"): Person(ML_STAFF_EMAIL, ML_STAFF_PHONE, "fr", "CNPV, service des échanges"),
        ("host_organisation", HOST_ORG): Person(HOST_ORG_EMAIL, None, "fr", HOST_ORG_NAME),
    }


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC) + timedelta(seconds=1)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Agency:
    code: str
    runtime: Runtime
    dispatcher: Dispatcher
    directory: FakeDirectory
    options: Options
    clock: FakeClock

    def handle(self, *events: Event) -> None:
        """Stage the deliveries of `events`, one consumer transaction each."""
        for event in events:
            with self.runtime.sessions.begin() as session:
                handlers.handle(session, event, agency=self.code)

    def run(self) -> int:
        return self.dispatcher.run_once()

    def deliveries(self, **where: Any) -> list[Delivery]:
        with self.runtime.sessions() as session:
            statement = select(Delivery).order_by(Delivery.created_at, Delivery.id)
            for name, value in where.items():
                statement = statement.where(getattr(Delivery, name) == value)
            return list(session.scalars(statement))

    def delivery(self, **where: Any) -> Delivery:
        found = self.deliveries(**where)
        assert len(found) == 1, f"expected one delivery for {where}, found {len(found)}"
        return found[0]

    def attempts(self, delivery_id: str) -> list[DeliveryAttempt]:
        with self.runtime.sessions() as session:
            return list(
                session.scalars(
                    select(DeliveryAttempt)
                    .where(DeliveryAttempt.delivery_id == delivery_id)
                    .order_by(DeliveryAttempt.id)
                )
            )


def agency_options(mailbox: Mailbox, gateway: Gateway) -> Options:
    return Options(
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,
        smtp_from="ANVT VIR Exchange <no-reply@anvt.example.tg>",
        sms_driver="http",
        sms_gateway_url=gateway.url,
        sms_gateway_username="anvt",
        sms_gateway_api_key="at-test-key",
        sms_sender="ANVT",
        public_base_url="http://notifications.anvt.example.tg",
        link_secret="a-test-link-secret",
    )


def start_agency(
    pg_url: str, code: str, options: Options, volunteer_language: str = "fr"
) -> Agency:
    """The agency's instance as bootstrap builds it: real e-mail and SMS channels from options."""
    upgrade("notifications", pg_url)
    settings = load_settings({"AGENCY_CODE": code, "DATABASE_URL": pg_url, "AMQP_URL": "memory://"})
    runtime = bootstrap(settings, options=options, channels=None)
    dispatcher: Dispatcher = dependencies(runtime).dispatcher
    directory = FakeDirectory(people(volunteer_language))
    dispatcher.directory = directory
    clock = FakeClock()
    dispatcher.clock = clock
    return Agency(code, runtime, dispatcher, directory, options, clock)


@pytest.fixture
def agency(pg_url: str, mailbox: Mailbox, gateway: Gateway) -> Iterator[Agency]:
    tg = start_agency(pg_url, "TG", agency_options(mailbox, gateway))
    yield tg
    tg.runtime.shutdown()


# -- events ---------------------------------------------------------------------------------------


def placement_published() -> Event:
    agencies, data = EXAMPLES["placement.published"]
    return new_event(
        "placement.published",
        source="/agencies/ML/registry",
        subject=data["placement_id"],
        agencies=agencies,
        data={**data, "start": "2027-10-01", "end": "2028-07-31"},
    )


def match_confirmed() -> Event:
    agencies, data = EXAMPLES["match.confirmed"]
    return new_event(
        "match.confirmed",
        source="/network/matching",
        subject=data["match_id"],
        agencies=agencies,
        data=data,
    )


def volunteer_registered() -> Event:
    agencies, data = EXAMPLES["volunteer.registered"]
    return new_event(
        "volunteer.registered",
        source="/agencies/TG/registry",
        subject=data["volunteer_id"],
        agencies=agencies,
        data=data,
    )


def text_of(message: EmailMessage) -> str:
    return message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def html_of(message: EmailMessage) -> str:
    return message.get_body(("html",)).get_content()  # type: ignore[union-attr]


# -- match.confirmed reaches its people -----------------------------------------------------------


def test_match_confirmed_sends_the_volunteer_one_french_email_with_placement_dates_and_host(
    agency: Agency, mailbox: Mailbox, gateway: Gateway
) -> None:
    agency.handle(placement_published(), match_confirmed())

    agency.run()

    [mail] = mailbox.to(VOLUNTEER_EMAIL)
    assert mail.get_content_type() == "multipart/alternative"
    assert mail["Subject"] == f"Votre affectation est confirmée : {TITLE}"
    assert mail["Content-Language"] == "fr"
    assert "Ama Mensah" in str(mail["To"])
    assert mail["From"] == agency.options.smtp_from
    text, html = text_of(mail), html_of(mail)
    for part in (text, html):
        assert "Bonne nouvelle" in part and "est confirmée" in part
        assert TITLE in part
        assert "du 1 octobre 2027 au 31 juillet 2028" in part
        assert HOST_ORG_NAME in part
        assert "Sikasso, Mali" in part
    assert html.lstrip().startswith("<!DOCTYPE html>") and 'lang="fr"' in html
    assert "http" not in html.replace(agency.options.public_base_url, "")  # no external asset
    # Mandatory: no unsubscribe link, and the message says why.
    assert mail["List-Unsubscribe"] is None
    assert "il n'est pas possible de s'en désabonner" in text
    delivery = agency.delivery(recipient_kind="volunteer", channel="email")
    assert mail["Message-ID"] == message_id(delivery.idempotency_key, agency.options.smtp_from)
    assert delivery.status == "sent"
    [attempt] = agency.attempts(delivery.id)
    assert attempt.outcome == "sent" and attempt.provider_answer.startswith("250")


def test_agency_staff_are_told_by_email_with_an_unsubscribe_link(
    agency: Agency, mailbox: Mailbox
) -> None:
    agency.handle(placement_published(), match_confirmed())

    agency.run()

    [mail] = mailbox.to(TG_STAFF_EMAIL)
    assert mail["Subject"] == "Affectation confirmée par les deux agences (m-0001)"
    text = text_of(mail)
    assert "Proposition : m-0001" in text and "Volontaire (identifiant) : vol-tg-0001" in text
    assert "du 1 octobre 2027 au 31 juillet 2028" in text
    link = re.search(r"(http://notifications\.anvt\.example\.tg/unsubscribe\?token=\S+)", text)
    assert link is not None
    assert mail["List-Unsubscribe"] == f"<{link.group(1)}>"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # On the wire the header is the plain URL, as mail clients expect (no RFC 2047 encoding).
    header = f"\r\nList-Unsubscribe: <{link.group(1)}>\r\n".encode()
    assert sum(header in raw for raw in mailbox.raw) == 1
    assert link.group(1) in html_of(mail).replace("&amp;", "&")


def test_match_confirmed_sends_the_volunteer_one_sms_through_the_gateway_in_e164(
    agency: Agency, gateway: Gateway
) -> None:
    agency.handle(placement_published(), match_confirmed())

    agency.run()

    [request] = gateway.requests
    assert request["path"] == "/version1/messaging"
    assert request["headers"]["apiKey"] == "at-test-key"
    assert request["headers"]["Accept"] == "application/json"
    form = request["form"]
    assert form["to"] == "+22890123456"
    assert form["username"] == "anvt" and form["from"] == "ANVT"
    assert form["message"].startswith("VIR : votre affectation est confirmée !")
    assert "1 oct. 2027" in form["message"]
    assert gsm7_length(form["message"]) <= SMS_MAX
    delivery = agency.delivery(recipient_kind="volunteer", channel="sms")
    assert delivery.status == "sent"
    [attempt] = agency.attempts(delivery.id)
    assert json.loads(attempt.provider_answer)["messageId"] == "ATXid_6c1b3f0e9d"
    assert "22890123456" not in attempt.provider_answer


def test_a_volunteer_whose_language_is_english_gets_the_email_and_sms_in_english(
    pg_url: str, mailbox: Mailbox, gateway: Gateway
) -> None:
    tg = start_agency(pg_url, "TG", agency_options(mailbox, gateway), volunteer_language="en")
    try:
        tg.handle(placement_published(), match_confirmed())
        tg.run()
    finally:
        tg.runtime.shutdown()

    [mail] = mailbox.to(VOLUNTEER_EMAIL)
    assert mail["Subject"] == f"Your placement is confirmed: {TITLE}"
    assert mail["Content-Language"] == "en"
    for part in (text_of(mail), html_of(mail)):
        assert "from October 1, 2027 to July 31, 2028" in part
        assert HOST_ORG_NAME in part and "confirmée" not in part
    [request] = gateway.requests
    assert request["form"]["message"].startswith("VIR: your placement is confirmed!")
    # Staff of the agency keep their own language (French).
    [staff] = mailbox.to(TG_STAFF_EMAIL)
    assert staff["Content-Language"] == "fr"


def test_the_host_agency_instance_tells_the_host_organisation_and_its_staff(
    pg_url: str, mailbox: Mailbox, gateway: Gateway
) -> None:
    ml = start_agency(pg_url, "ML", agency_options(mailbox, gateway))
    try:
        ml.handle(placement_published(), match_confirmed())
        ml.run()
    finally:
        ml.runtime.shutdown()

    [host] = mailbox.to(HOST_ORG_EMAIL)
    assert host["Subject"] == f"Affectation confirmée dans votre structure : {TITLE}"
    text = text_of(host)
    assert "du 1 octobre 2027 au 31 juillet 2028" in text and "(Togo et Mali)" in text
    assert host["List-Unsubscribe"] is None  # a confirmed placement is mandatory
    assert len(mailbox.to(ML_STAFF_EMAIL)) == 1
    assert mailbox.to(VOLUNTEER_EMAIL) == [] and gateway.requests == []  # not Mali's volunteer


def test_the_same_event_handled_twice_sends_one_email_and_one_sms(
    agency: Agency, mailbox: Mailbox, gateway: Gateway
) -> None:
    placement, confirmed = placement_published(), match_confirmed()
    agency.handle(placement, confirmed)
    agency.run()
    agency.handle(placement, confirmed)  # a redelivery of the same events
    agency.run()
    agency.run()

    assert len(mailbox.to(VOLUNTEER_EMAIL)) == 1
    assert len(mailbox.to(TG_STAFF_EMAIL)) == 1
    assert len(mailbox.messages) == 2
    assert len(gateway.requests) == 1
    assert len(agency.deliveries()) == 3


# -- SMTP answers ---------------------------------------------------------------------------------


def test_a_recipient_refused_with_550_fails_the_delivery_and_logs_the_answer_without_address(
    agency: Agency, mailbox: Mailbox
) -> None:
    mailbox.rcpt_replies[VOLUNTEER_EMAIL] = (
        f"550 5.1.1 <{VOLUNTEER_EMAIL}>: Recipient address rejected: User unknown"
    )
    agency.handle(placement_published(), match_confirmed())

    agency.run()

    delivery = agency.delivery(recipient_kind="volunteer", channel="email")
    assert delivery.status == "failed"
    [attempt] = agency.attempts(delivery.id)
    assert attempt.outcome == "failed"
    assert "550" in attempt.reason and "RCPT TO" in attempt.reason
    assert attempt.provider_answer.startswith("550 5.1.1 <<recipient>>: Recipient address rejected")
    assert VOLUNTEER_EMAIL not in (attempt.provider_answer + attempt.reason + delivery.last_error)
    assert mailbox.to(VOLUNTEER_EMAIL) == []
    assert len(mailbox.to(TG_STAFF_EMAIL)) == 1  # the other deliveries go on


def test_a_421_answer_is_retried_later_and_then_delivered_once(
    agency: Agency, mailbox: Mailbox
) -> None:
    mailbox.rcpt_replies[VOLUNTEER_EMAIL] = "421 4.7.0 Too many connections, try again later"
    agency.handle(placement_published(), match_confirmed())

    agency.run()

    delivery = agency.delivery(recipient_kind="volunteer", channel="email")
    assert delivery.status == "pending" and delivery.attempts == 1
    assert delivery.next_attempt_at > agency.clock.now
    [attempt] = agency.attempts(delivery.id)
    assert attempt.outcome == "retry" and attempt.provider_answer.startswith("421")
    assert agency.run() == 0  # not due yet
    assert mailbox.to(VOLUNTEER_EMAIL) == []

    mailbox.rcpt_replies.clear()
    agency.clock.now = delivery.next_attempt_at + timedelta(seconds=1)
    agency.run()

    assert agency.delivery(recipient_kind="volunteer", channel="email").status == "sent"
    assert len(mailbox.to(VOLUNTEER_EMAIL)) == 1
    assert [a.outcome for a in agency.attempts(delivery.id)] == ["retry", "sent"]


def test_an_smtp_server_that_does_not_answer_means_retry_later() -> None:
    channel = SmtpChannel(Options(smtp_host="127.0.0.1", smtp_port=free_port()))

    with pytest.raises(RetryLater, match="SMTP server unreachable"):
        channel.send(notification("match.confirmed", "volunteer", VOLUNTEER_EMAIL))


def test_one_connection_carries_many_messages_and_a_closed_one_is_replaced() -> None:
    """Messages share one kept SMTP connection; when the server went away and came back in
    between (the kept connection is dead), the next message goes out on a new one, once."""
    box = Mailbox(port=free_port())
    greeted: list[str] = []

    class Counting(Mailbox):
        async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: ANN001, ANN201, N802
            greeted.append(hostname)
            session.host_name = hostname  # what aiosmtpd does when no hook is set
            return responses

    handler = Counting(port=box.port)
    channel = SmtpChannel(Options(smtp_host="127.0.0.1", smtp_port=box.port))
    message = notification("match.confirmed", "volunteer", VOLUNTEER_EMAIL)
    controller = Controller(handler, hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        for _ in range(3):
            assert channel.send(message).startswith("250")
        assert len(greeted) == 1 and len(handler.to(VOLUNTEER_EMAIL)) == 3
    finally:
        controller.stop()
    controller = Controller(handler, hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        assert channel.send(message).startswith("250")
        assert len(greeted) == 2 and len(handler.to(VOLUNTEER_EMAIL)) == 4
    finally:
        channel.close()
        controller.stop()


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_the_channel_logs_in_when_the_server_wants_credentials() -> None:
    def authenticator(server, session, envelope, mechanism, auth_data):  # noqa: ANN001, ANN202
        good = isinstance(auth_data, LoginPassword) and auth_data.password == b"s3cret"
        return AuthResult(success=good, handled=False)  # aiosmtpd answers 235 or 535

    message = notification("match.confirmed", "volunteer", VOLUNTEER_EMAIL)
    with running_mailbox(
        auth_required=True, auth_require_tls=False, authenticator=authenticator
    ) as box:

        def channel(**credentials: Any) -> SmtpChannel:
            return SmtpChannel(Options(smtp_host="127.0.0.1", smtp_port=box.port, **credentials))

        assert channel(smtp_user="anvt", smtp_password="s3cret").send(message).startswith("250")
        with pytest.raises(RetryLater, match="credentials"):
            channel(smtp_user="anvt", smtp_password="wrong").send(message)
        with pytest.raises(RetryLater, match="530"):
            channel().send(message)

        assert len(box.to(VOLUNTEER_EMAIL)) == 1


@pytest.mark.parametrize("address", ["ama.mensah", "ama@localhost", "ama mensah@example.tg"])
def test_an_address_that_cannot_be_one_is_undeliverable(mailbox: Mailbox, address: str) -> None:
    channel = SmtpChannel(Options(smtp_host="127.0.0.1", smtp_port=mailbox.port))

    with pytest.raises(Undeliverable, match="not valid"):
        channel.send(notification("match.confirmed", "volunteer", address))

    assert mailbox.messages == []


# -- the SMS gateway's answers --------------------------------------------------------------------


def notification(
    event_type: str, kind: str, address: str, language: str = "fr", title: str = TITLE
) -> Notification:
    agencies, data = EXAMPLES[event_type]
    placement = {
        "title": title,
        "city": "Sikasso",
        "host_organisation_name": HOST_ORG_NAME,
        "host_agency": "ML",
        "start": "2027-10-01",
        "end": "2028-07-31",
    }
    return Notification(
        delivery_id="dlv-test",
        idempotency_key=f"/network/matching|e-1|{kind}:x|sms",
        event_id="e-1",
        event_type=event_type,
        category="placement",
        mandatory=True,
        payload={"event": data, "agencies": list(agencies), "placement": placement},
        recipient=Recipient(kind, "x", address, language, "Ama Mensah"),
    )


def gateway_channel(gateway: Gateway) -> HttpSmsGateway:
    channel = make_sms_channel(
        Options(sms_driver="http", sms_gateway_url=gateway.url, sms_gateway_api_key="k")
    )
    assert isinstance(channel, HttpSmsGateway) and channel.name == "sms"
    return channel


@pytest.mark.parametrize("status", ["InvalidPhoneNumber", "UserInBlacklist"])
def test_a_number_the_gateway_refuses_is_undeliverable(gateway: Gateway, status: str) -> None:
    gateway.answer((201, {}, recipient_status("+22890123456", status, 403)))

    with pytest.raises(Undeliverable, match=status) as failure:
        gateway_channel(gateway).send(notification("match.confirmed", "volunteer", "+22890123456"))

    assert "22890123456" not in (failure.value.provider_answer or "")


def test_gateway_errors_and_timeouts_are_retried_but_refused_credentials_are_not(
    gateway: Gateway,
) -> None:
    channel = gateway_channel(gateway)
    sms = notification("match.confirmed", "volunteer", "+22890123456")

    gateway.answer((503, {}, "upstream unavailable"))
    with pytest.raises(RetryLater, match="HTTP 503"):
        channel.send(sms)

    gateway.answer((429, {"Retry-After": "120"}, "slow down"))
    with pytest.raises(RetryLater) as throttled:
        channel.send(sms)
    assert throttled.value.retry_after == timedelta(seconds=120)

    gateway.answer((201, {}, recipient_status("+22890123456", "InsufficientBalance", 405)))
    with pytest.raises(RetryLater, match="InsufficientBalance"):
        channel.send(sms)

    gateway.answer((401, {}, "The supplied authentication is invalid"))
    with pytest.raises(Undeliverable, match="gateway refused credentials"):
        channel.send(sms)

    down = HttpSmsGateway(f"http://127.0.0.1:{free_port()}", "anvt", "k")  # nobody listens
    with pytest.raises(RetryLater, match="unreachable"):
        down.send(sms)


@pytest.mark.parametrize("number", ["90 12 34 56", "+228 9O 12 34 56", "", "22890123456"])
def test_a_phone_number_not_in_e164_is_refused_without_calling_the_gateway(
    gateway: Gateway, number: str
) -> None:
    with pytest.raises(Undeliverable, match="E.164"):
        gateway_channel(gateway).send(notification("match.confirmed", "volunteer", number))

    assert gateway.requests == []


def test_the_file_driver_appends_one_json_line_per_sms(tmp_path: Path) -> None:
    path = tmp_path / "var" / "sms" / "outbox.jsonl"
    channel = make_sms_channel(Options(sms_driver="file", sms_file=str(path)))
    assert isinstance(channel, FileSmsChannel) and channel.name == "sms"

    channel.send(notification("match.confirmed", "volunteer", "00228 90-12-34-56"))
    channel.send(notification("volunteer.registered", "volunteer", "+22890123456", "en"))

    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [line["to"] for line in lines] == ["+22890123456", "+22890123456"]
    assert lines[0]["message"].startswith("VIR : votre affectation est confirmée")
    assert lines[1]["message"].startswith("VIR: your registration is recorded")
    assert set(lines[0]) == {"to", "message", "at", "idempotency_key"}


# -- the words ------------------------------------------------------------------------------------


@pytest.mark.parametrize("title", [TITLE, "Chargé·e de projet " + "très long " * 20])
@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_confirmation_sms_fits_one_gsm7_segment(title: str, language: str) -> None:
    sms = render(notification("match.confirmed", "volunteer", "+22890123456", language, title)).sms

    assert gsm7_length(sms) <= SMS_MAX
    assert set(sms) <= GSM7_BASIC | GSM7_EXTENDED  # no UCS-2 switch (70 characters)
    assert ("2027" in sms) and ("2028" in sms)  # the dates survive a long title
    if language == "fr" and title == TITLE:
        assert sms == (
            "VIR : votre affectation est confirmée ! Animateur.rice de santé communautaire, "
            "Sikasso (Mali), du 1 oct. 2027 au 31 juil. 2028. Détails par e-mail."
        )


def test_every_template_string_is_translated_in_french_and_english() -> None:
    extracted = {
        message
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(TEMPLATES),
            method_map=[("**.j2", "jinja2")],
            options_map={"**.j2": {"extensions": "jinja2.ext.i18n", "trimmed": "true"}},
        )
    }
    placeholders = re.compile(r"%\((\w+)\)[sd]")
    for language in ("fr", "en"):
        path = TRANSLATIONS / language / "LC_MESSAGES" / "messages.po"
        with path.open("rb") as po:
            catalog = read_po(po, locale=language)
        translated = {m.id: m.string for m in catalog if m.id}
        ids = {m if isinstance(m, str) else m[0] for m in extracted}
        catalog_ids = {i if isinstance(i, str) else i[0] for i in translated}
        assert ids == catalog_ids, f"{language}: catalog and templates differ"
        for msgid, msgstr in translated.items():
            forms = msgstr if isinstance(msgstr, tuple) else (msgstr,)
            source = msgid if isinstance(msgid, str) else msgid[0]
            assert all(forms), f"{language}: {source!r} is not translated"
            for form in forms:
                assert set(placeholders.findall(form)) == set(placeholders.findall(source))
    assert not list(TRANSLATIONS.rglob("*.mo")), "catalogs are compiled in memory, not committed"


# -- check-ins ------------------------------------------------------------------------------------

LINK = "http://registry.anvt.example.tg/check-in/IjZkNTJjNTUyMTFhYjQ3MGRhZDViMjk3MjAxZWZmZjc0MSI.aw4G4g.Ah5ILnR8gmbNI2II8B6dyJX43b0"  # noqa: E501


def check_in_due(stage: str, respondents: list[str], agencies: tuple[str, ...], **extra) -> Event:
    _agencies, data = EXAMPLES["mobility.check_in_due"]
    return new_event(
        "mobility.check_in_due",
        source="/agencies/TG/registry",
        subject=data["mobility_id"],
        agencies=list(agencies),
        data={**data, "stage": stage, "respondents": respondents, **extra},
    )


def test_an_overdue_check_in_alerts_each_agencys_staff_once_even_when_redelivered(
    pg_url: str, agency: Agency, mailbox: Mailbox, gateway: Gateway
) -> None:
    overdue = check_in_due("overdue", ["host_agency", "volunteer"], ("TG", "ML"))
    ml = start_agency(pg_url, "ML", agency_options(mailbox, gateway))
    try:
        for instance in (agency, ml, agency, ml):  # each instance gets it twice
            instance.handle(overdue)
            instance.run()
    finally:
        ml.runtime.shutdown()

    [tg_mail] = mailbox.to(TG_STAFF_EMAIL)
    [ml_mail] = mailbox.to(ML_STAFF_EMAIL)
    assert tg_mail["Subject"] == (
        "Point d'étape en souffrance : prenez contact avec le ou la volontaire (m-0001)"
    )
    assert "Le point d'étape de mi-parcours était attendu le 14 février 2018" in text_of(tg_mail)
    assert "l'agence d'accueil, le ou la volontaire" in text_of(ml_mail)
    assert mailbox.to(VOLUNTEER_EMAIL) == [] and gateway.requests == []


def test_a_check_in_reminder_reaches_the_volunteer_with_the_signed_link_by_email_and_sms(
    agency: Agency, mailbox: Mailbox, gateway: Gateway
) -> None:
    reminder = check_in_due("before", ["volunteer"], ("TG",), volunteer_id=VOLUNTEER, link=LINK)
    agency.handle(reminder)
    agency.run()
    agency.handle(reminder)  # redelivered
    agency.run()

    [mail] = mailbox.to(VOLUNTEER_EMAIL)
    assert mail["Subject"] == "Votre point d'étape de mi-parcours est attendu le 14 février 2018"
    assert LINK in text_of(mail) and LINK in html_of(mail)
    assert mailbox.to(TG_STAFF_EMAIL) == []
    [sms] = gateway.requests
    message = sms["form"]["message"]
    assert message.startswith("VIR point d'étape, 14 févr. 2018 : ")
    assert message.endswith(LINK) and gsm7_length(message) <= SMS_MAX


def test_a_host_agency_reminder_reaches_its_own_staff_only(
    pg_url: str, agency: Agency, mailbox: Mailbox, gateway: Gateway
) -> None:
    reminder = check_in_due("after", ["host_agency"], ("ML",))
    ml = start_agency(pg_url, "ML", agency_options(mailbox, gateway))
    try:
        ml.handle(reminder)
        ml.run()
    finally:
        ml.runtime.shutdown()
    [mail] = mailbox.to(ML_STAFF_EMAIL)
    assert mail["Subject"] == "Point d'étape en retard (m-0001)"
    assert mailbox.to(TG_STAFF_EMAIL) == [] and gateway.requests == []


# -- incidents ------------------------------------------------------------------------------------


def incident(type_: str, **changes: Any) -> Event:
    _agencies, data = EXAMPLES[type_]
    return new_event(
        type_,
        source="/agencies/ML/registry",
        subject=data["incident_id"],
        agencies=["TG", "ML"],
        data={**data, **changes},
    )


def test_a_high_incident_reaches_both_agencies_staff_at_once_by_email_and_sms(
    pg_url: str, agency: Agency, mailbox: Mailbox, gateway: Gateway
) -> None:
    reported = incident("mobility.incident_reported")
    ml = start_agency(pg_url, "ML", agency_options(mailbox, gateway))
    try:
        for instance in (agency, ml, agency):  # TG's instance gets it twice
            instance.handle(reported)
            instance.run()
    finally:
        ml.runtime.shutdown()

    [tg_mail] = mailbox.to(TG_STAFF_EMAIL)
    assert len(mailbox.to(ML_STAFF_EMAIL)) == 1
    assert tg_mail["Subject"] == "Incident signalé : Élevée, Santé (m-0001)"
    assert tg_mail["List-Unsubscribe"] is None  # mandatory: nobody opts out of urgent incidents
    text = text_of(tg_mail)
    assert "Gravité : Élevée" in text and "Pris en charge par : Mali" in text
    assert sorted(r["form"]["to"] for r in gateway.requests) == ["+22320220000", "+22822210000"]
    assert all(gsm7_length(r["form"]["message"]) <= SMS_MAX for r in gateway.requests)


def test_a_low_incident_and_an_update_are_told_by_email_only(
    agency: Agency, mailbox: Mailbox, gateway: Gateway
) -> None:
    agency.handle(
        incident("mobility.incident_reported", severity="low", incident_id="inc-0002"),
        incident("mobility.incident_updated"),
    )
    agency.run()
    subjects = sorted(m["Subject"] for m in mailbox.to(TG_STAFF_EMAIL))
    assert subjects == [
        "Incident mis à jour : Résolu (m-0001)",
        "Incident signalé : Faible, Santé (m-0001)",
    ]
    assert gateway.requests == []
