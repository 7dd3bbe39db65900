"""Dashboard pages of the exchanges, signed in as staff of TG: match proposals decided with their
explanation, agreements proposed, reviewed, amended and approved through forms, mobilities, and
the notifications log read from the agency's notifications service."""

from __future__ import annotations

import html
import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_file
from babel.messages.pofile import read_po
from sqlalchemy import select

from services.registry import handlers
from services.registry.adapters.orm import Agreement, Match, Mobility
from services.registry.dashboard.accounts import create_account
from services.registry.domain import agreements as rules
from services.registry.handlers import Node
from services.registry.handlers.peer_events import handle
from services.registry.schemas import AgreementProposal, VolunteerIn
from shared.db import outbox
from shared.events import new_event
from tests.support.registry import PILOT_TERMS, volunteer_payload

pytestmark = pytest.mark.integration

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
EMAIL, PASSWORD = "ama@anvt.tg", "lome-2017-pilot"
MATCHING = "/network/matching"
ML = "/agencies/ML/registry"
DASHBOARD = Path(__file__).resolve().parents[3] / "services/registry/dashboard"

# The pilot's terms as typed into the proposal form (dates still to come).
FORM = {
    "partners": "ML",
    "start": PILOT_TERMS["start"],
    "end": PILOT_TERMS["end"],
    "quota-TG-ML": "4",
    "quota-ML-TG": "2",
    "balance_tolerance": "2",
    "fields_of_cooperation": "health, education",
}
# As matching writes them: the English explanation, and its parts as codes for each language.
CRITERIA = [
    {
        "criterion": "skills",
        "weight": 0.4,
        "value": 1.0,
        "explanation": "1 of 1 required skills (public health)",
        "messages": [
            {
                "code": "criterion.skills.named",
                "params": {"have": 1, "total": 1, "skills": "public health"},
            }
        ],
    },
    {
        "criterion": "languages",
        "weight": 0.25,
        "value": 1.0,
        "explanation": "fr native for B2",
        "messages": [
            {
                "code": "criterion.languages.level",
                "params": {"code": "fr", "spoken": "native", "level": "B2"},
            }
        ],
    },
    {
        "criterion": "preference",
        "weight": 0.15,
        "value": 1.0,
        "explanation": "ML is a preferred country",
        "messages": [{"code": "criterion.preference.preferred", "params": {"agency": "ML"}}],
    },
    {
        "criterion": "domain",
        "weight": 0.1,
        "value": 1.0,
        "explanation": "domain health",
        "messages": [{"code": "criterion.domain.known", "params": {"domain": "health"}}],
    },
    {
        "criterion": "waiting",
        "weight": 0.1,
        "value": 0.0,
        "explanation": "registered 0 days ago",
        "messages": [{"code": "criterion.waiting.days", "params": {"num": 0}}],
    },
]


