"""Preferences (opt-outs, unsubscribe links, mandatory messages) and the delivery log API, on an
agency's notifications instance with a real PostgreSQL database, a real SMTP server and a real
HTTP SMS gateway (see test_email_and_sms for both)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from prometheus_client import REGISTRY

from services.notifications import preferences
from services.notifications.adapters.orm import Preference
from services.notifications.config import Options
from services.notifications.views import deliveries as delivery_views
from services.notifications.views import preferences as preference_views
from shared.access import authenticate, create_token
from shared.api import base_app
from shared.auth import Role
from shared.events import Event, new_event
from shared.events.examples import EXAMPLES
from tests.integration.notifications.test_email_and_sms import (
    TG_STAFF_EMAIL,
    VOLUNTEER,
    VOLUNTEER_EMAIL,
    Agency,
    Gateway,
    Mailbox,
    agency_options,
    match_confirmed,
    placement_published,
    running_gateway,
    running_mailbox,
    start_agency,
    text_of,
)

pytestmark = pytest.mark.integration

PREFERENCES = f"/api/v1/preferences/volunteer/{VOLUNTEER}"


@dataclass
class Instance:
    """The agency's instance and its HTTP API, with tokens of several agencies and roles."""

    agency: Agency
    app: Flask
    tokens: dict[str, str] = field(default_factory=dict)

    def call(self, method: str, path: str, who: str | None = "staff", **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return self.app.test_client().open(path, method=method, headers=headers, **kwargs)


def api_app(agency: Agency) -> Flask:
    """The notifications API as api.create_app composes it, with the two blueprints under test."""
    app, api = base_app(__name__, agency.runtime, "VIR Exchange notifications (TG)")
    app.config["AGENCY_CODE"] = agency.code
    app.before_request(authenticate)
    preference_views.register(api)
    delivery_views.register(api)
    return app


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with running_mailbox() as box:
        yield box


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    with running_gateway() as gw:
        yield gw


@pytest.fixture
def instance(pg_url: str, mailbox: Mailbox, gateway: Gateway) -> Iterator[Instance]:
    tg = start_agency(pg_url, "TG", agency_options(mailbox, gateway))
    inst = Instance(tg, api_app(tg))
    with tg.runtime.sessions.begin() as session:
        for who, agency, role in (
            ("staff", "TG", Role.STAFF),
            ("admin", "TG", Role.ADMIN),
            ("ml_staff", "ML", Role.STAFF),
            ("partner", "TG", Role.PARTNER),
        ):
            inst.tokens[who] = create_token(session, agency, role, who)[1]
    yield inst
    tg.runtime.shutdown()


def volunteer_registered(n: int = 1) -> Event:
    agencies, data = EXAMPLES["volunteer.registered"]
    return new_event(
        "volunteer.registered",
        source="/agencies/TG/registry",
        subject=data["volunteer_id"],
        agencies=agencies,
        data={**data, "registered_at": f"2017-06-{n:02d}T09:30:00+00:00"},
    )


def registration_mails(mailbox: Mailbox) -> list[Any]:
    return [m for m in mailbox.to(VOLUNTEER_EMAIL) if "inscription" in m["Subject"]]


def placement_mails(mailbox: Mailbox) -> list[Any]:
    return [m for m in mailbox.to(VOLUNTEER_EMAIL) if "affectation" in m["Subject"]]


def opted_out(agency: Agency, channel: str, category: str) -> bool | None:
    with agency.runtime.sessions() as session:
        row = session.get(Preference, ("volunteer", VOLUNTEER, channel, category))
        return None if row is None else row.opted_out


# -- opt-outs and mandatory messages --------------------------------------------------------------


@pytest.mark.parametrize("category", ["registration", "*"])
def test_an_opted_out_volunteer_gets_no_registration_email_but_still_the_placement_email(
    instance: Instance, mailbox: Mailbox, gateway: Gateway, category: str
) -> None:
    tg = instance.agency
    with tg.runtime.sessions.begin() as session:
        preferences.opt_out(session, "volunteer", VOLUNTEER, "email", category)
        preferences.opt_out(session, "volunteer", VOLUNTEER, "sms", "*")
    tg.handle(volunteer_registered(), placement_published(), match_confirmed())

    tg.run()

    registration = tg.delivery(event_type="volunteer.registered")
    assert registration.status == "skipped" and registration.attempts == 0
    [attempt] = tg.attempts(registration.id)
    assert attempt.outcome == "skipped" and "opted out" in attempt.reason
    assert registration_mails(mailbox) == []
    # A confirmed placement is mandatory: sent whatever the opt-outs, by e-mail and SMS.
    assert len(placement_mails(mailbox)) == 1
    assert len(gateway.requests) == 1
    assert tg.delivery(recipient_kind="volunteer", channel="sms").status == "sent"


def test_opting_out_of_placement_messages_is_refused_with_the_reason(instance: Instance) -> None:
    with instance.agency.runtime.sessions.begin() as session:
        with pytest.raises(preferences.MandatoryCategory, match="mandatory"):
            preferences.opt_out(session, "volunteer", VOLUNTEER, "email", "placement")

    assert opted_out(instance.agency, "email", "placement") is None
    assert preferences.MANDATORY_CATEGORIES == {"placement"}
    assert set(preferences.MANDATORY_CATEGORIES) <= set(preferences.CATEGORIES)


# -- the unsubscribe link -------------------------------------------------------------------------


def unsubscribe_link(mail: Any) -> str:
    match = re.search(r"(http://\S+/unsubscribe\?token=\S+)", text_of(mail))
    assert match is not None, "no unsubscribe link in the e-mail"
    assert mail["List-Unsubscribe"] == f"<{match.group(1)}>"
    parts = urlsplit(match.group(1))
    return f"{parts.path}?{parts.query}"


def test_the_unsubscribe_link_of_an_email_opens_without_a_token_and_records_the_opt_out(
    instance: Instance, mailbox: Mailbox
) -> None:
    tg = instance.agency
    tg.handle(volunteer_registered(1))
    tg.run()
    [mail] = registration_mails(mailbox)
    link = unsubscribe_link(mail)

    page = instance.call("GET", link, who=None)

    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "Vous êtes désabonné·e" in html and "You are unsubscribed" in html
    assert html.index("Vous êtes désabonné·e") < html.index("You are unsubscribed")  # French first
    assert "« inscription »" in html and "“registration”" in html
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert opted_out(tg, "email", "registration") is True
    assert instance.call("GET", link, who=None).status_code == 200  # opening it again is harmless

    tg.handle(volunteer_registered(2))
    tg.run()

    assert len(registration_mails(mailbox)) == 1
    assert [d.status for d in tg.deliveries(event_type="volunteer.registered")] == [
        "sent",
        "skipped",
    ]

    # The page's button undoes it (a link scanner may have opened the link).
    token = re.search(r'name="token" value="([^"]+)"', html)
    assert token is not None
    again = instance.call("POST", "/unsubscribe/undo", who=None, data={"token": token.group(1)})
    assert again.status_code == 200
    assert "Vous êtes de nouveau abonné·e" in again.get_data(as_text=True)
    assert opted_out(tg, "email", "registration") is False

    tg.handle(volunteer_registered(3))
    tg.run()

    assert len(registration_mails(mailbox)) == 2


def test_mail_clients_unsubscribe_in_one_click_by_post(
    instance: Instance, mailbox: Mailbox
) -> None:
    instance.agency.handle(volunteer_registered())
    instance.agency.run()
    link = unsubscribe_link(registration_mails(mailbox)[0])

    answer = instance.call("POST", link, who=None, data={"List-Unsubscribe": "One-Click"})

    assert answer.status_code == 200
    assert opted_out(instance.agency, "email", "registration") is True


def test_a_tampered_or_foreign_unsubscribe_link_changes_nothing(instance: Instance) -> None:
    options: Options = instance.agency.options
    genuine = preferences.make_token(options, "volunteer", VOLUNTEER, "email", "registration")
    foreign = preferences.make_token(
        Options(link_secret="another-secret"), "volunteer", VOLUNTEER, "email", "registration"
    )

    for token in (genuine[:-2] + ("AA" if not genuine.endswith("AA") else "BB"), foreign):
        page = instance.call("GET", f"/unsubscribe?token={token}", who=None)
        assert page.status_code == 400
        assert "Ce lien n'est pas valide" in page.get_data(as_text=True)
        assert "This link is not valid" in page.get_data(as_text=True)

    assert instance.call("GET", "/unsubscribe", who=None).status_code == 422
    assert opted_out(instance.agency, "email", "registration") is None


def test_placement_messages_carry_no_unsubscribe_link(instance: Instance) -> None:
    tg = instance.agency
    tg.handle(placement_published(), match_confirmed())

    links = {
        (d.recipient_kind, d.channel): preferences.unsubscribe_links(tg.options, d)
        for d in tg.deliveries()
    }

    assert links[("volunteer", "email")] == {} and links[("volunteer", "sms")] == {}
    assert links[("staff", "email")]["unsubscribe"].startswith(
        "http://notifications.anvt.example.tg/unsubscribe?token="
    )


# -- opt-outs managed by agency staff -------------------------------------------------------------


def test_staff_set_a_volunteers_opt_outs_but_not_for_placement_messages(
    instance: Instance,
) -> None:
    empty = instance.call("GET", PREFERENCES)
    assert empty.status_code == 200
    assert empty.json["opt_outs"] == [] and empty.json["mandatory_categories"] == ["placement"]

    refused = instance.call(
        "PUT", PREFERENCES, json={"opt_outs": [{"channel": "email", "category": "placement"}]}
    )
    assert refused.status_code == 422
    message = refused.json["errors"]["json"]["opt_outs"]["0"]["category"][0]
    assert "mandatory" in message and "cannot be opted out" in message
    assert instance.call("GET", PREFERENCES).json["opt_outs"] == []

    wanted = [{"channel": "email", "category": "registration"}, {"channel": "sms", "category": "*"}]
    saved = instance.call("PUT", PREFERENCES, json={"opt_outs": wanted})
    assert saved.status_code == 200
    assert [(o["channel"], o["category"]) for o in saved.json["opt_outs"]] == [
        ("email", "registration"),
        ("sms", "*"),
    ]
    cleared = instance.call("PUT", PREFERENCES, json={"opt_outs": []}, who="admin")
    assert cleared.status_code == 200 and cleared.json["opt_outs"] == []
    assert opted_out(instance.agency, "email", "registration") is False

    bad_channel = [{"channel": "pigeon", "category": "registration"}]
    assert instance.call("PUT", PREFERENCES, json={"opt_outs": bad_channel}).status_code == 422
    assert instance.call("GET", "/api/v1/preferences/partner/sub-1").status_code == 404


def test_only_staff_and_admins_of_this_agency_see_preferences_and_deliveries(
    instance: Instance,
) -> None:
    for path in (PREFERENCES, "/api/v1/deliveries"):
        assert instance.call("GET", path, who=None).status_code == 401
        assert instance.call("GET", path, who="ml_staff").status_code == 403
        assert instance.call("GET", path, who="partner").status_code == 403
        assert instance.call("GET", path, who="admin").status_code == 200


# -- the delivery log -----------------------------------------------------------------------------


def attempts_counted(channel: str, outcome: str) -> float:
    labels = {"channel": channel, "outcome": outcome}
    return REGISTRY.get_sample_value("vir_notification_attempts_total", labels) or 0.0


def test_the_deliveries_api_lists_every_attempt_without_any_address(
    instance: Instance, mailbox: Mailbox
) -> None:
    tg = instance.agency
    mailbox.rcpt_replies[VOLUNTEER_EMAIL] = (
        f"550 5.1.1 <{VOLUNTEER_EMAIL}>: Recipient address rejected: User unknown"
    )
    with tg.runtime.sessions.begin() as session:
        preferences.opt_out(session, "volunteer", VOLUNTEER, "email", "registration")
    failed_before = attempts_counted("email", "failed")
    tg.handle(volunteer_registered(), placement_published(), match_confirmed())
    tg.run()

    listed = instance.call("GET", "/api/v1/deliveries")

    assert listed.status_code == 200
    assert len(listed.json) == 4
    assert json.loads(listed.headers["X-Pagination"])["total"] == 4
    by_key = {(d["event_type"], d["recipient_kind"], d["channel"]): d for d in listed.json}
    assert by_key[("volunteer.registered", "volunteer", "email")]["status"] == "skipped"
    assert by_key[("match.confirmed", "volunteer", "email")]["status"] == "failed"
    assert by_key[("match.confirmed", "volunteer", "sms")]["status"] == "sent"
    assert by_key[("match.confirmed", "staff", "email")]["status"] == "sent"
    assert attempts_counted("email", "failed") == failed_before + 1

    failed = instance.call("GET", "/api/v1/deliveries?status=failed").json
    assert [(d["recipient_kind"], d["recipient_id"], d["channel"]) for d in failed] == [
        ("volunteer", VOLUNTEER, "email")
    ]
    assert len(instance.call("GET", "/api/v1/deliveries?channel=sms").json) == 1
    staff = instance.call(
        "GET", "/api/v1/deliveries?event_type=match.confirmed&recipient_kind=staff"
    ).json
    assert [d["recipient_id"] for d in staff] == ["TG"]
    page = instance.call("GET", "/api/v1/deliveries?page=2&page_size=3")
    assert len(page.json) == 1 and json.loads(page.headers["X-Pagination"])["total"] == 4
    assert instance.call("GET", "/api/v1/deliveries?status=lost").status_code == 422

    detail = instance.call("GET", f"/api/v1/deliveries/{failed[0]['id']}")
    assert detail.status_code == 200
    [attempt] = detail.json["attempt_log"]
    assert attempt["outcome"] == "failed" and "550" in attempt["reason"]
    assert attempt["provider_answer"].startswith("550 5.1.1")
    assert "Recipient address rejected" in attempt["provider_answer"]
    assert detail.json["payload"]["placement"]["title"].startswith("Animateur")
    skipped_id = by_key[("volunteer.registered", "volunteer", "email")]["id"]
    skipped = instance.call("GET", f"/api/v1/deliveries/{skipped_id}").json
    assert [a["outcome"] for a in skipped["attempt_log"]] == ["skipped"]
    assert instance.call("GET", "/api/v1/deliveries/dlv-unknown").status_code == 404

    everything = listed.get_data(as_text=True) + detail.get_data(as_text=True)
    everything += json.dumps(skipped)
    for contact in (VOLUNTEER_EMAIL, TG_STAFF_EMAIL, "+22890123456", "90 12 34 56", "Ama Mensah"):
        assert contact not in everything
    assert "@" not in everything
