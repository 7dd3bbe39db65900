"""A staff member's day on the dashboard, in a real browser (Playwright driving Chromium)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from services.registry.handlers import Node
from services.registry.handlers.peer_events import handle
from shared.events import new_event
from tests.browser.conftest import shot, sign_in
from tests.support.registry import PILOT_TERMS, volunteer_payload

pytestmark = pytest.mark.integration

CSV_HEADER = (
    "first_name,last_name,date_of_birth,gender,nationality,identity_number,email,languages,"
    "skills,available_from,available_until,consent_given_at,consent_purposes\n"
)


def _csv(rows: int, bad_lines: set[int]) -> bytes:
    lines = [CSV_HEADER]
    for n in range(rows):
        line = n + 2  # the header is line 1
        born = "31/02/1995" if line in bad_lines else "02/04/1995"
        lines.append(
            f"Kossi,Agbeko{n},{born},male,TG,TG-IMP-{n:05d},k{n}@example.org,fr:C1,teaching,"
            f"01/09/2027,31/08/2028,2027-06-01T10:00:00,registration;matching\n"
        )
    return "".join(lines).encode()


def _proposal(site, volunteer_id: str, agreement_id: str) -> dict:
    data = {
        "match_id": "m-browser-1",
        "agreement_id": agreement_id,
        "volunteer_id": volunteer_id,
        "placement_id": "pl-ml-sikasso",
        "sending_agency": "TG",
        "host_agency": "ML",
        "score": 0.82,
        "criteria": [
            {
                "criterion": "skills",
                "weight": 0.4,
                "value": 1.0,
                "explanation": "1 of 1 required skills (public health)",
            },
            {"criterion": "languages", "weight": 0.25, "value": 0.8, "explanation": "fr C1 for B2"},
        ],
    }
    _apply(site, "match.proposed", data)
    return data


def _apply(site, type_: str, data: dict, source: str = "/network/matching") -> None:
    event = new_event(
        type_, source=source, subject=data["match_id"], agencies=["TG", "ML"], data=data
    )
    with site.node.runtime.sessions.begin() as session:
        handle(session, event, Node("TG"))


def _confirmed_cell(page):
    return page.locator('tr[data-direction="TG-ML"] td[data-series="confirmed"]').first


def test_a_staff_members_day(page, site, tmp_path):
    # Anonymous: every page sends to the sign-in page.
    page.goto(f"{site.url}/volunteers")
    expect(page).to_have_url(re.compile(r"/login\?next=/volunteers"))
    shot(page, "01-login")
    sign_in(page, site, go=False)
    expect(page).to_have_url(re.compile(r"/volunteers$"))

    # Register a volunteer: first with an impossible date, the French error shows beside the field.
    page.goto(f"{site.url}/volunteers/new")
    values = {
        "first_name": "Ama",
        "last_name": "Mensah",
        "date_of_birth": "31/02/1995",
        "nationality": "TG",
        "identity_number": "TG-BROWSER-1",
        "email": "ama@example.org",
        "languages": "fr:native, ee:native",
        "skills": "public health",
        "domains": "health",
        "available_from": "01/09/2027",
        "available_until": "31/08/2028",
        "preferred_countries": "ML",
    }
    for name, value in values.items():
        page.locator(f'[name="{name}"]').fill(value)
    page.locator('[name="gender"]').select_option("female")
    page.locator('[name="consent_purposes"][value="registration"]').check()
    page.locator('[name="consent_purposes"][value="matching"]').check()
    page.get_by_role("button", name="Inscrire").click()
    error = page.locator("#err-date_of_birth")
    expect(error).to_contain_text("Date non valide")
    expect(page.locator('[name="date_of_birth"]')).to_have_attribute("aria-invalid", "true")
    shot(page, "02-volunteer-invalid-date")
    assert site.node.volunteer_count() == 0
    page.locator('[name="date_of_birth"]').fill("02/04/1995")
    page.get_by_role("button", name="Inscrire").click()
    expect(page.locator("h1")).to_contain_text("Mensah")
    shot(page, "03-volunteer-detail")
    assert site.node.volunteer_count() == 1
    volunteer_id = page.url.rstrip("/").rsplit("/", 1)[-1]

    # Import a CSV and watch the progress reach 100 % with the bad rows listed.
    csv_path = tmp_path / "volontaires.csv"
    csv_path.write_bytes(_csv(300, bad_lines={5, 77}))
    page.goto(f"{site.url}/volunteers/import")
    shot(page, "04-import")
    page.locator('input[type="file"]').set_input_files(str(csv_path))
    page.get_by_role("button", name="Importer le fichier").click()
    expect(page.get_by_role("progressbar")).to_have_attribute(
        "aria-valuenow", re.compile(r"^100(\.0)?$"), timeout=60_000
    )
    expect(page.locator('[data-count="imported"]')).to_contain_text("298 volontaires importés")
    expect(page.locator("tr[data-line]")).to_have_count(2)
    assert (
        page.locator('tr[data-line="5"]').count() == 1
        and page.locator('tr[data-line="77"]').count() == 1
    )
    shot(page, "05-import-done")

    page.goto(f"{site.url}/volunteers")
    shot(page, "06-volunteers")
    page.goto(f"{site.url}/places")
    shot(page, "07-places")

    # An agreement, a proposal awaiting us: accept it, and the ledger moves once it is confirmed.
    with site.node.runtime.sessions.begin() as session:
        from datetime import date

        from services.registry import handlers

        terms = dict(PILOT_TERMS)
        terms["start"], terms["end"] = (
            date.fromisoformat(terms["start"]),
            date.fromisoformat(terms["end"]),
        )
        agreement_id = handlers.propose_agreement(
            session, Node("TG"), {"partners": ["ML"], **terms}
        ).id
    proposal = _proposal(site, volunteer_id, agreement_id)
    page.goto(f"{site.url}/")
    expect(_confirmed_cell(page)).to_have_text("0")
    page.goto(f"{site.url}/proposals")
    expect(
        page.get_by_text("1 of 1 required skills", exact=False)
        .or_(page.get_by_text("compétences", exact=False))
        .first
    ).to_be_visible()
    shot(page, "08-proposals")
    page.get_by_role("button", name="Accepter").first.click()
    expect(page.locator(".flash").first).to_be_visible()
    decision = {
        k: proposal[k] for k in ("match_id", "agreement_id", "volunteer_id", "placement_id")
    }
    _apply(
        site,
        "match.accepted",
        decision | {"agency": "ML"},
        source="/agencies/ML/registry",
    )
    settled = {
        k: proposal[k]
        for k in (
            "match_id",
            "agreement_id",
            "volunteer_id",
            "placement_id",
            "sending_agency",
            "host_agency",
        )
    }
    _apply(site, "match.confirmed", settled)
    page.goto(f"{site.url}/")
    expect(_confirmed_cell(page)).to_have_text("1")
    shot(page, "09-overview")

    for path, name in (
        ("/mobilities", "10-mobilities"),
        ("/agreements", "11-agreements"),
        (f"/agreements/{agreement_id}", "12-agreement"),
        ("/notifications", "13-notifications"),
    ):
        page.goto(f"{site.url}{path}")
        expect(page.locator("h1")).to_be_visible()
        shot(page, name)

    # Switch to English: the choice is remembered from page to page.
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("link", name="Volunteers")).to_be_visible()
    page.goto(f"{site.url}/")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    shot(page, "14-overview-en")

    # A phone-sized screen still shows the navigation and the ledger.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{site.url}/")
    expect(_confirmed_cell(page)).to_be_visible()
    shot(page, "15-overview-phone")

    assert page.console.errors == []  # type: ignore[attr-defined]


def test_tg_staff_cannot_enter_mls_dashboard(page, site, ml_site):
    sign_in(page, ml_site, email=site.email)  # a TG account does not exist on ML's node
    expect(page.locator("#login-error")).to_be_visible()
    page.goto(f"{ml_site.url}/volunteers")
    expect(page).to_have_url(re.compile(r"/login"))
    sign_in(page, site)
    page.goto(f"{ml_site.url}/")  # TG's session cookie means nothing to ML's node
    expect(page).to_have_url(re.compile(r"/login"))
    assert page.console.errors == []  # type: ignore[attr-defined]


def test_a_form_post_without_its_csrf_token_is_refused(page, site):
    sign_in(page, site)
    response = page.request.post(f"{site.url}/volunteers/new", form=volunteer_payload_form())
    assert response.status == 400
    assert site.node.volunteer_count() == 0


def volunteer_payload_form() -> dict:
    v = volunteer_payload(1)
    return {
        "first_name": v["first_name"],
        "last_name": v["last_name"],
        "date_of_birth": "02/04/1995",
        "gender": "female",
        "nationality": "TG",
        "identity_number": "TG-CSRF-1",
    }