def token(html: str) -> str:
    found = TOKEN.search(html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def post(client: Any, page: str, path: str, data: dict[str, str]) -> Any:
    """Post a form the way a browser does: read the page first, send its CSRF token back."""
    shown = client.get(page)
    assert shown.status_code == 200, shown.text
    return client.post(path, data={**data, "csrf_token": token(shown.text)})


def text(page: str) -> str:
    """The page's words without tags, with the spaces French puts before colons normalised."""
    plain = html.unescape(re.sub(r"<[^>]+>", " ", page))
    return re.sub(r"\s+", " ", plain.replace("\u202f", " ").replace("\xa0", " "))


@pytest.fixture
def web(tg) -> Any:
    with tg.runtime.sessions.begin() as session:
        create_account(session, EMAIL, "Ama Mensah", "staff", PASSWORD)
    client = tg.app.test_client()
    login = client.get("/login")
    signed_in = client.post(
        "/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token(login.text)}
    )
    assert signed_in.status_code == 302
    return client


def _apply(tg, type_: str, data: dict[str, Any], source: str = MATCHING) -> None:
    """A peer event as the consumer applies it; an agreement's proposer, a match's sending
    agency is named first."""
    agencies = ["ML", "TG"] if type_.startswith("agreement.") and source == ML else ["TG", "ML"]
    if data.get("sending_agency") == "ML" and not type_.startswith("agreement."):
        agencies = ["ML", "TG"]
    event = new_event(
        type_,
        source=source,
        subject=data.get("match_id") or data["agreement_id"],
        agencies=agencies,
        data=data,
    )
    with tg.runtime.sessions.begin() as session:
        handle(session, event, Node(tg.agency))


def _agreement(tg) -> str:
    with tg.runtime.sessions.begin() as session:
        data = AgreementProposal().load({"partners": ["ML"], **PILOT_TERMS})
        return handlers.propose_agreement(session, Node("TG"), data).id


def _volunteer(tg, n: int = 1) -> str:
    with tg.runtime.sessions.begin() as session:
        data = VolunteerIn().load(volunteer_payload(n))
        return handlers.register_volunteer(session, Node("TG"), data).id


def _proposal(match_id: str, agreement_id: str, volunteer_id: str) -> dict[str, Any]:
    return {
        "match_id": match_id,
        "agreement_id": agreement_id,
        "volunteer_id": volunteer_id,
        "placement_id": "pl-ml-sikasso-1",
        "sending_agency": "TG",
        "host_agency": "ML",
        "score": 0.9,
        "criteria": CRITERIA,
    }


def _ml_terms(agreement_id: str, revision: int, tg_ml: int) -> dict[str, Any]:
    """Terms as ML's registry sends them, with their canonical hash."""
    terms = rules.Terms(
        agreement_id=agreement_id,
        parties=("ML", "TG"),
        start=date(2027, 9, 1),
        end=date(2028, 12, 31),
        quotas=(rules.Quota("ML", "TG", 2), rules.Quota("TG", "ML", tg_ml)),
        balance_tolerance=2,
        fields_of_cooperation=("health",),
    )
    return {
        "agreement_id": agreement_id,
        "parties": ["ML", "TG"],
        "start": "2027-09-01",
        "end": "2028-12-31",
        "quotas": [
            {"sending": "ML", "host": "TG", "volunteers": 2},
            {"sending": "TG", "host": "ML", "volunteers": tg_ml},
        ],
        "balance_tolerance": 2,
        "fields_of_cooperation": ["health"],
        "terms_hash": terms.hash(),
        "revision": revision,
    }


def _stored(tg) -> list[Agreement]:
    with tg.runtime.sessions() as session:
        return list(session.scalars(select(Agreement)))


# -- access --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/proposals", "/mobilities", "/agreements", "/agreements/new", "/notifications"],
)
def test_an_anonymous_visitor_is_sent_to_sign_in(tg, path):
    r = tg.app.test_client().get(path)
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(tg, web):
    agreement_id = _agreement(tg)
    _apply(tg, "match.proposed", _proposal("m-csrf", agreement_id, _volunteer(tg)))
    r = web.post("/proposals/m-csrf/accept")
    assert r.status_code == 400 and "Échec du contrôle de sécurité" in r.text
    assert tg.outbox_count("match.accepted") == 0


# -- agreements ----------------------------------------------------------------------------------


def test_staff_propose_an_agreement_through_the_form(tg, web):
    step = web.get("/agreements/new?partners=ML")
    assert step.status_code == 200
    assert 'name="quota-TG-ML"' in step.text and 'name="quota-ML-TG"' in step.text
    assert "Quota par sens" in step.text

    r = post(web, "/agreements/new?partners=ML", "/agreements/new", FORM)
    assert r.status_code == 302, r.text
    assert tg.outbox_count("agreement.proposed") == 1
    [stored] = _stored(tg)
    assert stored.parties == ["TG", "ML"] and stored.revision == 1
    assert {(q["sending"], q["host"], q["volunteers"]) for q in stored.quotas} == {
        ("TG", "ML", 4),
        ("ML", "TG", 2),
    }
    assert sorted(stored.fields_of_cooperation) == ["education", "health"]

    page = web.get(r.headers["Location"])
    words = text(page.text)
    assert "Accord proposé à ML" in words
    assert "TG a approuvé cette version" in words
    assert "ML n'a pas encore approuvé la révision 1" in words
    assert stored.terms_hash in page.text and stored.terms_hash[:12] in words
    listed = text(web.get("/agreements").text)
    assert "TG – ML" in listed and "proposé" in listed


