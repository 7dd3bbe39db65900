"""End to end: a confirmed match informs the volunteer (real SMTP server), the host organisation,
both agencies' staff, and a partner's signed webhook without personal data."""

from __future__ import annotations

import json
import socket
import threading
from email import message_from_bytes
from email.policy import default
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import standardwebhooks
from aiosmtpd.controller import Controller
from sqlalchemy import select

from services.notifications.config import Options
from shared.access import create_token
from shared.auth import Role
from shared.db import outbox
from shared.messaging.publisher import ConfirmingPublisher, OutgoingMessage
from tests.support.infra import wait_until
from tests.support.keys import keyring
from tests.support.nodes import running_matching, running_notifications, running_registry, serving
from tests.support.registry import pilot_between, settled_pilot, volunteer_payload

pytestmark = pytest.mark.integration


class Mailbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd API
        self.messages.append(
            (list(envelope.rcpt_tos), message_from_bytes(envelope.content, policy=default))
        )
        return "250 OK"

    def to(self, address):
        return [m for rcpts, m in self.messages if address in rcpts]


class Receiver(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 - http.server API
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append((dict(self.headers), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def mailbox():
    box = Mailbox()
    with socket.socket() as probe:  # aiosmtpd cannot start on port 0: pick a free one first
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


@pytest.fixture
def partner_endpoint():
    Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/vir-hook"
    server.shutdown()


def _agency_contacts(node, email):
    r = node.call(
        "PUT",
        "/api/v1/agency",
        who="admin",
        json={"name": f"Agence {node.agency}", "languages": ["fr"], "contact_email": email},
    )
    assert r.status_code == 200, r.json


def test_a_confirmed_match_informs_everyone_who_must_know(
    amqp_url, mailbox, partner_endpoint, tmp_path
):
    box, smtp_port = mailbox
    with (
        running_registry("TG", amqp_url) as tg,
        running_registry("ML", amqp_url) as ml,
        serving(tg.app) as tg_url,
        serving(ml.app) as ml_url,
    ):
        _agency_contacts(tg, "staff@anvt.example.tg")
        _agency_contacts(ml, "staff@cnpv.example.ml")

        def options(registry_url, token, name):
            return Options(
                registry_url=registry_url,
                registry_token=token,
                smtp_host="127.0.0.1",
                smtp_port=smtp_port,
                sms_driver="file",
                sms_file=str(tmp_path / f"sms-{name}.jsonl"),
                webhook_allowed_hosts=("127.0.0.1",),
                dispatch_interval=0.1,
            )

        with (
            running_matching(amqp_url) as matching,
            running_notifications(amqp_url, "TG", options(tg_url, tg.tokens["node"], "tg")),
            running_notifications(amqp_url, "ML", options(ml_url, ml.tokens["node"], "ml")),
            running_notifications(amqp_url, None, options(None, None, "network")) as network,
        ):
            with network.engine.begin() as conn:
                partner_token = create_token(conn, "TG", Role.PARTNER, "Ministère")[1]
            from services.notifications.api import create_app

            sub = (
                create_app(runtime=network)
                .test_client()
                .post(
                    "/api/v1/subscriptions",
                    headers={"Authorization": f"Bearer {partner_token}"},
                    json={
                        "partner": "Ministère de la jeunesse",
                        "owner_email": "it@ministere.example.tg",
                        "url": partner_endpoint,
                        "patterns": ["match.#"],
                    },
                )
            )
            assert sub.status_code == 201, sub.json
            secret = sub.json["secret"]

            agreement = pilot_between(tg, ml)

            def proposals():
                return tg.call("GET", "/api/v1/matches?status=proposed&page_size=50").json

            settled_pilot(matching, tg, ml, agreement["id"])
            match = next(m for m in proposals() if m["sending_agency"] == "TG")
            volunteer = tg.call("GET", f"/api/v1/volunteers/{match['volunteer_id']}").json
            assert tg.call("POST", f"/api/v1/matches/{match['id']}/accept").status_code == 200
            assert ml.call("POST", f"/api/v1/matches/{match['id']}/accept").status_code == 200

            wait_until(
                lambda: any("confirm" in m["Subject"].lower() for m in box.to(volunteer["email"])),
                60,
                what="volunteer e-mail",
            )
            confirmations = [
                m for m in box.to(volunteer["email"]) if "confirm" in m["Subject"].lower()
            ]
            assert len(confirmations) == 1
            text = confirmations[0].get_body(preferencelist=("plain",)).get_content()
            assert "confirmée" in confirmations[0]["Subject"]
            assert (
                "Centre ML" in text and "octobre 2027" in text
            )  # host organisation and dates, in French

            wait_until(
                lambda: box.to("contact@example.org") or box.to("staff@cnpv.example.ml"),
                60,
                what="host side informed",
            )
            wait_until(
                lambda: box.to("staff@anvt.example.tg") and box.to("staff@cnpv.example.ml"),
                60,
                what="both staffs informed",
            )

            def confirmed_hooks():
                return [
                    (h, b)
                    for h, b in Receiver.received
                    if json.loads(b)["type"] == "match.confirmed"
                ]

            wait_until(lambda: confirmed_hooks(), 60, what="partner webhook")
            headers, body = confirmed_hooks()[0]
            wh = standardwebhooks.Webhook(secret)
            lowered = {k.lower(): v for k, v in headers.items()}
            wh.verify(
                body,
                {k: lowered[k] for k in ("webhook-id", "webhook-timestamp", "webhook-signature")},
            )
            with pytest.raises(standardwebhooks.WebhookVerificationError):
                wh.verify(
                    body.replace(b"TG", b"NE"),
                    {
                        k: lowered[k]
                        for k in ("webhook-id", "webhook-timestamp", "webhook-signature")
                    },
                )
            # The broker delivers the same match.confirmed again: still one e-mail at the SMTP.
            with matching.runtime.engine.connect() as conn:
                row = conn.execute(
                    select(outbox.c.payload, outbox.c.routing_key).where(
                        outbox.c.event_type == "match.confirmed"
                    )
                ).one()
            publisher = ConfirmingPublisher(amqp_url)
            publisher.publish_batch(
                [
                    OutgoingMessage(
                        "vir.events",
                        row.routing_key,
                        row.payload.encode(),
                        message_id="again",
                        headers=keyring().headers(row.payload.encode(), "matching"),
                    )
                ]
            )
            publisher.close()
            # A later event on the same queue: once its e-mail is out, the copy was consumed.
            late = tg.call(
                "POST", "/api/v1/volunteers", json=volunteer_payload(99, email="late@example.org")
            )
            assert late.status_code == 201
            wait_until(lambda: box.to("late@example.org"), 60, what="the later registration e-mail")
            assert (
                len([m for m in box.to(volunteer["email"]) if "confirm" in m["Subject"].lower()])
                == 1
            )

            for personal in (
                volunteer["first_name"],
                volunteer["last_name"],
                volunteer["email"],
                volunteer["date_of_birth"],
                volunteer["identity_number"],
                "+228",
            ):
                assert personal not in body.decode()
