"""The e-mail as written for the wire: 7-bit, CRLF, lines within 998, and what it says decodes
back to exactly what the templates rendered, whatever path each header and part took."""

from __future__ import annotations

import email
import email.policy
from email.policy import compat32

import pytest

from services.notifications.adapters.email import WIRE, SmtpChannel
from services.notifications.config import Options
from services.notifications.domain.messages import Notification, Recipient
from services.notifications.rendering import render
from shared.events.examples import EXAMPLES

OPTIONS = Options(
    smtp_host="127.0.0.1", smtp_from="VIR Exchange <noreply@vir.example>", link_secret="x" * 32
)


def _notification(language: str, title: str, unsubscribe: str) -> Notification:
    agencies, data = EXAMPLES["match.proposed"]
    return Notification(
        delivery_id="dlv-1",
        idempotency_key="key-1",
        event_id="evt-1",
        event_type="match.proposed",
        category="proposals",
        mandatory=False,
        payload={
            "event": dict(data),
            "agencies": list(agencies),
            "placement": {
                "title": title,
                "city": "Bamako",
                "host_organisation_name": "École = Avenir",
                "host_agency": "ML",
                "start": "2027-01-04",
                "end": "2027-06-30",
            },
        },
        recipient=Recipient("staff", "TG", "staff@anvt.tg", language, "Équipe ANVT"),
        links={"unsubscribe": unsubscribe},
    )


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize(
    "title",
    [
        "Appui pédagogique",
        "Ligne=3D avec des signes = et des espaces en fin   ",
        "Très long intitulé " * 40,
    ],
)
@pytest.mark.parametrize("link_length", [40, 400])
def test_the_message_is_7bit_crlf_within_998_and_decodes_to_what_was_rendered(
    language: str, title: str, link_length: int
) -> None:
    link = "https://tg.example/unsubscribe?t=" + "a" * link_length
    notification = _notification(language, title, link)
    wire = SmtpChannel(OPTIONS).build(notification)

    assert wire.isascii()
    assert wire.count(b"\n") == wire.count(b"\r\n")
    assert max(len(line) for line in wire.split(b"\r\n")) <= 998
    message = email.message_from_bytes(wire, policy=email.policy.default)
    rendered = render(notification, sms=False)
    assert message["Subject"] == rendered.subject
    assert str(message["To"]) == "Équipe ANVT <staff@anvt.tg>"
    assert message["List-Unsubscribe"] == f"<{link}>"
    assert message.get_boundary().startswith("=_")
    parts = [
        (part.get_content_type(), part.get_content().replace("\r\n", "\n"))  # lines: CRLF
        for part in message.walk()
        if not part.is_multipart()
    ]
    assert parts == [("text/plain", rendered.text), ("text/html", rendered.html)]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Message-ID", "<0123abcd@vir.example>"),
        ("Auto-Submitted", "auto-generated"),
        ("Subject", "=?utf-8?q?Nouvelle_proposition?=\n =?utf-8?q?_=C3=A0_Bamako?="),
        ("X-Long", "word " * 300),
        ("X-Accents", "déjà vu"),
    ],
)
def test_a_header_is_written_as_the_standard_policy_writes_it(name: str, value: str) -> None:
    standard = compat32.clone(linesep="\r\n", max_line_length=998)
    assert WIRE.fold_binary(name, value) == standard.fold_binary(name, value)