def test_an_invalid_agreement_form_shows_french_errors_beside_the_fields_and_stores_nothing(
    tg, web
):
    bad = FORM | {"end": "2027-01-31", "quota-ML-TG": "-1", "balance_tolerance": ""}
    r = post(web, "/agreements/new?partners=ML", "/agreements/new", bad)
    assert r.status_code == 200  # shown again with its errors
    end_error = re.search(r'id="new-end-error">([^<]+)<', r.text)
    quota_error = re.search(r'id="new-quota-ML-TG-error">([^<]+)<', r.text)
    tolerance_error = re.search(r'id="new-tolerance-error">([^<]+)<', r.text)
    assert end_error and end_error.group(1) == "Ne doit pas précéder la date de début."
    assert quota_error and quota_error.group(1) == "Saisissez un nombre entier entre 0 et 10000."
    assert tolerance_error and tolerance_error.group(1) == "Ce champ est obligatoire."
    assert 'aria-describedby="new-end-error"' in r.text and 'aria-invalid="true"' in r.text
    assert 'value="-1"' in r.text and 'value="2027-01-31"' in r.text  # what was typed stays
    assert "Le formulaire n'a pas été enregistré" in r.text
    assert _stored(tg) == [] and tg.outbox_count() == 0

    unknown = web.get("/agreements/new?partners=ZZ")
    assert "Code de pays ou d&#39;agence inconnu : ZZ." in unknown.text
    assert 'name="quota-TG-ZZ"' not in unknown.text


def test_amending_makes_revision_2_and_approving_from_a_stale_page_is_refused(tg, web):
    created = post(web, "/agreements/new?partners=ML", "/agreements/new", FORM)
    page = created.headers["Location"]
    stale = web.get(page)
    old_hash = re.search(r'name="terms_hash" value="([0-9a-f]{64})"', stale.text)
    [before] = _stored(tg)
    assert old_hash is None  # TG approved its own proposal: nothing left for TG to approve
    assert 'value="4"' in stale.text  # the amend form is prefilled with the terms

    amended = post(web, page, f"{page}/amend", FORM | {"quota-TG-ML": "3"})
    assert amended.status_code == 302
    [after] = _stored(tg)
    assert after.revision == 2 and after.terms_hash != before.terms_hash
    assert tg.outbox_count("agreement.amended") == 1
    shown = text(web.get(page).text)
    assert "Conditions amendées : révision 2" in shown
    assert "ML n'a pas encore approuvé la révision 2" in shown

    refused = post(web, page, f"{page}/approve", {"terms_hash": before.terms_hash})
    assert refused.status_code == 302
    flashed = text(web.get(page).text)
    assert "Ces conditions ne sont plus à jour" in flashed
    [unchanged] = _stored(tg)
    assert (unchanged.revision, unchanged.approvals) == (2, {"TG": after.terms_hash})
    assert tg.outbox_count("agreement.approved") == 0


def test_an_amendment_that_breaks_a_rule_is_shown_beside_the_field(tg, web):
    page = post(web, "/agreements/new?partners=ML", "/agreements/new", FORM).headers["Location"]
    same = post(web, page, f"{page}/amend", FORM)  # the current terms: nothing to amend
    assert same.status_code == 200  # shown again with its errors
    assert "Ces conditions sont déjà celles en vigueur : rien à amender." in same.text
    assert _stored(tg)[0].revision == 1 and tg.outbox_count("agreement.amended") == 0


