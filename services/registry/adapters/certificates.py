"""The certificate of completion as a PDF (ReportLab), in French or English.

ReportLab: a maintained, pure-Python PDF library with no system dependency (WeasyPrint needs
Pango, matplotlib would be a plotting library used as a typesetter); its standard Helvetica covers
French accents in its Latin-1 encoding, so no font file is shipped."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

from babel import Locale
from babel.dates import format_date

WORDS = {
    "fr": {
        "title": "Certificat de fin de mission",
        "intro": "Volontariat international de réciprocité (VIR)",
        "certify": "{sending} certifie que",
        "completed": "a accompli sa mission de volontariat international de réciprocité",
        "placement": "Mission",
        "host_organisation": "Structure d'accueil",
        "place": "Lieu",
        "dates": "Dates",
        "period": "du {start} au {end}",
        "host_agency": "Agence d'accueil",
        "code": "Code de vérification",
        "verify": "Vérifiable sur {url}",
    },
    "en": {
        "title": "Certificate of completion",
        "intro": "Reciprocal international volunteering (VIR)",
        "certify": "{sending} certifies that",
        "completed": "has completed a reciprocal international volunteering mission",
        "placement": "Placement",
        "host_organisation": "Host organisation",
        "place": "Place",
        "dates": "Dates",
        "period": "from {start} to {end}",
        "host_agency": "Host agency",
        "code": "Verification code",
        "verify": "Verify at {url}",
    },
}


def _agency(code: str, name: str | None, language: str) -> str:
    country = Locale.parse(language).territories.get(code, code)
    return f"{name} ({country})" if name else f"{code} ({country})"


def render_certificate(facts: dict[str, Any], language: str, verify_url: str) -> bytes:
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.pdfgen import canvas

    words = WORDS["en" if language == "en" else "fr"]
    names = facts["agency_names"]
    sending = _agency(facts["sending_agency"], names.get(facts["sending_agency"]), language)
    host = _agency(facts["host_agency"], names.get(facts["host_agency"]), language)
    placement = facts["placement"] or {}

    def day(value: date | None) -> str:
        return format_date(value, "long", locale=language) if value else "—"

    buffer = io.BytesIO()
    width, height = landscape(A4)
    pdf = canvas.Canvas(buffer, pagesize=(width, height))
    pdf.setTitle(words["title"])
    pdf.setAuthor(sending)
    pdf.setStrokeColorRGB(0.1, 0.3, 0.5)
    pdf.setLineWidth(3)
    pdf.rect(30, 30, width - 60, height - 60)
    y = height - 100
    pdf.setFont("Helvetica-Bold", 28)
    pdf.drawCentredString(width / 2, y, words["title"])
    y -= 28
    pdf.setFont("Helvetica", 14)
    pdf.drawCentredString(width / 2, y, words["intro"])
    y -= 50
    pdf.drawCentredString(width / 2, y, words["certify"].format(sending=sending))
    y -= 36
    pdf.setFont("Helvetica-Bold", 24)
    pdf.drawCentredString(width / 2, y, facts["volunteer"])
    y -= 32
    pdf.setFont("Helvetica", 14)
    pdf.drawCentredString(width / 2, y, words["completed"])
    y -= 44
    lines = [
        (words["placement"], placement.get("title") or facts.get("placement_id") or "—"),
        (words["host_organisation"], placement.get("host_organisation") or "—"),
        (words["place"], placement.get("city") or "—"),
        (words["host_agency"], host),
        (
            words["dates"],
            words["period"].format(start=day(facts["started_on"]), end=day(facts["ended_on"])),
        ),
    ]
    for label, value in lines:
        pdf.setFont("Helvetica-Bold", 12)
        pdf.drawRightString(width / 2 - 10, y, f"{label} :" if language == "fr" else f"{label}:")
        pdf.setFont("Helvetica", 12)
        pdf.drawString(width / 2 + 10, y, str(value))
        y -= 20
    pdf.setFont("Helvetica", 10)
    pdf.drawCentredString(width / 2, 70, f"{words['code']} : {facts['code']}")
    pdf.drawCentredString(width / 2, 55, words["verify"].format(url=verify_url))
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()
