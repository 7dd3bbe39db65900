"""Agreements: propose, review, approve, amend, terminate."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from marshmallow import ValidationError
from sqlalchemy import select

from services.registry import handlers
from services.registry.adapters.orm import Agreement
from services.registry.dashboard.context import FORM_STATUS, node, sessions, staff_only
from services.registry.dashboard.exchanges.blueprint import bp
from services.registry.dashboard.exchanges.common import form_errors, not_found, refusal
from services.registry.dashboard.i18n import _, lang
from services.registry.dashboard.labels.exchanges import agreement_status_labels
from services.registry.dashboard.messages import say, say_code
from services.registry.schemas import AgreementProposal, AgreementTermsIn, ApprovalIn, TerminationIn
from shared import codes

# -- agreements --------------------------------------------------------------------------------

SERIES = ("proposed", "confirmed", "started", "completed")
TERMS_FIELDS = ("start", "end", "quotas", "balance_tolerance", "fields_of_cooperation")


def _codes(text: str) -> list[str]:
    return list(dict.fromkeys(c.upper() for c in re.split(r"[^A-Za-z]+", text) if c))


def _key(sending: str, host: str) -> str:
    return f"{sending}-{host}"


def terms_input(form: Mapping[str, str], directions: list[tuple[str, str]]) -> tuple[dict, dict]:
    """The terms form as the API's input (an empty box is a missing field) and as typed."""
    values = {
        name: form.get(name, "").strip()
        for name in ("start", "end", "balance_tolerance", "fields_of_cooperation")
    }
    values["quotas"] = {
        _key(s, h): form.get(f"quota-{_key(s, h)}", "").strip() for s, h in directions
    }
    data: dict[str, Any] = {
        name: values[name] for name in ("start", "end", "balance_tolerance") if values[name]
    }
    data["quotas"] = [
        {"sending": s, "host": h}
        | ({"volunteers": values["quotas"][_key(s, h)]} if values["quotas"][_key(s, h)] else {})
        for s, h in directions
    ]
    data["fields_of_cooperation"] = [
        f.strip() for f in re.split(r"[,;\n]", values["fields_of_cooperation"]) if f.strip()
    ]
    return data, values


def terms_values(agreement: Agreement) -> dict[str, Any]:
    return {
        "start": agreement.start.isoformat(),
        "end": agreement.end.isoformat(),
        "balance_tolerance": str(agreement.balance_tolerance),
        "fields_of_cooperation": ", ".join(agreement.fields_of_cooperation),
        "quotas": {_key(q["sending"], q["host"]): str(q["volunteers"]) for q in agreement.quotas},
    }


def _agreement_row(a: Agreement) -> dict[str, Any]:
    agency = node().agency
    status = handlers.display_status(a)
    return {
        "id": a.id,
        "parties": list(a.parties),
        "proposer": a.proposer,
        "start": a.start,
        "end": a.end,
        "status": status,
        "status_label": agreement_status_labels().get(status, status),
        "revision": a.revision,
        "awaiting_us": status not in ("terminated", "expired")
        and a.approvals.get(agency) != a.terms_hash,
        "quotas": list(a.quotas),
    }


@bp.route("/agreements")
def agreements() -> Any:
    agency = node().agency
    with sessions()() as session:
        rows = [
            _agreement_row(a)
            for a in session.scalars(
                select(Agreement).order_by(Agreement.start.desc(), Agreement.id)
            )
            if agency in a.parties
        ]
    return render_template("exchanges/agreements.html", title=_("Agreements"), rows=rows)


def _known_partners() -> list[str]:
    agency = node().agency
    with sessions()() as session:
        parties = {p for row in session.scalars(select(Agreement.parties)) for p in row}
    return sorted(parties - {agency})


def _partners(text: str) -> tuple[list[str], dict]:
    """The partner agencies typed in, checked as the API checks them."""
    partners = _codes(text)
    if not partners:
        return [], {}
    try:
        AgreementProposal(only=("partners",)).load({"partners": partners})
    except ValidationError as exc:
        return partners, form_errors(exc.messages, schema=AgreementProposal())
    if not [p for p in partners if p != node().agency]:
        return partners, {"partners": [say_code("agreement.no_partner")]}
    return partners, {}


@bp.route("/agreements/new", methods=["GET", "POST"])
@staff_only
def new_agreement() -> Any:
    agency = node().agency
    partners, errors = _partners(request.values.get("partners", ""))
    directions = [d for p in partners if p != agency for d in ((agency, p), (p, agency))]
    values: dict[str, Any] = {"quotas": {}}
    if request.method == "POST" and not errors:
        data, values = terms_input(request.form, directions)
        quota_keys = [_key(s, h) for s, h in directions]
        try:
            loaded = AgreementProposal().load({**data, "partners": partners})
            with sessions().begin() as session:
                created = handlers.propose_agreement(session, node(), loaded)
                agreement_id = created.id
        except ValidationError as exc:
            errors = form_errors(exc.messages, quota_keys, AgreementProposal())
        except (handlers.Invalid, handlers.Conflict) as exc:
            errors = refusal(exc, (*TERMS_FIELDS, "partners"))
        else:
            flash(
                _(
                    "Agreement proposed to %(partners)s. It comes into force when they approve "
                    "these exact terms.",
                    partners=", ".join(p for p in partners if p != agency),
                ),
                "success",
            )
            return redirect(url_for("dashboard.exchanges.agreement", agreement_id=agreement_id))
    elif request.method == "POST":
        values = terms_input(request.form, directions)[1]
    return render_template(
        "exchanges/agreement_new.html",
        title=_("Propose an agreement"),
        partners=partners,
        partners_text=", ".join(partners) or request.values.get("partners", ""),
        known_partners=_known_partners(),
        directions=directions if not errors.get("partners") else [],
        values=values,
        errors=errors,
    ), FORM_STATUS