def test_staff_review_and_approve_the_version_the_partner_proposed(tg, web):
    proposed = _ml_terms("agr-ml-tg-2027", 1, 4)
    _apply(tg, "agreement.proposed", proposed, source=ML)
    page = "/agreements/agr-ml-tg-2027"
    shown = web.get(page)
    words = text(shown.text)
    assert "ML a approuvé cette version" in words
    assert "TG n'a pas encore approuvé la révision 1" in words
    assert "Approuver la révision 1" in words
    posted_hash = re.search(r'name="terms_hash" value="([0-9a-f]{64})"', shown.text).group(1)
    assert posted_hash == proposed["terms_hash"]

    # ML amends while TG still looks at revision 1: approving what TG read is refused.
    _apply(tg, "agreement.amended", _ml_terms("agr-ml-tg-2027", 2, 3), source=ML)
    stale = web.post(
        f"{page}/approve", data={"terms_hash": posted_hash, "csrf_token": token(shown.text)}
    )
    assert stale.status_code == 302
    assert "Ces conditions ne sont plus à jour" in text(web.get(page).text)
    assert tg.outbox_count("agreement.approved") == 0

    approved = post(
        web,
        page,
        f"{page}/approve",
        {"terms_hash": _ml_terms("agr-ml-tg-2027", 2, 3)["terms_hash"]},
    )
    assert approved.status_code == 302
    assert (
        tg.outbox_count("agreement.approved") == 1 and tg.outbox_count("agreement.activated") == 1
    )
    words = text(web.get(page).text)
    assert "l'accord est en vigueur" in words and "TG a approuvé cette version" in words
    assert "Approuver la révision" not in words


def test_terminating_needs_a_reason_and_a_date(tg, web):
    page = post(web, "/agreements/new?partners=ML", "/agreements/new", FORM).headers["Location"]
    refused = post(web, page, f"{page}/terminate", {"reason": "", "effective": "soon"})
    assert refused.status_code == 200  # shown again with its errors
    assert re.search(r'id="terminate-reason-error">Ce champ est obligatoire.<', refused.text)
    assert re.search(r'id="terminate-effective-error">Date non valide.<', refused.text)
    assert tg.outbox_count("agreement.terminated") == 0

    done = post(
        web,
        page,
        f"{page}/terminate",
        {"reason": "end_of_programme", "effective": "2028-01-31", "note": "Budget 2028 voté"},
    )
    assert done.status_code == 302 and tg.outbox_count("agreement.terminated") == 1
    words = text(web.get(page).text)
    assert "résilié" in words and "Fin du programme" in words  # the code's French label
    assert "Budget 2028 voté" in words  # the local note, shown on this node
    assert "Amender les conditions" not in words


def test_an_unknown_agreement_is_not_found(tg, web):
    assert web.get("/agreements/agr-nope").status_code == 404


# -- proposals -----------------------------------------------------------------------------------


def test_a_proposal_awaiting_us_shows_its_explanation_and_accepting_it_sends_the_decision(tg, web):
    agreement_id = _agreement(tg)
    volunteer_id = _volunteer(tg)
    _apply(tg, "match.proposed", _proposal("m-1", agreement_id, volunteer_id))

    page = web.get("/proposals")
    words = text(page.text)
    assert "En attente de votre décision (1)" in words
    assert "Ama Mensah1" in words and volunteer_id in words and "pl-ml-sikasso-1" in words
    assert "Score 90 %" in words
    for expected in (
        "Compétences",
        "1 compétence(s) requise(s) sur 1 (public health)",
        "Langues",
        "fr : langue maternelle (niveau exigé : B2)",
        "Pays souhaité",
        "ML fait partie des pays souhaités",
        "domaine health",
        "inscription il y a 0 jour",
        "40 %",
    ):
        assert expected in words, expected

    accepted = post(web, "/proposals", "/proposals/m-1/accept", {})
    assert accepted.status_code == 302
    assert tg.outbox_count("match.accepted") == 1
    after = text(web.get("/proposals").text)
    assert "Proposition acceptée" in after
    assert "Aucune proposition n'attend de décision de TG." in after
    assert "En attente de l'autre agence (1)" in after and "TG a accepté" in after


