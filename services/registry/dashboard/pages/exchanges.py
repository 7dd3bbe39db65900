"""Dashboard pages of the exchanges: match proposals to decide, mobilities and their follow-up,
agreements (propose, review, approve, amend, terminate) and the notifications log.

Every change goes through the registry's handlers in one transaction; these pages only turn
form fields into the handlers' input and their refusals into messages beside the fields."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from typing import Any

import requests
from flask import current_app, flash, redirect, render_template, request, url_for
from marshmallow import ValidationError
from sqlalchemy import case, func, or_, select

from services.registry import handlers
from services.registry.adapters.orm import (
    Agreement,
    HostOrganisation,
    Match,
    Mobility,
    Placement,
    Volunteer,
)
from services.registry.dashboard.web import (
    FORM_STATUS,
    HERE,
    _,
    bp,
    lang,
    ngettext,
    node,
    sessions,
    staff_only,
)
from services.registry.domain.checklists import label as checklist_label
from services.registry.schemas import (
    AgreementProposal,
    AgreementTermsIn,
    ApprovalIn,
    DeclineIn,
    TerminationIn,
)
from shared import codes
from shared.i18n import load_translations
from shared.logging import get_logger

log = get_logger(__name__)
PAGE_SIZE = 25
NOTIFICATIONS_TIMEOUT = 5  # seconds: a slow notifications service must not hang the page
SERIES = ("proposed", "confirmed", "started", "completed")
FOLLOW_UP = ("start", "mid_term", "end")  # the reports every mobility needs (DESIGN §3)
DELIVERY_STATUSES = ("pending", "sent", "failed", "skipped", "cancelled")
DELIVERY_CHANNELS = ("email", "sms", "webhook", "amqp")


def N_(message: str) -> str:
    """Marks a message id for the catalogs; translated later, inside a request."""
    return message


def pgettext(context: str, message: str) -> str:
    """A short word whose translation depends on what it describes ("confirmed": a proposal is
    "confirmée", a count of mobilities "confirmés")."""
    return load_translations(HERE / "translations", lang()).pgettext(context, message)


# -- labels ----------------------------------------------------------------------------------


def match_status_labels() -> dict[str, str]:
    return {
        "proposed": pgettext("match status", "awaiting decisions"),
        "confirmed": pgettext("match status", "confirmed"),
        "declined": pgettext("match status", "declined"),
        "cancelled": pgettext("match status", "cancelled"),
    }


def agreement_status_labels() -> dict[str, str]:
    return {
        "proposed": pgettext("agreement status", "proposed"),
        "active": pgettext("agreement status", "active"),
        "amended": pgettext("agreement status", "amended, awaiting approval"),
        "terminated": pgettext("agreement status", "terminated"),
        "expired": pgettext("agreement status", "expired"),
    }


def mobility_status_labels() -> dict[str, str]:
    return {
        "pre_departure": pgettext("mobility status", "pre-departure"),
        "in_mission": pgettext("mobility status", "in mission"),
        "completed": pgettext("mobility status", "completed"),
        "interrupted": pgettext("mobility status", "interrupted"),
    }


def report_labels() -> dict[str, str]:
    return {
        "start": pgettext("report", "Start"),
        "mid_term": pgettext("report", "Mid-term"),
        "end": pgettext("report", "End"),
        "incident": pgettext("report", "Incident"),
        "evaluation": pgettext("report", "End-of-mission evaluation"),
    }


def criterion_labels() -> dict[str, str]:
    return {
        "skills": pgettext("criterion", "Skills"),
        "languages": pgettext("criterion", "Languages"),
        "preference": pgettext("criterion", "Preferred country"),
        "domain": pgettext("criterion", "Domain"),
        "waiting": pgettext("criterion", "Time waiting"),
    }


def delivery_labels() -> dict[str, dict[str, str]]:
    return {
        "status": {
            "pending": pgettext("delivery status", "pending"),
            "sent": pgettext("delivery status", "sent"),
            "failed": pgettext("delivery status", "failed"),
            "skipped": pgettext("delivery status", "skipped"),
            "cancelled": pgettext("delivery status", "cancelled"),
        },
        "channel": {
            "email": pgettext("channel", "E-mail"),
            "sms": pgettext("channel", "SMS"),
            "webhook": pgettext("channel", "Webhook"),
            "amqp": pgettext("channel", "Message queue"),
        },
        "recipient": {
            "volunteer": pgettext("recipient", "Volunteer"),
            "host_organisation": pgettext("recipient", "Host organisation"),
            "staff": pgettext("recipient", "Agency staff"),
            "partner": pgettext("recipient", "Partner"),
        },
        "event": {
            "volunteer.registered": pgettext("event", "Volunteer registered"),
            "volunteer.updated": pgettext("event", "Volunteer profile updated"),
            "volunteer.withdrawn": pgettext("event", "Volunteer withdrawn"),
            "placement.published": pgettext("event", "Placement published"),
            "placement.updated": pgettext("event", "Placement updated"),
            "placement.closed": pgettext("event", "Placement closed"),
            "agreement.proposed": pgettext("event", "Agreement proposed"),
            "agreement.approved": pgettext("event", "Agreement approved"),
            "agreement.activated": pgettext("event", "Agreement in force"),
            "agreement.amended": pgettext("event", "Agreement amended"),
            "agreement.terminated": pgettext("event", "Agreement terminated"),
            "match.proposed": pgettext("event", "Match proposed"),
            "match.accepted": pgettext("event", "Match accepted"),
            "match.declined": pgettext("event", "Match declined"),
            "match.confirmed": pgettext("event", "Match confirmed"),
            "match.cancelled": pgettext("event", "Match cancelled"),
            "mobility.started": pgettext("event", "Mission started"),
            "mobility.report_submitted": pgettext("event", "Follow-up report filed"),
            "mobility.completed": pgettext("event", "Mission completed"),
            "mobility.interrupted": pgettext("event", "Mission interrupted"),
        },
    }


# -- messages from the registry, in the page's language ----------------------------------------

# Messages of marshmallow, of the registry's rules and of the matching service's explanations
# that the catalogs translate word for word.
KNOWN_MESSAGES = (
    N_("Missing data for required field."),
    N_("Field may not be null."),
    N_("Invalid value."),
    N_("Unknown field."),
    N_("Not a valid integer."),
    N_("Not a valid number."),
    N_("Not a valid date."),
    N_("Not a valid list."),
    N_("Not a valid string."),
    N_("Number too large."),
    N_("Must not be before start."),
    N_("Not a SHA-256 hex digest."),
    N_("Name at least one partner agency other than this one."),
    N_("An agreement needs at least two different parties."),
    N_("The end must not be before the start."),
    N_("A quota goes from one party to another."),
    N_("Quotas may only name parties of the agreement."),
    N_("These terms are no longer current: review the latest version and approve its hash."),
    N_("The agreement was terminated."),
    N_("A terminated agreement cannot be amended."),
    N_("These terms are the current ones: nothing to amend."),
    N_("The agreement is already terminated."),
    N_("This agency already accepted the proposal."),
    N_("This agency already declined the proposal."),
    N_("no skills required"),
    N_("no language required"),
    N_("no preferred country stated"),
)

# English messages of marshmallow and of the registry's rules that carry a value: the pattern
# picks the value out, the message id (in the catalogs) puts it back in the page's language.
_Rule = tuple[re.Pattern[str], str, Callable[[dict[str, str]], dict[str, str]] | None]


def _match_status(groups: dict[str, str]) -> dict[str, str]:
    return {"status": match_status_labels().get(groups["status"], groups["status"])}


def _checklist_item(groups: dict[str, str]) -> dict[str, str]:
    return {**groups, "item": checklist_label({"code": groups["code"]}, lang())}


def _level(groups: dict[str, str]) -> dict[str, str]:
    levels = {"native": pgettext("language level", "native"), "": pgettext("language level", "—")}
    return {k: levels.get(v, v) if k in ("have", "level") else v for k, v in groups.items()}


_MESSAGES: list[_Rule] = [
    (
        re.compile(r"Length must be between (?P<min>\d+) and (?P<max>\d+)\."),
        N_("Length must be between %(min)s and %(max)s."),
        None,
    ),
    (
        re.compile(r"Shorter than minimum length (?P<min>\d+)\."),
        N_("Shorter than minimum length %(min)s."),
        None,
    ),
    (
        re.compile(r"Longer than maximum length (?P<max>\d+)\."),
        N_("Longer than maximum length %(max)s."),
        None,
    ),
    (
        re.compile(
            r"Must be greater than or equal to (?P<min>-?\d+) "
            r"and less than or equal to (?P<max>-?\d+)\."
        ),
        N_("Must be a whole number from %(min)s to %(max)s."),
        None,
    ),
    (
        re.compile(r"Unknown ISO 3166 country/agency code: ['\"](?P<code>.*)['\"]\."),
        N_("Unknown country or agency code: %(code)s."),
        None,
    ),
    (re.compile(r"Two quotas for (?P<direction>.+)\."), N_("Two quotas for %(direction)s."), None),
    (
        re.compile(r"(?P<agency>\w+) is not a party to this agreement\."),
        N_("%(agency)s is not a party to this agreement."),
        None,
    ),
    (
        re.compile(r"Pre-departure item still open: (?P<code>\w+)\."),
        N_("Pre-departure item still open: %(item)s."),
        _checklist_item,
    ),
    (
        re.compile(r"Only the sending agency (?P<agency>\w+) records the departure\."),
        N_("Only the sending agency %(agency)s records the departure."),
        None,
    ),
    (
        re.compile(r"Only the sending agency (?P<agency>\w+) keeps the pre-departure checklist\."),
        N_("Only the sending agency %(agency)s keeps the pre-departure checklist."),
        None,
    ),
    (
        re.compile(r"This proposal is (?P<status>\w+): it can no longer be decided\."),
        N_("This proposal is %(status)s: it can no longer be decided."),
        _match_status,
    ),
]

# The per-criterion explanations written by the matching service.
_EXPLANATIONS: list[_Rule] = [
    (
        re.compile(r"(?P<have>\d+) of (?P<total>\d+) required skills \((?P<skills>.+)\)"),
        N_("%(have)s of %(total)s required skills (%(skills)s)"),
        None,
    ),
    (
        re.compile(r"(?P<have>\d+) of (?P<total>\d+) required skills"),
        N_("%(have)s of %(total)s required skills"),
        None,
    ),
    (
        re.compile(r"(?P<agency>[A-Z]{2}) is a preferred country"),
        N_("%(agency)s is a preferred country"),
        None,
    ),
    (
        re.compile(r"domain (?P<domain>.+) is new to the volunteer"),
        N_("domain %(domain)s is new to the volunteer"),
        None,
    ),
    (re.compile(r"domain (?P<domain>.+)"), N_("domain %(domain)s"), None),
    (
        re.compile(r"(?P<code>[a-z]{2,3}) (?P<have>\S*) for (?P<level>\S+)"),
        N_("%(code)s: %(have)s (%(level)s required)"),
        _level,
    ),
]


def _translate(message: str, rules: Iterable[_Rule]) -> str | None:
    translated = _(message)
    if translated != message:
        return translated
    for pattern, message_id, convert in rules:
        found = pattern.fullmatch(message)
        if found:
            groups = found.groupdict()
            return _(message_id, **(convert(groups) if convert else groups))
    return None


def translate_error(message: str) -> str:
    """A registry or marshmallow message in the page's language (English when unknown)."""
    return _translate(message, _MESSAGES) or message


