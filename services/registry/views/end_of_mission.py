"""End of a mission: the review questionnaires and the certificate of completion."""

from __future__ import annotations

from typing import Any

from flask import Blueprint as FlaskBlueprint
from flask import Response, render_template
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from services.registry import handlers
from services.registry.access import STAFF, allow
from services.registry.adapters.certificates import render_certificate
from services.registry.adapters.orm import AgencyProfile, Mobility
from services.registry.dependencies import dependencies
from services.registry.schemas import MobilityOut
from services.registry.views import node, sessions, write
from shared.vocabularies import REVIEW_RESPONDENTS

blp = Blueprint(
    "end_of_mission", __name__, url_prefix="/api/v1", description="Reviews and certificates"
)
verification_page = FlaskBlueprint("certificates", __name__, template_folder="../templates")


class ReviewIn(Schema):
    respondent = fields.String(
        required=True,
        validate=validate.OneOf(REVIEW_RESPONDENTS),
        metadata={
            "description": "The host agency records its own and the host organisation's; the "
            "sending agency its own and its volunteer's"
        },
    )
    on = fields.Date(required=True)
    overall = fields.Integer(required=True, validate=validate.Range(1, 5))
    objectives = fields.Integer(required=True, validate=validate.Range(1, 5))
    support = fields.Integer(required=True, validate=validate.Range(1, 5))
    comments = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=4000),
        metadata={"description": "Kept on this node only"},
    )


class CertificateQuery(Schema):
    lang = fields.String(load_default="fr", validate=validate.OneOf(["fr", "en"]))


@blp.route("/mobilities/<mobility_id>/reviews", methods=["POST"])
@allow(*STAFF)
@blp.arguments(ReviewIn)
@blp.response(200, MobilityOut)
def submit_review(data: dict[str, Any], mobility_id: str) -> Mobility:
    """An end-of-mission questionnaire (emits mobility.review_submitted without the comments);
    the other agency's respondents answer 403."""
    scores = {k: data[k] for k in ("overall", "objectives", "support")}
    return write(
        handlers.submit_review,
        mobility_id,
        data["respondent"],
        data["on"],
        scores,
        data["comments"],
    )


def verify_url(code: str) -> str:
    base = dependencies().follow_up.public_url.rstrip("/")
    return f"{base}/certificates/{code}"


@blp.route("/mobilities/<mobility_id>/certificate", methods=["GET"])
@allow(*STAFF)
@blp.arguments(CertificateQuery, location="query")
@blp.response(200, content_type="application/pdf")
def certificate(query: dict[str, Any], mobility_id: str) -> Response:
    """The volunteer's certificate of completion (PDF, French or English), issued by the
    sending agency for a completed mission, with a code anyone can verify at a public URL."""
    facts = write(handlers.certificate_facts, mobility_id)
    pdf = render_certificate(facts, query["lang"], verify_url(facts["code"]))
    return Response(
        pdf,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="certificate-{mobility_id}.pdf"'},
    )


@verification_page.route("/certificates/<code>", methods=["GET"])
def verify(code: str) -> Any:
    """Public: whether this node issued a certificate with this code, and nothing else."""
    with sessions()() as session:
        issuer = handlers.verify_certificate(session, node(), code[:32])
        profile = session.get(AgencyProfile, issuer) if issuer else None
    status = 200 if issuer else 404
    name = profile.name if profile else issuer
    return render_template("certificate_check.html", issuer=name, code=code[:32]), status
