"""The evaluation report as an XLSX workbook (openpyxl, with its native charts) and as a PDF
(ReportLab, whose graphics module draws the charts: the library the certificate already uses)."""

from __future__ import annotations

import io
from typing import Any
from xml.sax.saxutils import escape

LABELS = {
    "fr": {
        "title": "Bilan de l'accord {agreement}",
        "period": "Période : du {start} au {end}",
        "direction": "Sens",
        "quota": "Quota",
        "proposed": "Proposés",
        "confirmed": "Confirmés",
        "started": "Partis",
        "completed": "Terminés",
        "interrupted": "Interrompus",
        "to_proposal": "Jours inscription → proposition",
        "to_departure": "Jours inscription → départ",
        "balance": "Équilibre : {balance} (tolérance {tolerance})",
        "check_ins": "Points d'étape",
        "due": "Attendus",
        "answered": "Remplis",
        "rate": "Taux de complétion",
        "wellbeing": "Bien-être moyen",
        "integration": "Intégration moyenne",
        "workload": "Charge de travail moyenne",
        "incidents": "Incidents",
        "category": "Catégorie",
        "severity": "Gravité",
        "count": "Nombre",
        "reviews": "Questionnaires de fin de mission",
        "respondent": "Répondant",
        "answers": "Réponses",
        "overall": "Appréciation générale",
        "objectives": "Objectifs",
        "support": "Accompagnement",
        "hidden": "< 3",
        "directions": "Sens",
        "lessons": "Enseignements et recommandations",
    },
    "en": {
        "title": "Evaluation of agreement {agreement}",
        "period": "Period: {start} to {end}",
        "direction": "Direction",
        "quota": "Quota",
        "proposed": "Proposed",
        "confirmed": "Confirmed",
        "started": "Started",
        "completed": "Completed",
        "interrupted": "Interrupted",
        "to_proposal": "Days registration → proposal",
        "to_departure": "Days registration → departure",
        "balance": "Balance: {balance} (tolerance {tolerance})",
        "check_ins": "Check-ins",
        "due": "Due",
        "answered": "Answered",
        "rate": "Completion rate",
        "wellbeing": "Mean wellbeing",
        "integration": "Mean integration",
        "workload": "Mean workload",
        "incidents": "Incidents",
        "category": "Category",
        "severity": "Severity",
        "count": "Count",
        "reviews": "End-of-mission questionnaires",
        "respondent": "Respondent",
        "answers": "Answers",
        "overall": "Overall",
        "objectives": "Objectives",
        "support": "Support",
        "hidden": "< 3",
        "directions": "Directions",
        "lessons": "Lessons and recommendations",
    },
}
COUNTS = ("quota", "proposed", "confirmed", "started", "completed", "interrupted")


def words(language: str) -> dict[str, str]:
    return LABELS["en" if language == "en" else "fr"]


def _cell(value: Any, w: dict[str, str]) -> Any:
    return w["hidden"] if value is None else value


def direction_rows(report: dict[str, Any], w: dict[str, str]) -> list[list[Any]]:
    return [
        [f"{d['sending']} → {d['host']}"]
        + [_cell(d[k], w) for k in COUNTS]
        + [
            _cell(d["days_registration_to_proposal"], w),
            _cell(d["days_registration_to_departure"], w),
        ]
        for d in report["directions"]
    ]