def explain(text: str) -> dict[str, str]:
    """A criterion's explanation in the page's language, and the language it is written in."""
    days = re.fullmatch(r"registered (\d+) days ago", text)
    if days:
        n = int(days.group(1))
        return {
            "text": ngettext("registered %(num)s day ago", "registered %(num)s days ago", n),
            "lang": lang(),
        }
    parts = text.split("; ")
    translated = [_translate(part, _EXPLANATIONS) for part in parts]
    if all(t is not None for t in translated):
        return {"text": "; ".join(t for t in translated if t), "lang": lang()}
    return {"text": text, "lang": "en"}


def _messages(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [m for inner in value.values() for m in _messages(inner)]
    if isinstance(value, list | tuple):
        return [m for inner in value for m in _messages(inner)]
    return [str(value)]


def form_errors(messages: Mapping[str, Any], quota_keys: list[str] | None = None) -> dict:
    """marshmallow's nested messages as {form field: [messages in the page's language]}; a
    quota's errors go beside its own row."""
    out: dict[str, list[str]] = {}
    for name, value in messages.items():
        if name == "quotas" and isinstance(value, Mapping) and quota_keys:
            for index, inner in value.items():
                position = int(index) if str(index).isdigit() else -1
                key = f"quota-{quota_keys[position]}" if 0 <= position < len(quota_keys) else name
                out.setdefault(key, []).extend(_messages(inner))
        else:
            out.setdefault(name, []).extend(_messages(value))
    return {key: [translate_error(m) for m in texts] for key, texts in out.items()}


def refusal(exc: handlers.Invalid | handlers.Conflict, fields: Iterable[str]) -> dict:
    """A handler's refusal beside the field it names, or on the form as a whole."""
    field = exc.field if exc.field in set(fields) else "_form"
    return {field: [translate_error(str(exc))]}


def not_found() -> tuple[str, int]:
    return render_template(
        "error.html",
        title=_("Not found"),
        message=_("This page does not exist, or it concerns another agency."),
    ), 404


def _page() -> int:
    value = request.args.get("page", "1")
    return max(1, int(value)) if value.isdigit() else 1


def _pages(total: int, page: int) -> dict[str, int]:
    return {"page": page, "pages": max(1, -(-total // PAGE_SIZE)), "total": total}


# -- proposals ---------------------------------------------------------------------------------


def _names(session: Any, volunteer_ids: set[str], placement_ids: set[str]) -> tuple[dict, dict]:
    """What this node knows of the people and places: names of its own volunteers only (a host
    agency never holds a visiting volunteer's name before the dossier) and its own placements."""
    agency = node().agency
    people = {
        row.id: f"{row.first_name} {row.last_name}"
        for row in session.execute(
            select(Volunteer.id, Volunteer.first_name, Volunteer.last_name).where(
                Volunteer.agency == agency, Volunteer.id.in_(volunteer_ids or {""})
            )
        )
    }
    places = {
        row.id: f"{row.title} ({row.city})"
        for row in session.execute(
            select(Placement.id, Placement.title, Placement.city).where(
                Placement.agency == agency, Placement.id.in_(placement_ids or {""})
            )
        )
    }
    return people, places


def _described(place: dict[str, Any] | None) -> str | None:
    """The other agency's placement as matching described it: title (city), organisation."""
    if not place:
        return None
    return f"{place['title']} ({place['city']}), {place['host_organisation']}".rstrip(", ")


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
                "explanation": explain(c.get("explanation", "")),
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
        flash(translate_error(str(exc)), "error")
        return redirect(url_for("dashboard.matches"))
    if accept:
        flash(
            _("Proposal accepted. It is confirmed once both agencies have accepted it."), "success"
        )
    else:
        flash(
            _("Proposal declined. The volunteer and the placement are free for another match."),
            "success",
        )
    return redirect(url_for("dashboard.matches"))


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
        return _proposals_page({match_id: form_errors(exc.messages)}, {match_id: values})
    return _decide(match_id, False, data["reason"], data["note"])


# -- mobilities --------------------------------------------------------------------------------


def _follow_up(reports: list[Any]) -> dict[str, Any]:
    labels = report_labels()
    by_kind: dict[str, list[dict]] = {}
    for report in reports:
        if isinstance(report, Mapping):
            by_kind.setdefault(str(report.get("kind")), []).append(dict(report))
    required = [
        {
            "kind": kind,
            "label": labels[kind],
            "present": kind in by_kind,
            "on": by_kind[kind][0].get("on") if kind in by_kind else None,
        }
        for kind in FOLLOW_UP
    ]
    return {
        "required": required,
        "filed": sum(1 for r in required if r["present"]),
        "incidents": len(by_kind.get("incident", [])),
        "evaluation": "evaluation" in by_kind,
    }


def check_in_labels() -> dict[str, str]:
    return {
        "first": _("First check-in"),
        "mid_term": _("Mid-term check-in"),
        "final": _("Final check-in"),
    }


def _check_ins(mobility: Mobility) -> list[dict[str, Any]]:
    """Each check-in's due date (this node's schedule) and who answered it."""
    from services.registry.adapters.repository import mobility as aggregate

    m = aggregate(mobility)
    due = m.due_dates(current_app.extensions["vir.follow_up"]["schedule"])
    return [
        {
            "code": code,
            "label": label,
            "due_on": due.get(code),
            "host": m.answered(code, "host_agency"),
            "volunteer": m.answered(code, "volunteer"),
        }
        for code, label in check_in_labels().items()
    ]


@bp.route("/mobilities")
def mobilities() -> Any:
    agency = node().agency
    page = _page()
    statement = select(Mobility).where(
        or_(Mobility.sending_agency == agency, Mobility.host_agency == agency)
    )
    with sessions()() as session:
        total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
        found = session.scalars(
            statement.order_by(Mobility.updated_at.desc(), Mobility.id)
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE)
        ).all()
        proposals = {
            m.id: m
            for m in session.scalars(
                select(Match).where(Match.id.in_({m.match_id for m in found} or {""}))
            )
        }
        people, places = _names(
            session,
            {m.volunteer_id for m in proposals.values()},
            {m.placement_id for m in proposals.values()},
        )
    labels = mobility_status_labels()
    rows = []
    for mobility in found:
        match = proposals.get(mobility.match_id)
        rows.append(
            {
                "id": mobility.id,
                "match_id": mobility.match_id,
                "agreement_id": mobility.agreement_id,
                "sending": mobility.sending_agency,
                "host": mobility.host_agency,
                "volunteer_id": match.volunteer_id if match else None,
                "volunteer_name": people.get(match.volunteer_id) if match else None,
                "placement_id": match.placement_id if match else None,
                # the host node's description when the placement is not this agency's own
                "placement_title": (places.get(match.placement_id) if match else None)
                or ", ".join(
                    filter(
                        None,
                        [
                            (mobility.placement or {}).get(k)
                            for k in ("title", "host_organisation", "city")
                        ],
                    )
                )
                or None,
                "status": mobility.status,
                "status_label": labels.get(mobility.status, mobility.status),
                "started_on": mobility.started_on,
                "ended_on": mobility.ended_on,
                "interruption": codes.reason_label(
                    codes.INTERRUPTION_REASONS, mobility.interruption_reason, lang()
                ),
                "interruption_note": mobility.interruption_note,  # this node's own note
                "follow_up": _follow_up(list(mobility.reports or [])),
                "checklist": [
                    {**item, "label": checklist_label(item, lang())}
                    for item in (mobility.checklist or {}).get("items", [])
                ],
                "can_tick": mobility.sending_agency == agency
                and mobility.status == "pre_departure",
                "check_ins": _check_ins(mobility) if mobility.started_on else [],
                "can_answer": mobility.host_agency == agency and mobility.status == "in_mission",
            }
        )
    return render_template(
        "exchanges/mobilities.html",
        title=_("Mobilities"),
        rows=rows,
        pager=_pages(total, page),
        steps=mobility_step_labels(),
        reasons=interruption_reasons(),
    )


# -- agreements --------------------------------------------------------------------------------

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
        return partners, form_errors(exc.messages)
    if not [p for p in partners if p != node().agency]:
        return partners, {
            "partners": [translate_error("Name at least one partner agency other than this one.")]
        }
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
            errors = form_errors(exc.messages, quota_keys)
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
            return redirect(url_for("dashboard.agreement", agreement_id=agreement_id))
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
    return redirect(url_for("dashboard.agreement", agreement_id=agreement_id))


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
        for messages in form_errors(exc.messages).values():
            for message in messages:
                flash(message, "error")
        return _back(agreement_id)
    except handlers.Conflict as exc:
        flash(translate_error(str(exc)), "error")
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
        errors = form_errors(exc.messages, [_key(s, h) for s, h in directions])
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
        return _agreement_page(agreement_id, terminate=(values, form_errors(exc.messages)))
    except (handlers.Invalid, handlers.Conflict) as exc:
        return _agreement_page(
            agreement_id, terminate=(values, refusal(exc, ("reason", "effective")))
        )
    flash(_("The agreement is terminated. The other parties are informed."), "success")
    return _back(agreement_id)


# -- notifications -----------------------------------------------------------------------------


class Unavailable(Exception):
    """The delivery log cannot be shown; the message says why, in the page's language."""


def fetch_deliveries(page: int, filters: Mapping[str, str]) -> tuple[list[dict], dict]:
    """One page of this agency's delivery log from its notifications instance."""
    options = current_app.config.get("DASHBOARD") or {}
    url, token = options.get("notifications_url"), options.get("notifications_token")
    if not url or not token:
        raise Unavailable(
            _(
                "The notifications service is not configured for this node: set "
                "DASHBOARD_NOTIFICATIONS_URL and DASHBOARD_NOTIFICATIONS_TOKEN."
            )
        )
    try:
        response = requests.get(
            f"{str(url).rstrip('/')}/api/v1/deliveries",
            params={"page": page, "page_size": PAGE_SIZE, **filters},
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=NOTIFICATIONS_TIMEOUT,
        )
    except requests.RequestException as exc:
        log.warning("dashboard.notifications_unreachable", url=url, error=str(exc))
        raise Unavailable(
            _("The notifications service cannot be reached right now. Try again later.")
        ) from exc
    if response.status_code in (401, 403):
        raise Unavailable(
            _(
                "The notifications service refused this node's token: check "
                "DASHBOARD_NOTIFICATIONS_TOKEN."
            )
        )
    try:
        if response.status_code != 200:
            raise ValueError(f"HTTP {response.status_code}")
        rows = response.json()
        pagination = json.loads(response.headers.get("X-Pagination") or "{}")
        if not isinstance(rows, list) or not isinstance(pagination, dict):
            raise ValueError("unexpected answer")
    except ValueError as exc:
        log.warning("dashboard.notifications_bad_answer", url=url, error=str(exc))
        raise Unavailable(
            _("The notifications service gave an unexpected answer. Try again later.")
        ) from exc
    return [r for r in rows if isinstance(r, dict)], pagination


def _when(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


@bp.route("/notifications")
def notifications() -> Any:
    page = _page()
    filters = {
        name: request.args[name]
        for name, allowed in (("status", DELIVERY_STATUSES), ("channel", DELIVERY_CHANNELS))
        if request.args.get(name) in allowed
    }
    labels = delivery_labels()
    rows: list[dict] = []
    pager = _pages(0, page)
    problem = None
    try:
        deliveries, pagination = fetch_deliveries(page, filters)
    except Unavailable as exc:
        problem = str(exc)
    else:
        total = pagination.get("total", len(deliveries))
        pager = _pages(total if isinstance(total, int) else len(deliveries), page)
        volunteers = {
            d.get("recipient_id") for d in deliveries if d.get("recipient_kind") == "volunteer"
        }
        organisations = {
            d.get("recipient_id")
            for d in deliveries
            if d.get("recipient_kind") == "host_organisation"
        }
        with sessions()() as session:
            people, _places = _names(session, {v for v in volunteers if v}, set())
            people |= {
                row.id: row.name
                for row in session.execute(
                    select(HostOrganisation.id, HostOrganisation.name).where(
                        HostOrganisation.agency == node().agency,
                        HostOrganisation.id.in_({o for o in organisations if o} or {""}),
                    )
                )
            }
        for d in deliveries:
            kind, status, channel = (
                str(d.get("recipient_kind", "")),
                str(d.get("status", "")),
                str(d.get("channel", "")),
            )
            event = str(d.get("event_type", ""))
            rows.append(
                {
                    "id": d.get("id"),
                    "event_type": event,
                    "event_label": labels["event"].get(event, event),
                    "recipient_kind": labels["recipient"].get(kind, kind),
                    "recipient_name": people.get(d.get("recipient_id")),
                    "channel": labels["channel"].get(channel, channel),
                    "status": status,
                    "status_label": labels["status"].get(status, status),
                    "attempts": d.get("attempts"),
                    "last_error": d.get("last_error"),
                    "at": _when(d.get("created_at")) or _when(d.get("updated_at")),
                }
            )
    return render_template(
        "exchanges/notifications.html",
        title=_("Notifications"),
        rows=rows,
        pager=pager,
        problem=problem,
        filters=filters,
        statuses=[(s, labels["status"][s]) for s in DELIVERY_STATUSES],
        channels=[(c, labels["channel"][c]) for c in DELIVERY_CHANNELS],
    )


# -- mission steps -------------------------------------------------------------------------------

MOBILITY_STEPS = (
    "start",
    "report:start",
    "report:mid_term",
    "report:end",
    "report:incident",
    "report:evaluation",
    "complete",
    "interrupt",
)


def interruption_reasons() -> dict[str, str]:
    return dict(codes.reason_choices(codes.INTERRUPTION_REASONS, lang()))


def mobility_step_labels() -> dict[str, str]:
    return {
        "start": _("The volunteer arrived: the mission starts"),
        "report:start": _("Start report filed"),
        "report:mid_term": _("Mid-term report filed"),
        "report:end": _("End report filed"),
        "report:incident": _("Incident reported"),
        "report:evaluation": _("End-of-mission evaluation filed"),
        "complete": _("The mission ended as planned"),
        "interrupt": _("The mission was interrupted"),
    }


@bp.route("/mobilities/<mobility_id>/step", methods=["POST"])
@staff_only
def mobility_step(mobility_id: str) -> Any:
    """One step of a mission, recorded through the same handlers as the API."""
    from services.registry.schemas import InterruptionIn, MobilityReportIn, MobilityStepIn

    step = request.form.get("step", "")
    raw_on = (request.form.get("on") or "").strip()
    match = re.match(r"^(\d{1,2})/(\d{1,2})/(\d{4})$", raw_on)
    on = (
        f"{match.group(3)}-{int(match.group(2)):02d}-{int(match.group(1)):02d}" if match else raw_on
    )
    try:
        if step == "start" or step == "complete":
            data = MobilityStepIn().load({"on": on})
        elif step.startswith("report:"):
            summary = (request.form.get("summary") or "").strip() or None
            data = MobilityReportIn().load(
                {"kind": step.split(":", 1)[1], "on": on, "summary": summary}
            )
        elif step == "interrupt":
            note = (request.form.get("summary") or "").strip() or None
            data = InterruptionIn().load(
                {"on": on, "reason": request.form.get("reason") or "", "note": note}
            )
        else:
            flash(_("Choose what happened."), "error")
            return redirect(url_for("dashboard.mobilities"))
    except ValidationError as exc:
        for field, messages in exc.messages.items():  # type: ignore[union-attr]
            for message in messages if isinstance(messages, list) else [str(messages)]:
                flash(f"{_(field)} : {translate_error(str(message))}", "error")
        return redirect(url_for("dashboard.mobilities"))
    try:
        with sessions().begin() as session:
            if step == "start":
                handlers.start_mobility(session, node(), mobility_id, data["on"])
            elif step == "complete":
                handlers.complete_mobility(session, node(), mobility_id, data["on"])
            elif step == "interrupt":
                handlers.interrupt_mobility(
                    session, node(), mobility_id, data["on"], data["reason"], data["note"]
                )
            else:
                handlers.submit_report(
                    session, node(), mobility_id, data["kind"], data["on"], data["summary"]
                )
    except handlers.NotFound:
        return not_found()
    except (handlers.Conflict, handlers.Invalid, handlers.Forbidden) as exc:
        flash(translate_error(str(exc)), "error")
        return redirect(url_for("dashboard.mobilities"))
    flash(_("Recorded: %(step)s.", step=mobility_step_labels()[step]), "success")
    return redirect(url_for("dashboard.mobilities"))


@bp.route("/mobilities/<mobility_id>/check-in", methods=["POST"])
@staff_only
def answer_check_in(mobility_id: str) -> Any:
    """The host agency's answer to a check-in, through the same handler as the API."""
    from services.registry.schemas import CheckInIn

    form = request.form
    try:
        data = CheckInIn().load(
            {
                "check_in": form.get("check_in") or "",
                "on": date.today().isoformat(),
                **{k: form.get(k) or None for k in ("wellbeing", "integration", "workload")},
                "issues": form.get("issues") or None,
                "note": (form.get("note") or "").strip() or None,
            }
        )
    except ValidationError as exc:
        for field, messages in exc.messages.items():  # type: ignore[union-attr]
            for message in messages if isinstance(messages, list) else [str(messages)]:
                flash(f"{_(field)} : {translate_error(str(message))}", "error")
        return redirect(url_for("dashboard.mobilities"))
    answers = {k: data[k] for k in ("wellbeing", "integration", "workload", "issues")}
    try:
        with sessions().begin() as session:
            handlers.fill_check_in(
                session,
                node(),
                mobility_id,
                data["check_in"],
                "host_agency",
                data["on"],
                answers,
                data["note"],
            )
    except handlers.NotFound:
        return not_found()
    except (handlers.Conflict, handlers.Invalid, handlers.Forbidden) as exc:
        flash(translate_error(str(exc)), "error")
        return redirect(url_for("dashboard.mobilities"))
    flash(_("Recorded: %(step)s.", step=check_in_labels()[data["check_in"]]), "success")
    return redirect(url_for("dashboard.mobilities"))


@bp.route("/mobilities/<mobility_id>/checklist/<code>", methods=["POST"])
@staff_only
def tick_checklist(mobility_id: str, code: str) -> Any:
    """The sending agency ticks (or unticks) a pre-departure item today, as the API does."""
    done = request.form.get("done") == "1"
    try:
        with sessions().begin() as session:
            handlers.tick_checklist(session, node(), mobility_id, code, done, date.today())
    except handlers.NotFound:
        return not_found()
    except (handlers.Conflict, handlers.Invalid, handlers.Forbidden) as exc:
        flash(translate_error(str(exc)), "error")
        return redirect(url_for("dashboard.mobilities"))
    item = checklist_label({"code": code}, lang())
    flash(
        _("Ticked: %(item)s.", item=item) if done else _("Unticked: %(item)s.", item=item),
        "success",
    )
    return redirect(url_for("dashboard.mobilities"))