def test_declining_needs_a_reason_shown_beside_the_field(tg, web):
    agreement_id = _agreement(tg)
    _apply(tg, "match.proposed", _proposal("m-2", agreement_id, _volunteer(tg)))

    refused = post(web, "/proposals", "/proposals/m-2/decline", {"reason": "  "})
    assert refused.status_code == 200  # shown again with its errors
    error = re.search(r'id="reason-m-2-error">([^<]+)<', refused.text)
    assert error and error.group(1) == "Ce champ est obligatoire."
    assert 'aria-describedby="reason-m-2-hint reason-m-2-error"' in refused.text
    assert tg.outbox_count("match.declined") == 0

    declined = post(
        web, "/proposals", "/proposals/m-2/decline", {"reason": "dates", "note": "dates do not fit"}
    )
    assert declined.status_code == 302
    assert tg.outbox_count("match.declined") == 1
    with tg.runtime.sessions() as session:
        match = session.get(Match, "m-2")
        assert (match.status, match.status_reason) == ("declined", "dates")
        assert match.decisions["TG"]["note"] == "dates do not fit"
    words = text(web.get("/proposals").text)
    assert "Propositions traitées (1)" in words and "Dates inadaptées" in words
    assert "dates do not fit" in words  # this node's own note

    again = post(web, "/proposals", "/proposals/m-2/accept", {})
    assert again.status_code == 302
    assert "Cette proposition est déclinée : il n'est plus possible de se prononcer." in text(
        web.get("/proposals").text
    )


def test_a_confirmed_match_moves_the_overview_ledger(tg, web):
    agreement_id = _agreement(tg)
    proposal = _proposal("m-3", agreement_id, _volunteer(tg))
    _apply(tg, "match.proposed", proposal)
    assert post(web, "/proposals", "/proposals/m-3/accept", {}).status_code == 302

    def confirmed_tg_ml() -> str:
        row = re.search(r'<tr data-direction="TG-ML">(.*?)</tr>', web.get("/").text, re.S)
        return re.search(r'<td data-series="confirmed">(\d+)</td>', row.group(1)).group(1)

    assert confirmed_tg_ml() == "0"
    keys = ("match_id", "agreement_id", "volunteer_id", "placement_id")
    _apply(
        tg,
        "match.accepted",
        {k: proposal[k] for k in keys} | {"agency": "ML"},
        source=ML,
    )
    settled = {k: proposal[k] for k in (*keys, "sending_agency", "host_agency")}
    _apply(tg, "match.confirmed", settled)
    assert confirmed_tg_ml() == "1"
    assert "confirmée" in text(web.get("/proposals").text)


def test_the_english_switch_is_remembered(tg, web):
    assert "En attente de votre décision" in web.get("/proposals").text
    switched = post(web, "/proposals", "/language/en", {"next": "/proposals"})
    assert switched.status_code == 302 and "vir_lang=en" in switched.headers["Set-Cookie"]
    for path, label in (
        ("/proposals", "Awaiting your decision"),
        ("/agreements", "Propose an agreement"),
        ("/agreements/new?partners=ML", "Quota per direction (volunteers sent)"),
        ("/mobilities", "No mobility yet"),
        ("/notifications", "The notifications service is not configured"),
    ):
        page = web.get(path)
        assert label in page.text and '<html lang="en">' in page.text, path
    bad = post(web, "/agreements/new?partners=ML", "/agreements/new", FORM | {"quota-TG-ML": "-4"})
    assert "The form was not saved: correct the fields marked below." in bad.text


# -- mobilities ----------------------------------------------------------------------------------


def test_mobilities_show_their_status_dates_and_follow_up_reports(tg, web):
    assert "Aucune mobilité pour l'instant" in web.get("/mobilities").text
    agreement_id = _agreement(tg)
    volunteer_id = _volunteer(tg)
    _apply(tg, "match.proposed", _proposal("m-4", agreement_id, volunteer_id))
    with tg.runtime.sessions.begin() as session:
        session.add(
            Mobility(
                id="mob-1",
                match_id="m-4",
                agreement_id=agreement_id,
                sending_agency="TG",
                host_agency="ML",
                status="in_mission",
                started_on=date(2027, 10, 1),
                reports=[
                    {"kind": "start", "submitted_by": "ML", "on": "2027-10-15"},
                    {"kind": "incident", "submitted_by": "ML", "on": "2027-11-02"},
                ],
                updated_at=datetime.now(UTC),
            )
        )
    words = text(web.get("/mobilities").text)
    assert "Ama Mensah1" in words and "en mission" in words and "1 oct. 2027" in words
    assert "1 rapport(s) déposé(s) sur 3" in words
    assert "Démarrage : déposé le 15 oct. 2027" in words
    assert "Mi-parcours : manquant" in words and "Fin de mission : manquant" in words
    assert "1 incident signalé" in words


