"""The agreement's evaluation report: the figures of a finished exchange period, as JSON, XLSX
(read back with openpyxl) and PDF (text read back with pypdf), and the partner version."""

from __future__ import annotations

import io
import json
from datetime import date

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from services.registry import handlers
from services.registry.handlers import Node
from tests.integration.registry.test_dashboard_exchanges import post, text, web  # noqa: F401
from tests.support.registry import PILOT_TERMS, apply_event, prepare_departure, volunteer_payload

pytestmark = pytest.mark.integration

TERMS = PILOT_TERMS | {"start": "2025-09-01", "end": "2026-08-31"}
NAMES = []


def _mission(tg, agreement_id, n):
    volunteer = tg.call("POST", "/api/v1/volunteers", json=volunteer_payload(n)).json
    NAMES.append(volunteer["last_name"])
    match = {
        "match_id": f"m-eval-{n}",
        "agreement_id": agreement_id,
        "volunteer_id": volunteer["id"],
        "placement_id": f"pl-ml-{n}",
        "sending_agency": "TG",
        "host_agency": "ML",
    }
    apply_event(tg, "match.proposed", {**match, "score": 0.8, "criteria": []})
    assert tg.call("POST", f"/api/v1/matches/m-eval-{n}/accept").status_code == 200
    apply_event(tg, "match.confirmed", match)
    mob = f"mob-eval-{n}"
    prepare_departure(tg, mob, on="2025-09-15")
    started = tg.call(
        "POST",
        f"/api/v1/mobilities/{mob}/start",
        json={"on": "2025-10-01", "planned_end": "2026-07-31"},
    )
    assert started.status_code == 200, started.json
    return mob


def _host_check_in(tg, mob, agreement_id, check_in, scores):
    data = {
        "mobility_id": mob,
        "agreement_id": agreement_id,
        "check_in": check_in,
        "respondent": "host_agency",
        "submitted_by": "ML",
        "on": "2026-01-10",
        **scores,
        "issues": False,
    }
    apply_event(tg, "mobility.check_in_submitted", data, source="/agencies/ML/registry")


def _complete(tg, mob):
    path = f"/api/v1/mobilities/{mob}"
    for kind, on in (("start", "2025-10-10"), ("mid_term", "2026-02-15"), ("end", "2026-07-25")):
        tg.call("POST", f"{path}/reports", json={"kind": kind, "on": on})
    assert tg.call("POST", f"{path}/complete", json={"on": "2026-07-31"}).status_code == 200


@pytest.fixture
def period(tg):
    agreement = tg.call("POST", "/api/v1/agreements", json={"partners": ["ML"], **TERMS}).json
    a = agreement["id"]
    m1, m2, m3 = (_mission(tg, a, n) for n in (1, 2, 3))
    with tg.runtime.sessions.begin() as session:
        handlers.fill_check_in(
            session,
            Node("TG"),
            m1,
            "first",
            "volunteer",
            date(2025, 10, 16),
            {"wellbeing": 5, "integration": 4, "workload": 3, "issues": True},
            "Je me sens seule le soir.",
        )
    _host_check_in(tg, m1, a, "first", {"wellbeing": 4, "integration": 3, "workload": 4})
    _host_check_in(tg, m3, a, "mid_term", {"wellbeing": 3, "integration": 3, "workload": 3})
    incident = {"on": "2025-12-04", "severity": "high", "category": "health"}
    incident |= {"description": "Paludisme grave, hospitalisée"}
    assert tg.call("POST", f"/api/v1/mobilities/{m1}/incidents", json=incident).status_code == 201
    stop = {"on": "2025-12-01", "reason": "health", "note": "Rapatriée par l'ambassade"}
    assert tg.call("POST", f"/api/v1/mobilities/{m2}/interrupt", json=stop).status_code == 200
    _complete(tg, m1)
    _complete(tg, m3)
    lessons = {"text": "Prévoir un point d'étape dès le premier mois.", "on": "2026-09-10"}
    assert (
        tg.call("PUT", f"/api/v1/agreements/{a}/evaluation/lessons", json=lessons).status_code
        == 200
    )
    ml_lessons = {
        "agreement_id": a,
        "agency": "ML",
        "text": "Renforcer l'accueil à l'arrivée.",
        "on": "2026-09-12",
    }
    apply_event(tg, "agreement.lessons_shared", ml_lessons, source="/agencies/ML/registry")
    review = {"respondent": "volunteer", "on": "2026-08-05", "overall": 5, "objectives": 4}
    review |= {"support": 4, "comments": "Une année inoubliable."}
    assert tg.call("POST", f"/api/v1/mobilities/{m1}/reviews", json=review).status_code == 200
    return tg, a


