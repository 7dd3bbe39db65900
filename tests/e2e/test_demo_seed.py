"""The demo's seed over a real broker: the pilot (2017–2018) is ended, so matching proposes
nothing under it; the renewal for the current period gets the live proposals (4 + 2)."""

from __future__ import annotations

import pytest

from tests.support.infra import wait_until
from tests.support.nodes import running_matching, running_registry
from vir import demo

pytestmark = pytest.mark.integration


def _proposals(node):
    return node.call("GET", "/api/v1/matches?status=proposed&page_size=50").json


def test_matching_proposes_under_the_renewal_only(amqp_url):
    with (
        running_registry("TG", amqp_url) as tg,
        running_registry("ML", amqp_url) as ml,
        running_matching(amqp_url),
    ):
        pilot, renewal = demo.seed_pilot({"TG": tg, "ML": ml})
        wait_until(
            lambda: len(_proposals(tg)) == 6 and len(_proposals(ml)) == 6,
            90,
            what="6 proposals on both registries",
        )
        proposals = _proposals(tg)
        assert {p["agreement_id"] for p in proposals} == {renewal}
        assert sorted(p["sending_agency"] for p in proposals) == [
            "ML",
            "ML",
            "TG",
            "TG",
            "TG",
            "TG",
        ]
        assert pilot != renewal
        # TG sees ML's places by title, city and host organisation, not only by their id
        to_ml = [p for p in proposals if p["host_agency"] == "ML"]
        assert all(p["placement"]["title"] and p["placement"]["city"] for p in to_ml)
        assert {p["placement"]["city"] for p in to_ml} <= {"Sikasso", "Ségou", "Niono", "Kayes"}


def test_the_pilot_report_is_full_in_json_xlsx_and_pdf(amqp_url):
    import io

    from openpyxl import load_workbook
    from pypdf import PdfReader

    with running_registry("TG", amqp_url) as tg, running_registry("ML", amqp_url) as ml:
        pilot, _renewal = demo.seed_pilot({"TG": tg, "ML": ml})
        path = f"/api/v1/agreements/{pilot}/evaluation"
        for node in (tg, ml):
            report = node.call("GET", path).json
            counts = [
                (d["sending"], d["proposed"], d["confirmed"], d["started"], d["completed"])
                for d in report["directions"]
            ]
            assert counts == [("TG", 4, 4, 4, 4), ("ML", 2, 2, 2, 2)]
            assert report["check_ins"]["due"] == 36 and report["check_ins"]["answered"] == 35
            assert report["incidents"]["by_category"]["health"] == 1
            assert report["reviews"]["host_organisation"]["answers"] == 6
        own = tg.call("GET", path).json["directions"][0]
        assert own["days_registration_to_departure"] == 123  # 1 June to 2 October 2017
        book = load_workbook(io.BytesIO(tg.call("GET", f"{path}?format=xlsx").data))
        rows = [[c.value for c in row][:6] for row in book["Sens"].iter_rows(min_row=4, max_row=5)]
        assert rows == [["TG → ML", 4, 4, 4, 4, 4], ["ML → TG", 2, 2, 2, 2, 2]]
        pdf = tg.call("GET", f"{path}?format=pdf")
        text = " ".join(
            " ".join(p.extract_text().split()) for p in PdfReader(io.BytesIO(pdf.data)).pages
        )
        assert "TG -> ML 4 4 4 4 4 0" in text and "ML -> TG 2 2 2 2 2 0" in text
        partner = tg.call("GET", f"{path}?audience=partner").json
        assert partner["directions"][1]["days_registration_to_departure"] is None  # 2 < 3
        mobility = tg.call("GET", "/api/v1/mobilities/mob-pilot-tg-1").json
        assert mobility["placement"]["city"] and mobility["status"] == "completed"
