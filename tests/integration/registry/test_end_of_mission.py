"""End of a mission: the review questionnaires of the four respondents, and the certificate of
completion in French and English with a code verifiable at a public URL revealing nothing else."""

from __future__ import annotations

import io
import json

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from shared.db import outbox
from tests.support.registry import apply_event, confirmed_mobility, prepare_departure

pytestmark = pytest.mark.integration

ML = "/agencies/ML/registry"
HOSTED = {
    "placement_id": "pl-ml-1",
    "title": "Animateur de santé communautaire",
    "city": "Sikasso",
    "host_organisation": "Centre de santé communautaire de Sikasso",
    "start": "2027-10-01",
    "end": "2028-07-31",
}


def _complete(tg, mob):
    path = f"/api/v1/mobilities/{mob['id']}"
    prepare_departure(tg, mob["id"])
    assert tg.call("POST", f"{path}/start", json={"on": "2027-10-02"}).status_code == 200
    for kind, on in (("start", "2027-10-10"), ("mid_term", "2028-02-15"), ("end", "2028-07-25")):
        tg.call("POST", f"{path}/reports", json={"kind": kind, "on": on})
    assert tg.call("POST", f"{path}/complete", json={"on": "2028-07-31"}).status_code == 200


@pytest.fixture
def completed(tg):
    setup = confirmed_mobility(tg)
    mob = setup["mobility"]
    keys = ("match_id", "agreement_id", "sending_agency", "host_agency")
    hosted = {k: mob[k] for k in keys} | {"mobility_id": mob["id"]} | HOSTED
    apply_event(tg, "mobility.hosted", hosted, source=ML)
    tg.call(
        "PUT",
        "/api/v1/agency",
        who="admin",
        json={"name": "Agence nationale du volontariat au Togo", "languages": ["fr"]},
    )
    _complete(tg, mob)
    return tg, mob, setup["volunteer"]


def _pdf_text(response) -> str:
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    reader = PdfReader(io.BytesIO(response.data))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


def test_reviews_are_recorded_by_the_agency_of_each_respondent_and_travel_without_comments(
    completed,
):
    tg, mob, _volunteer = completed
    path = f"/api/v1/mobilities/{mob['id']}/reviews"
    scores = {"on": "2028-08-05", "overall": 5, "objectives": 4, "support": 4}
    mine = tg.call(
        "POST", path, json=scores | {"respondent": "volunteer", "comments": "Une année forte."}
    )
    assert mine.status_code == 200
    assert tg.call("POST", path, json=scores | {"respondent": "sending_agency"}).status_code == 200
    assert tg.call("POST", path, json=scores | {"respondent": "volunteer"}).status_code == 409
    assert tg.call("POST", path, json=scores | {"respondent": "host_agency"}).status_code == 403
    peer = {
        "mobility_id": mob["id"],
        "agreement_id": mob["agreement_id"],
        "respondent": "host_organisation",
        "submitted_by": "ML",
        "on": "2028-08-10",
        "overall": 4,
        "objectives": 4,
        "support": 3,
    }
    apply_event(tg, "mobility.review_submitted", peer, source=ML)
    apply_event(tg, "mobility.review_submitted", peer, source=ML)  # redelivered
    reviews = tg.call("GET", f"/api/v1/mobilities/{mob['id']}").json["reviews"]
    assert sorted(r["respondent"] for r in reviews) == [
        "host_organisation",
        "sending_agency",
        "volunteer",
    ]
    with tg.engine.connect() as conn:
        payloads = conn.execute(
            select(outbox.c.payload).where(outbox.c.event_type == "mobility.review_submitted")
        ).scalars()
        texts = list(payloads)
    assert len(texts) == 2 and not any("forte" in t for t in texts)
    assert json.loads(texts[0])["data"]["overall"] == 5


def test_the_certificate_in_french_and_english_and_its_public_verification(completed):
    tg, mob, volunteer = completed
    path = f"/api/v1/mobilities/{mob['id']}/certificate"
    french = _pdf_text(tg.call("GET", path))
    name = f"{volunteer['first_name']} {volunteer['last_name']}"
    for expected in (
        "Certificat de fin de mission",
        "Agence nationale du volontariat au Togo (Togo) certifie que",
        name,
        "Animateur de santé communautaire",
        "Centre de santé communautaire de Sikasso",
        "Sikasso",
        "ML (Mali)",
        "du 2 octobre 2027 au 31 juillet 2028",
    ):
        assert expected in french, (expected, french)
    code = french.split("Code de vérification : ")[1].split()[0]
    english = _pdf_text(tg.call("GET", f"{path}?lang=en"))
    assert "Certificate of completion" in english and "from October 2, 2027 to July 31, 2028" in (
        english
    )
    assert f"Verification code: {code}" in english.replace(" :", ":")  # the same code

    check = tg.client().get(f"/certificates/{code}")
    assert check.status_code == 200 and "Certificat valide" in check.text
    assert "Agence nationale du volontariat au Togo" in check.text
    for secret in (volunteer["first_name"], volunteer["last_name"], "Sikasso", mob["id"]):
        assert secret not in check.text
    assert tg.client().get("/certificates/NOTACODE").status_code == 404


def test_no_certificate_before_completion_nor_from_the_host_agency(tg):
    mob = confirmed_mobility(tg)["mobility"]
    assert tg.call("GET", f"/api/v1/mobilities/{mob['id']}/certificate").status_code == 409
