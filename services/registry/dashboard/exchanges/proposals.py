"""Match proposals: those awaiting this agency's decision, accepted or declined here."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from marshmallow import ValidationError
from sqlalchemy import case, func, or_, select

from services.registry import handlers
from services.registry.adapters.orm import Match
from services.registry.dashboard.context import FORM_STATUS, node, sessions, staff_only
from services.registry.dashboard.exchanges.blueprint import bp
from services.registry.dashboard.exchanges.common import (
    PAGE_SIZE,
    _described,
    _names,
    _page,
    _pages,
    form_errors,
    not_found,
)
from services.registry.dashboard.i18n import _, lang
from services.registry.dashboard.labels.exchanges import criterion_labels, match_status_labels
from services.registry.dashboard.messages import explain, say
from services.registry.schemas import DeclineIn
from shared import codes


def _proposal(match: Match, people: dict, places: dict) -> dict[str, Any]:
    agency = node().agency
    labels = criterion_labels()
    decisions = []
    for party in (match.sending_agency, match.host_agency):
        decided = match.decisions.get(party)
        if decided is None:
            text = _("%(agency)s has not decided yet", agency=party)
        elif decided.get("decision") == "accepted":
            text = _("%(agency)s accepted", agency=party)
        else:
            text = _("%(agency)s declined", agency=party)
        decisions.append(
            {
                "agency": party,
                "text": text,
                "reason": codes.reason_label(
                    codes.DECLINE_REASONS, (decided or {}).get("reason"), lang()
                ),
                "note": (decided or {}).get("note"),  # only ever this node's own note
                "decision": (decided or {}).get("decision", "none"),
            }
        )
    return {
        "id": match.id,
        "agreement_id": match.agreement_id,
        "volunteer_id": match.volunteer_id,
        "volunteer_name": people.get(match.volunteer_id)
        if match.sending_agency == agency
        else None,
        "placement_id": match.placement_id,
        "placement_title": places.get(match.placement_id)
        if match.host_agency == agency
        else _described(match.placement),
        "sending": match.sending_agency,
        "host": match.host_agency,
        "score": match.score,
        "criteria": [
            {
                "label": labels.get(c.get("criterion", ""), c.get("criterion", "")),
                "weight": c.get("weight", 0),
                "value": c.get("value", 0),
                "contribution": c.get("weight", 0) * c.get("value", 0),
                "explanation": explain(c),
            }
            for c in match.criteria
        ],
        "decisions": decisions,
        "status": match.status,
        "status_label": match_status_labels().get(match.status, match.status),
        "status_reason": codes.reason_label(
            codes.REASONS_BY_EVENT.get(f"match.{match.status}", {}), match.status_reason, lang()
        ),
        "status_note": match.status_note,
        "expires_at": match.expires_at,
        "updated_at": match.updated_at,
    }


def _proposals_page(errors: dict[str, dict] | None = None, reasons: dict | None = None) -> Any:
    agency = node().agency
    ours = or_(Match.sending_agency == agency, Match.host_agency == agency)
    page = _page()
    with sessions()() as session:
        open_ = session.scalars(
            select(Match)
            .where(ours, Match.status == "proposed")
            .order_by(Match.expires_at.asc().nulls_last(), Match.created_at, Match.id)
        ).all()
        settled = select(Match).where(ours, Match.status != "proposed")
        total = session.scalar(select(func.count()).select_from(settled.subquery())) or 0
        order = case({"confirmed": 0, "declined": 1, "cancelled": 2}, value=Match.status, else_=3)
        history = session.scalars(
            settled.order_by(order, Match.updated_at.desc(), Match.id)
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE)
        ).all()
        rows = [*open_, *history]
        people, places = _names(
            session, {m.volunteer_id for m in rows}, {m.placement_id for m in rows}
        )
        awaiting = [_proposal(m, people, places) for m in open_ if agency not in m.decisions]
        waiting = [_proposal(m, people, places) for m in open_ if agency in m.decisions]
        decided = [_proposal(m, people, places) for m in history]
    return render_template(
        "exchanges/proposals.html",
        title=_("Proposals"),
        awaiting=awaiting,
        waiting=waiting,
        decided=decided,
        pager=_pages(total, page),
        errors=errors or {},
        reasons=reasons or {},
        decline_reasons=codes.reason_choices(codes.DECLINE_REASONS, lang()),
    ), FORM_STATUS


@bp.route("/proposals")
def matches() -> Any:
    return _proposals_page()


def _decide(match_id: str, accept: bool, reason: str | None, note: str | None = None) -> Any:
    try:
        with sessions().begin() as session:
            handlers.decide_match(session, node(), match_id, accept, reason, note)
    except handlers.NotFound:
        return not_found()
    except handlers.Conflict as exc:
        flash(say(exc.message), "error")
        return redirect(url_for("dashboard.exchanges.matches"))
    if accept:
        flash(
            _("Proposal accepted. It is confirmed once both agencies have accepted it."), "success"
        )
    else:
        flash(
            _("Proposal declined. The volunteer and the placement are free for another match."),
            "success",
        )
    return redirect(url_for("dashboard.exchanges.matches"))


@bp.route("/proposals/<match_id>/accept", methods=["POST"])
@staff_only
def accept_match(match_id: str) -> Any:
    return _decide(match_id, True, None)


@bp.route("/proposals/<match_id>/decline", methods=["POST"])
@staff_only
def decline_match(match_id: str) -> Any:
    values = {k: request.form.get(k, "").strip() for k in ("reason", "note")}
    try:
        data = DeclineIn().load({k: v for k, v in values.items() if v})
    except ValidationError as exc:
        return _proposals_page(
            {match_id: form_errors(exc.messages, schema=DeclineIn())}, {match_id: values}
        )
    return _decide(match_id, False, data["reason"], data["note"])