# -- notifications -------------------------------------------------------------------------------


class _DeliveryLog(BaseHTTPRequestHandler):
    """Answers like the notifications service's GET /api/v1/deliveries."""

    seen: list[tuple[str, str | None]] = []
    rows: list[dict[str, Any]] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        type(self).seen.append((self.path, self.headers.get("Authorization")))
        if self.headers.get("Authorization") != "Bearer notif-token":
            self.send_response(401)
            self.end_headers()
            return
        body = json.dumps(self.rows).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header(
            "X-Pagination",
            json.dumps({"total": len(self.rows), "total_pages": 1, "page": 1, "first_page": 1}),
        )
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def delivery_log() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _DeliveryLog)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _delivery(n: int, volunteer_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "id": f"d-{n}",
        "event_id": f"e-{n}",
        "event_type": "match.confirmed",
        "agencies": ["TG", "ML"],
        "category": "matches",
        "mandatory": True,
        "recipient_kind": "volunteer",
        "recipient_id": volunteer_id,
        "channel": "sms",
        "status": "failed",
        "attempts": 3,
        "next_attempt_at": None,
        "last_error": "gateway answered 503",
        "created_at": "2027-10-02T09:30:00+00:00",
        "updated_at": "2027-10-02T10:30:00+00:00",
    } | overrides


def test_the_notifications_page_lists_the_delivery_log(tg, web, delivery_log):
    volunteer_id = _volunteer(tg)
    _DeliveryLog.seen, _DeliveryLog.rows = (
        [],
        [
            _delivery(1, volunteer_id),
            _delivery(
                2,
                "staff-1",
                recipient_kind="staff",
                channel="email",
                status="sent",
                attempts=1,
                last_error=None,
                event_type="agreement.proposed",
            ),
        ],
    )
    tg.app.config["DASHBOARD"]["notifications_url"] = delivery_log + "/"
    tg.app.config["DASHBOARD"]["notifications_token"] = "notif-token"

    page = web.get("/notifications?status=failed&channel=bogus")
    assert page.status_code == 200
    path, auth = _DeliveryLog.seen[-1]
    assert auth == "Bearer notif-token"
    assert path.startswith("/api/v1/deliveries?") and "page=1" in path and "page_size=25" in path
    assert "status=failed" in path and "channel" not in path  # unknown filters are not forwarded
    words = text(page.text)
    for expected in (
        "Proposition confirmée",
        "Volontaire Ama Mensah1",
        "SMS",
        "échec",
        "gateway answered 503",
        "Accord proposé",
        "Personnel de l'agence",
        "envoyé",
        "02/10/2027 09:30",
    ):
        assert expected in words, expected
    assert re.search(r'<tr data-delivery="d-1">.*?<td>3</td>', page.text, re.S)

    tg.app.config["DASHBOARD"]["notifications_token"] = "wrong"
    assert "a refusé le jeton de ce nœud" in web.get("/notifications").text


def test_the_notifications_page_explains_when_the_service_is_missing_or_down(tg, web):
    tg.app.config["DASHBOARD"]["notifications_url"] = None
    page = web.get("/notifications")
    assert page.status_code == 200
    assert "Le service de notifications n'est pas configuré pour ce nœud" in text(page.text)

    tg.app.config["DASHBOARD"]["notifications_url"] = "http://127.0.0.1:9"  # nothing listens
    tg.app.config["DASHBOARD"]["notifications_token"] = "notif-token"
    down = web.get("/notifications")
    assert down.status_code == 200
    assert "Le service de notifications est injoignable pour le moment." in down.text


# -- catalogs ------------------------------------------------------------------------------------


