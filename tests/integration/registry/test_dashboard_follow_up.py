"""Dashboard: incidents reported and handled from the incidents page, French first."""

from __future__ import annotations

import json

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_file
from babel.messages.pofile import read_po
from sqlalchemy import select

from shared.db import outbox
from tests.integration.registry.test_dashboard_exchanges import DASHBOARD, post, text, web  # noqa: F401
from tests.support.registry import confirmed_mobility

pytestmark = pytest.mark.integration


def test_staff_report_an_incident_and_its_owner_resolves_it(tg, web):  # noqa: F811
    mob = confirmed_mobility(tg)["mobility"]
    page = text(web.get("/incidents").text)
    assert "Signaler un incident" in page and "Aucun incident signalé." in page
    reported = post(
        web,
        "/incidents",
        "/incidents",
        {
            "mobility_id": mob["id"],
            "severity": "critical",
            "category": "security",
            "description": "Agression à Bamako, volontaire indemne",
        },
    )
    assert reported.status_code == 302
    shown = text(web.get("/incidents").text)
    assert "Incident signalé." in shown and "Critique" in shown and "Sécurité" in shown
    assert "Agression à Bamako" in shown  # this node's own description
    with tg.engine.connect() as conn:
        [payload] = conn.execute(
            select(outbox.c.payload).where(outbox.c.event_type == "mobility.incident_reported")
        ).scalars()
    assert json.loads(payload)["data"]["severity"] == "critical" and "Bamako" not in payload
    [incident] = tg.call("GET", f"/api/v1/mobilities/{mob['id']}/incidents").json
    resolved = post(
        web,
        "/incidents",
        f"/incidents/{incident['id']}",
        {"status": "resolved", "resolution": "Rapatriement non nécessaire"},
    )
    assert resolved.status_code == 302
    assert tg.call("GET", f"/api/v1/incidents/{incident['id']}").json["status"] == "resolved"
    assert "Résolu" in text(web.get("/incidents").text)


def test_every_string_of_the_follow_up_pages_has_a_french_translation():
    keywords = dict(DEFAULT_KEYWORDS) | {"N_": None}
    found = []
    for module in sorted((DASHBOARD / "follow_up").glob("*.py")):
        found += extract_from_file("python", module, keywords=keywords)
    for template in (DASHBOARD / "templates/follow_up").glob("*.html"):
        found += extract_from_file(
            "jinja2.ext:babel_extract",
            template,
            keywords=keywords,
            options={"extensions": "jinja2.ext.i18n"},
        )
    with (DASHBOARD / "translations/fr/LC_MESSAGES/follow_up.po").open("rb") as po:
        french = read_po(po, locale="fr")
    with (DASHBOARD / "translations/en/LC_MESSAGES/follow_up.po").open("rb") as po:
        english = read_po(po, locale="en")
    for _line, message, _comments, context in found:
        msgid = message[0] if isinstance(message, tuple) else message
        assert french.get(msgid, context=context) is not None, msgid
        assert french.get(msgid, context=context).string, msgid
        assert english.get(msgid, context=context) is not None, msgid