def to_xlsx(report: dict[str, Any], language: str = "fr") -> bytes:
    from openpyxl import Workbook
    from openpyxl.chart import BarChart, Reference

    w = words(language)
    book = Workbook()
    sheet = book.active
    sheet.title = w["directions"][:31]
    sheet.append([w["title"].format(agreement=report["agreement_id"])])
    sheet.append([w["period"].format(**report["period"])])
    sheet.append([w["direction"], *(w[k] for k in COUNTS), w["to_proposal"], w["to_departure"]])
    for row in direction_rows(report, w):
        sheet.append(row)
    last = 3 + len(report["directions"])
    sheet.append([])
    sheet.append(
        [w["balance"].format(balance=report["balance"], tolerance=report["balance_tolerance"])]
    )
    chart = BarChart()
    chart.title = w["directions"]
    chart.add_data(
        Reference(sheet, min_col=2, max_col=6, min_row=3, max_row=last), titles_from_data=True
    )
    chart.set_categories(Reference(sheet, min_col=1, min_row=4, max_row=last))
    sheet.add_chart(chart, f"A{last + 4}")

    checks = book.create_sheet(w["check_ins"][:31])
    c = report["check_ins"]
    for key, value in (
        ("due", c["due"]),
        ("answered", c["answered"]),
        ("rate", c["completion_rate"]),
        *((s, c["mean_scores"][s]) for s in ("wellbeing", "integration", "workload")),
    ):
        checks.append([w[key], _cell(value, w)])

    incidents = book.create_sheet(w["incidents"][:31])
    incidents.append([w["category"], w["count"]])
    for code, n in report["incidents"]["by_category"].items():
        incidents.append([code, _cell(n, w)])
    incidents.append([])
    incidents.append([w["severity"], w["count"]])
    for code, n in report["incidents"]["by_severity"].items():
        incidents.append([code, _cell(n, w)])
    bars = BarChart()
    bars.title = w["incidents"]
    size = len(report["incidents"]["by_category"])
    bars.add_data(
        Reference(incidents, min_col=2, min_row=1, max_row=1 + size), titles_from_data=True
    )
    bars.set_categories(Reference(incidents, min_col=1, min_row=2, max_row=1 + size))
    incidents.add_chart(bars, "D2")

    reviews = book.create_sheet(w["reviews"][:31])
    reviews.append([w["respondent"], w["answers"], w["overall"], w["objectives"], w["support"]])
    for who, r in report["reviews"].items():
        reviews.append(
            [who, *(_cell(r[k], w) for k in ("answers", "overall", "objectives", "support"))]
        )
    if report.get("lessons"):
        lessons = book.create_sheet(w["lessons"][:31])
        for agency, entry in report["lessons"].items():
            lessons.append([agency, entry["on"], entry["text"]])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def to_pdf(report: dict[str, Any], language: str = "fr") -> bytes:
    from reportlab.graphics.charts.barcharts import VerticalBarChart
    from reportlab.graphics.shapes import Drawing
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table

    # Helvetica's Latin-1 has no arrow
    w = {k: v.replace("→", "->") for k, v in words(language).items()}
    styles = getSampleStyleSheet()
    story: list[Any] = [
        Paragraph(w["title"].format(agreement=report["agreement_id"]), styles["Title"]),
        Paragraph(w["period"].format(**report["period"]), styles["Normal"]),
        Spacer(1, 12),
        Table(
            [[w["direction"], *(w[k] for k in COUNTS)]]
            + [[row[0].replace("→", "->"), *row[1:7]] for row in direction_rows(report, w)],
            style=[("GRID", (0, 0), (-1, -1), 0.5, colors.grey)],
        ),
        Spacer(1, 6),
        Paragraph(
            w["balance"].format(balance=report["balance"], tolerance=report["balance_tolerance"]),
            styles["Normal"],
        ),
    ]
    for row in direction_rows(report, w):
        story.append(
            Paragraph(
                f"{row[0].replace('→', '->')} - {w['to_proposal']} : {row[7]} ; "
                f"{w['to_departure']} : {row[8]}",
                styles["Normal"],
            )
        )
    chart = Drawing(400, 180)
    bars = VerticalBarChart()
    bars.x, bars.y, bars.width, bars.height = 40, 30, 340, 130
    bars.data = [
        [d[k] if isinstance(d[k], int) else 0 for k in COUNTS] for d in report["directions"]
    ]
    bars.categoryAxis.categoryNames = [w[k] for k in COUNTS]
    bars.valueAxis.valueMin = 0
    chart.add(bars)
    story += [Spacer(1, 12), chart, Spacer(1, 12)]
    c = report["check_ins"]
    story.append(Paragraph(w["check_ins"], styles["Heading2"]))
    story.append(
        Table(
            [
                [w["due"], _cell(c["due"], w)],
                [w["answered"], _cell(c["answered"], w)],
                [w["rate"], _cell(c["completion_rate"], w)],
                *(
                    [w[s], _cell(c["mean_scores"][s], w)]
                    for s in ("wellbeing", "integration", "workload")
                ),
            ],
            style=[("GRID", (0, 0), (-1, -1), 0.5, colors.grey)],
        )
    )
    story.append(Paragraph(w["incidents"], styles["Heading2"]))
    story.append(
        Table(
            [[w["category"], w["count"]]]
            + [[k, _cell(v, w)] for k, v in report["incidents"]["by_category"].items()]
            + [[w["severity"], w["count"]]]
            + [[k, _cell(v, w)] for k, v in report["incidents"]["by_severity"].items()],
            style=[("GRID", (0, 0), (-1, -1), 0.5, colors.grey)],
        )
    )
    story.append(Paragraph(w["reviews"], styles["Heading2"]))
    story.append(
        Table(
            [[w["respondent"], w["answers"], w["overall"], w["objectives"], w["support"]]]
            + [
                [who, *(_cell(r[k], w) for k in ("answers", "overall", "objectives", "support"))]
                for who, r in report["reviews"].items()
            ],
            style=[("GRID", (0, 0), (-1, -1), 0.5, colors.grey)],
        )
    )
    if report.get("lessons"):
        story.append(Paragraph(w["lessons"], styles["Heading2"]))
        for agency, entry in report["lessons"].items():
            story.append(Paragraph(f"{agency} : {escape(entry['text'])}", styles["Normal"]))
    out = io.BytesIO()
    SimpleDocTemplate(
        out, pagesize=A4, title=w["title"].format(agreement=report["agreement_id"])
    ).build(story)
    return out.getvalue()