def test_every_string_of_these_pages_has_a_french_translation():
    keywords = dict(DEFAULT_KEYWORDS) | {"N_": None}
    found = []
    for module in (
        *sorted((DASHBOARD / "exchanges").glob("*.py")),
        DASHBOARD / "labels/exchanges.py",
        DASHBOARD / "adapters/notifications.py",
    ):
        found += extract_from_file("python", module, keywords=keywords)
    for template in (DASHBOARD / "templates/exchanges").glob("*.html"):
        found += extract_from_file(
            "jinja2.ext:babel_extract",
            template,
            keywords=keywords,
            options={"extensions": "jinja2.ext.i18n"},
        )
    used = {(context, message) for _line, message, _comments, context in found}
    catalogs = {}
    for language in ("fr", "en"):
        with (DASHBOARD / f"translations/{language}/LC_MESSAGES/exchanges.po").open("rb") as po:
            catalogs[language] = read_po(po, locale=language)
    for context, message in used:
        msgid = message[0] if isinstance(message, tuple) else message
        french = catalogs["fr"].get(msgid, context=context)
        assert french is not None and all(
            french.string if isinstance(french.string, tuple) else [french.string]
        ), (context, message)
        assert catalogs["en"].get(msgid, context=context) is not None, (context, message)
    assert len(used) > 200


def _tick_mandatory(web, mobility_id):
    for code in ("contract", "insurance", "travel_booked", "pre_departure_training"):
        path = f"/mobilities/{mobility_id}/checklist/{code}"
        assert post(web, "/mobilities", path, {"done": "1"}).status_code == 302


def test_staff_record_the_steps_of_a_mission_from_the_mobilities_page(tg, web):
    agreement_id = _agreement(tg)
    volunteer_id = _volunteer(tg)
    proposal = _proposal("m-steps", agreement_id, volunteer_id)
    _apply(tg, "match.proposed", proposal)
    assert post(web, "/proposals", "/proposals/m-steps/accept", {}).status_code == 302
    keys = (
        "match_id",
        "agreement_id",
        "volunteer_id",
        "placement_id",
        "sending_agency",
        "host_agency",
    )
    _apply(tg, "match.confirmed", {k: proposal[k] for k in keys})
    page = web.get("/mobilities").text
    mobility_id = re.search(r'data-mobility="([^"]+)"', page).group(1)
    step = f"/mobilities/{mobility_id}/step"

    early = post(web, "/mobilities", step, {"step": "complete", "on": "31/07/2028"})
    assert early.status_code == 302
    assert (
        "Rapports encore manquants" in text(web.get("/mobilities").text)
        or tg.outbox_count("mobility.completed") == 0
    )
    assert post(web, "/mobilities", step, {"step": "start", "on": "02/10/2027"}).status_code == 302
    assert tg.outbox_count("mobility.started") == 0
    refused = text(web.get("/mobilities").text)
    assert "Élément de la préparation au départ encore ouvert : Contrat de volontariat signé" in (
        refused
    )
    _tick_mandatory(web, mobility_id)
    assert "✓ Assurance santé et rapatriement" in text(web.get("/mobilities").text)
    assert post(web, "/mobilities", step, {"step": "start", "on": "02/10/2027"}).status_code == 302
    assert tg.outbox_count("mobility.started") == 1
    shown = text(web.get("/mobilities").text)
    assert "en mission" in shown and "2 oct. 2027" in shown
    # TG sends: it sees the check-ins due, its volunteer answers by link, ML's staff on its node.
    assert "Point d'étape de mi-parcours" in shown and "Répondre à un point d'étape" not in shown
    for kind, on in (
        ("report:start", "10/10/2027"),
        ("report:mid_term", "15/02/2028"),
        ("report:end", "25/07/2028"),
    ):
        post(web, "/mobilities", step, {"step": kind, "on": on, "summary": "Tout va bien."})
    assert tg.outbox_count("mobility.report_submitted") == 3
    bad = post(web, "/mobilities", step, {"step": "interrupt", "on": "01/01/2028", "reason": ""})
    assert bad.status_code == 302 and tg.outbox_count("mobility.interrupted") == 0
    assert (
        post(web, "/mobilities", step, {"step": "complete", "on": "31/07/2028"}).status_code == 302
    )
    assert tg.outbox_count("mobility.completed") == 1
    assert "terminée" in text(web.get("/mobilities").text) or "terminé" in text(
        web.get("/mobilities").text
    )