def test_the_report_counts_the_period_per_direction(period):
    tg, a = period
    report = tg.call("GET", f"/api/v1/agreements/{a}/evaluation").json
    tg_ml, ml_tg = report["directions"]
    assert {k: tg_ml[k] for k in ("quota", "proposed", "confirmed", "started", "completed")} == {
        "quota": 4,
        "proposed": 3,
        "confirmed": 3,
        "started": 3,
        "completed": 2,
    }
    assert tg_ml["interrupted"] == 1 and tg_ml["interrupted_by_reason"] == {"health": 1}
    assert tg_ml["days_registration_to_proposal"] is not None
    assert (ml_tg["proposed"], ml_tg["started"]) == (0, 0)
    assert (report["balance"], report["within_tolerance"]) == (3, False)
    # due: first, mid-term and final of the two completed missions, the first of the
    # interrupted one, each for two respondents
    assert report["check_ins"]["due"] == 14 and report["check_ins"]["answered"] == 3
    assert report["check_ins"]["completion_rate"] == 0.21
    assert report["check_ins"]["mean_scores"] == {
        "wellbeing": 4.0,
        "integration": 3.3,
        "workload": 3.3,
    }
    assert report["incidents"]["by_category"]["health"] == 1
    assert report["incidents"]["by_severity"]["high"] == 1
    assert report["lessons"]["ML"]["text"] == "Renforcer l'accueil à l'arrivée."
    assert report["lessons"]["TG"]["text"].startswith("Prévoir")
    assert report["reviews"]["volunteer"] == {
        "answers": 1,
        "overall": 5.0,
        "objectives": 4.0,
        "support": 4.0,
    }

    book = load_workbook(
        io.BytesIO(tg.call("GET", f"/api/v1/agreements/{a}/evaluation?format=xlsx").data)
    )
    sheet = book["Sens"]
    assert [c.value for c in sheet[4]][:7] == ["TG → ML", 4, 3, 3, 3, 2, 1]
    assert sheet._charts and book["Incidents"]._charts  # the charts are there
    checks = {row[0].value: row[1].value for row in book["Points d'étape"].iter_rows()}
    assert checks["Attendus"] == 14 and checks["Remplis"] == 3 and checks["Bien-être moyen"] == 4.0

    pdf = tg.call("GET", f"/api/v1/agreements/{a}/evaluation?format=pdf&lang=en")
    assert pdf.mimetype == "application/pdf"
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.data)).pages)
    assert "Evaluation of agreement" in text and "TG -> ML 4 3 3 3 2 1" in " ".join(text.split())
    assert "Completion rate 0.21" in " ".join(text.split())
    assert "Renforcer l'accueil" in text and "Lessons and recommendations" in text


def test_the_partner_version_hides_small_groups_and_carries_no_personal_data(period):
    tg, a = period
    response = tg.call("GET", f"/api/v1/agreements/{a}/evaluation?audience=partner")
    report, raw = response.json, response.get_data(as_text=True)
    tg_ml, ml_tg = report["directions"]
    assert (tg_ml["started"], tg_ml["completed"], tg_ml["interrupted"]) == (3, None, None)
    assert tg_ml["interrupted_by_reason"] == {"health": None}
    assert ml_tg["days_registration_to_proposal"] is None
    assert (
        report["incidents"]["total"] is None and report["reviews"]["volunteer"]["overall"] is None
    )
    for secret in ("Paludisme", "seule", "inoubliable", "ambassade", "mob-eval", "vol-", *NAMES):
        assert secret not in raw
    for secret in ("Prévoir", "Renforcer", "lessons"):
        assert secret not in raw
    # a partner token gets the partner version whatever it asks for
    asked = tg.call("GET", f"/api/v1/agreements/{a}/evaluation?audience=agency", who="partner")
    assert asked.status_code == 200 and json.loads(asked.get_data(as_text=True)) == report


def test_the_dashboard_page_shows_the_same_figures(period, web):  # noqa: F811
    tg, a = period
    page = text(web.get(f"/agreements/{a}/evaluation").text)
    tg_ml = tg.call("GET", f"/api/v1/agreements/{a}/evaluation").json["directions"][0]
    keys = ("quota", "proposed", "confirmed", "started", "completed", "interrupted")
    assert "TG → ML " + " ".join(str(tg_ml[k]) for k in keys) in page
    assert "Taux de complétion 0.21" in page and "Santé (1)" in page
    assert "Renforcer l'accueil à l'arrivée." in page
    shared = post(
        web,
        f"/agreements/{a}/evaluation",
        f"/agreements/{a}/evaluation/lessons",
        {"text": "Former les tuteurs des structures d'accueil."},
    )
    assert shared.status_code == 302
    assert "Former les tuteurs" in text(web.get(f"/agreements/{a}/evaluation").text)
    partner = text(web.get(f"/agreements/{a}/evaluation?audience=partner").text)
    assert "Renforcer" not in partner and "Former les tuteurs" not in partner
    assert "TG → ML 4 3 3 3 moins de 3 moins de 3" in partner