def _approvals(agreement: Agreement) -> list[dict[str, Any]]:
    out = []
    for party in agreement.parties:
        approved = agreement.approvals.get(party)
        if approved == agreement.terms_hash:
            state, text = "approved", _("%(agency)s approved this version", agency=party)
        elif approved:
            state = "stale"
            text = _(
                "%(agency)s approved an earlier version, not yet revision %(revision)s",
                agency=party,
                revision=agreement.revision,
            )
        else:
            state = "missing"
            text = _(
                "%(agency)s has not yet approved revision %(revision)s",
                agency=party,
                revision=agreement.revision,
            )
        out.append({"agency": party, "state": state, "text": text, "hash": approved})
    return out


def _agreement_page(
    agreement_id: str,
    amend: tuple[dict, dict] | None = None,
    terminate: tuple[dict, dict] | None = None,
) -> Any:
    try:
        with sessions()() as session:
            agreement = handlers.get_agreement(session, node(), agreement_id)
            ledger = handlers.ledger(session, node(), agreement_id)
    except handlers.NotFound:
        return not_found()
    row = _agreement_row(agreement)
    labels = {
        "proposed": _("Proposed"),
        "confirmed": _("Confirmed"),
        "started": _("Started"),
        "completed": _("Completed"),
    }
    return render_template(
        "exchanges/agreement.html",
        title=_("Agreement %(parties)s", parties=" – ".join(agreement.parties)),
        a=agreement,
        row=row,
        approvals=_approvals(agreement),
        ledger=ledger,
        labels=labels,
        series=SERIES,
        directions=[(q["sending"], q["host"]) for q in agreement.quotas],
        amend_values=amend[0] if amend else terms_values(agreement),
        amend_errors=amend[1] if amend else {},
        terminate_values=terminate[0] if terminate else {"effective": date.today().isoformat()},
        terminate_errors=terminate[1] if terminate else {},
        termination_reasons=codes.reason_choices(codes.TERMINATION_REASONS, lang()),
        termination_label=codes.reason_label(
            codes.TERMINATION_REASONS, agreement.termination_reason, lang()
        ),
    ), FORM_STATUS


@bp.route("/agreements/<agreement_id>")
def agreement(agreement_id: str) -> Any:
    return _agreement_page(agreement_id)


def _back(agreement_id: str) -> Any:
    return redirect(url_for("dashboard.exchanges.agreement", agreement_id=agreement_id))


@bp.route("/agreements/<agreement_id>/approve", methods=["POST"])
@staff_only
def approve_agreement(agreement_id: str) -> Any:
    try:
        data = ApprovalIn().load({"terms_hash": request.form.get("terms_hash", "")})
        with sessions().begin() as session:
            approved = handlers.approve_agreement(session, node(), agreement_id, data["terms_hash"])
            status = approved.status
    except handlers.NotFound:
        return not_found()
    except ValidationError as exc:
        for messages in form_errors(exc.messages, schema=ApprovalIn()).values():
            for message in messages:
                flash(message, "error")
        return _back(agreement_id)
    except handlers.Conflict as exc:
        flash(say(exc.message), "error")
        return _back(agreement_id)
    if status == "active":
        flash(
            _("Terms approved: every party has approved them, the agreement is in force."),
            "success",
        )
    else:
        flash(
            _("Terms approved. The agreement comes into force once every party approves them."),
            "success",
        )
    return _back(agreement_id)


@bp.route("/agreements/<agreement_id>/amend", methods=["POST"])
@staff_only
def amend_agreement(agreement_id: str) -> Any:
    with sessions()() as session:
        found = session.get(Agreement, agreement_id)
        directions = [(q["sending"], q["host"]) for q in found.quotas] if found else []
    data, values = terms_input(request.form, directions)
    try:
        loaded = AgreementTermsIn().load(data)
        with sessions().begin() as session:
            amended = handlers.amend_agreement(session, node(), agreement_id, loaded)
            revision = amended.revision
    except handlers.NotFound:
        return not_found()
    except ValidationError as exc:
        keys = [_key(s, h) for s, h in directions]
        errors = form_errors(exc.messages, keys, AgreementTermsIn())
        return _agreement_page(agreement_id, amend=(values, errors))
    except (handlers.Invalid, handlers.Conflict) as exc:
        return _agreement_page(agreement_id, amend=(values, refusal(exc, TERMS_FIELDS)))
    flash(
        _(
            "Terms amended: revision %(revision)s. The other parties must approve them again.",
            revision=revision,
        ),
        "success",
    )
    return _back(agreement_id)


@bp.route("/agreements/<agreement_id>/terminate", methods=["POST"])
@staff_only
def terminate_agreement(agreement_id: str) -> Any:
    names = ("reason", "effective", "note")
    values = {name: request.form.get(name, "").strip() for name in names}
    try:
        data = TerminationIn().load({k: v for k, v in values.items() if v})
        with sessions().begin() as session:
            handlers.terminate_agreement(
                session, node(), agreement_id, data["reason"], data["effective"], data["note"]
            )
    except handlers.NotFound:
        return not_found()
    except ValidationError as exc:
        return _agreement_page(
            agreement_id, terminate=(values, form_errors(exc.messages, schema=TerminationIn()))
        )
    except (handlers.Invalid, handlers.Conflict) as exc:
        return _agreement_page(
            agreement_id, terminate=(values, refusal(exc, ("reason", "effective")))
        )
    flash(_("The agreement is terminated. The other parties are informed."), "success")
    return _back(agreement_id)