def test_an_interruption_sends_its_reason_code_and_keeps_the_note_here(tg, web):
    agreement_id = _agreement(tg)
    proposal = _proposal("m-stop", agreement_id, _volunteer(tg))
    _apply(tg, "match.proposed", proposal)
    assert post(web, "/proposals", "/proposals/m-stop/accept", {}).status_code == 302
    keys = ("match_id", "agreement_id", "volunteer_id", "placement_id")
    _apply(
        tg, "match.confirmed", {k: proposal[k] for k in (*keys, "sending_agency", "host_agency")}
    )
    mobility_id = re.search(r'data-mobility="([^"]+)"', web.get("/mobilities").text).group(1)
    step = f"/mobilities/{mobility_id}/step"
    _tick_mandatory(web, mobility_id)
    assert post(web, "/mobilities", step, {"step": "start", "on": "02/10/2027"}).status_code == 302
    note = "Paludisme grave, rapatriée par l'ambassade"
    stopped = post(
        web,
        "/mobilities",
        step,
        {"step": "interrupt", "on": "01/12/2027", "reason": "health", "summary": note},
    )
    assert stopped.status_code == 302 and tg.outbox_count("mobility.interrupted") == 1
    shown = text(web.get("/mobilities").text)
    assert "Santé" in shown and note in shown
    with tg.engine.connect() as conn:
        payload = conn.execute(
            select(outbox.c.payload).where(outbox.c.event_type == "mobility.interrupted")
        ).scalar_one()
    assert json.loads(payload)["data"]["reason"] == "health" and "Paludisme" not in payload


def test_the_host_agency_answers_a_check_in_from_the_mobilities_page(tg, web):
    agreement_id = _agreement(tg)
    proposal = _proposal("m-hosted", agreement_id, "vol-ml-1") | {
        "placement_id": "pl-tg-lome-1",
        "sending_agency": "ML",
        "host_agency": "TG",
    }
    _apply(tg, "match.proposed", proposal)
    assert post(web, "/proposals", "/proposals/m-hosted/accept", {}).status_code == 302
    keys = ("match_id", "agreement_id", "volunteer_id", "placement_id")
    _apply(
        tg, "match.confirmed", {k: proposal[k] for k in (*keys, "sending_agency", "host_agency")}
    )
    mobility_id = re.search(r'data-mobility="([^"]+)"', web.get("/mobilities").text).group(1)
    started = {
        "mobility_id": mobility_id,
        "match_id": "m-hosted",
        "agreement_id": agreement_id,
        "sending_agency": "ML",
        "host_agency": "TG",
        "on": "2027-10-02",
        "planned_end": "2028-07-31",
    }
    _apply(tg, "mobility.started", started, source=ML)
    page = text(web.get("/mobilities").text)
    assert "Répondre à un point d'étape" in page and "Premier point d'étape (16 oct. 2027)" in page
    answer = {"check_in": "first", "wellbeing": "4", "integration": "3", "workload": "5"}
    answer |= {"issues": "no", "note": "Bonne intégration au CHU."}
    path = f"/mobilities/{mobility_id}/check-in"
    assert post(web, "/mobilities", path, answer).status_code == 302
    assert tg.outbox_count("mobility.check_in_submitted") == 1
    assert "Enregistré" in text(web.get("/mobilities").text)
    assert post(web, "/mobilities", path, answer).status_code == 302  # answered already
    assert tg.outbox_count("mobility.check_in_submitted") == 1


def test_the_sending_agency_sees_the_hosts_placement_by_title_city_and_organisation(tg, web):
    proposal = _proposal("m-described", _agreement(tg), _volunteer(tg)) | {
        "placement": {
            "title": "Enseignant de mathématiques",
            "city": "Ségou",
            "host_organisation": "Lycée technique de Ségou",
        }
    }
    _apply(tg, "match.proposed", proposal)
    shown = text(web.get("/proposals").text)
    assert "Enseignant de mathématiques (Ségou), Lycée technique de Ségou" in shown
    assert tg.call("GET", "/api/v1/matches/m-described").json["placement"]["city"] == "Ségou"
