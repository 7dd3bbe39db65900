"""The entitlement table: which principal may say which event type about which agencies.

A principal is an agency code (TG, ML, ...) or a network service (`matching`, `notifications`),
the one whose key signed the event. Each rule checks the signer against the event's own data
and its `viragencies`; what needs the receiver's state (is ML a party of *this* agreement?)
is left to the receiver's domain rules. A rule returns why it refuses, or None.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.events import Event

_AGENCY = re.compile(r"^[A-Z]{2}$")

Check = Callable[[str, Event], "str | None"]


@dataclass(frozen=True)
class Entitlement:
    who: str  # the rule in words, for docs/security.md and the refusal log
    check: Check


def principal_of_source(source: str) -> str | None:
    """`/agencies/TG/registry` -> TG, `/network/matching` -> matching; None otherwise."""
    parts = source.strip("/").split("/")
    if len(parts) == 3 and parts[0] == "agencies" and _AGENCY.match(parts[1]):
        return parts[1]
    if len(parts) == 2 and parts[0] == "network" and parts[1]:
        return parts[1]
    return None


def _is_agency(principal: str) -> bool:
    return bool(_AGENCY.match(principal))


def _data(event: Event) -> Mapping[str, Any]:
    return event.data


def _own_records(principal: str, event: Event) -> str | None:
    if not _is_agency(principal):
        return f"{principal} is not an agency"
    if _data(event).get("agency") != principal or event.agencies != (principal,):
        return f"{principal} may only publish about its own volunteers and placements"
    return None


def _parties(event: Event) -> Sequence[str]:
    return tuple(_data(event).get("parties") or ())


def _proposal(principal: str, event: Event) -> str | None:
    parties = _parties(event)
    if principal not in parties:
        return f"{principal} is not a party of the agreement"
    if event.agencies != parties or parties[0] != principal:
        return f"{principal} may only propose in its own name (proposer first in viragencies)"
    return None


def _terms_by_party(principal: str, event: Event) -> str | None:
    parties = _parties(event)
    if principal not in parties:
        return f"{principal} is not a party of the agreement"
    if event.agencies != parties:
        return "viragencies must be the agreement's parties"
    return None


def _party_in_own_name(principal: str, event: Event) -> str | None:
    if principal not in event.agencies:
        return f"{principal} is not a party named in viragencies"
    if _data(event).get("agency") != principal:
        return f"{principal} may only decide in its own name, not as {_data(event).get('agency')}"
    return None


def _matching_only(principal: str, event: Event) -> str | None:
    if principal != "matching":
        return f"only the matching service publishes {event.type}, not {principal}"
    d = _data(event)
    if event.agencies != (d.get("sending_agency"), d.get("host_agency")):
        return "viragencies must be the sending and the host agency"
    return None


def _match_decision(principal: str, event: Event) -> str | None:
    if len(event.agencies) != 2:
        return "viragencies must be the sending and the host agency"
    return _party_in_own_name(principal, event)


def _mobility_step(principal: str, event: Event) -> str | None:
    d = _data(event)
    pair = (d.get("sending_agency"), d.get("host_agency"))
    if event.agencies != pair:
        return "viragencies must be the sending and the host agency"
    if principal not in pair:
        return f"{principal} is neither the sending nor the host agency of the mobility"
    return None


def _submitted_by_a_party(principal: str, event: Event, what: str) -> str | None:
    """One of the mobility's two agencies, in its own name (`data.submitted_by`)."""
    if len(event.agencies) != 2 or principal not in event.agencies:
        return f"{principal} is neither the sending nor the host agency of the mobility"
    if _data(event).get("submitted_by") != principal:
        return f"{principal} may only {what} in its own name"
    return None


def _mobility_report(principal: str, event: Event) -> str | None:
    return _submitted_by_a_party(principal, event, "file reports")


def _only(side: str) -> Check:
    """A mobility step that only its sending (or host) agency takes: `side` names the field."""

    def check(principal: str, event: Event) -> str | None:
        refused = _mobility_step(principal, event)
        if refused:
            return refused
        if principal != _data(event).get(side):
            return f"only the {side.replace('_', ' ')} publishes {event.type}, not {principal}"
        return None

    return check


_sending_agency = _only("sending_agency")
_host_agency = _only("host_agency")


def _check_in_answer(principal: str, event: Event) -> str | None:
    refused = _submitted_by_a_party(principal, event, "answer")
    if refused:
        return refused
    d = _data(event)
    # the host agency answers for itself; the volunteer's answers come from its sending agency
    if d.get("respondent") == "host_agency" and principal != event.agencies[1]:
        return f"{principal} is not the host agency"
    if d.get("respondent") == "volunteer" and principal != event.agencies[0]:
        return f"{principal} is not the volunteer's sending agency"
    return None


def _check_in_due(principal: str, event: Event) -> str | None:
    d = _data(event)
    if d.get("stage") == "overdue":
        return _sending_agency(principal, event)
    if event.agencies != (principal,) or principal not in (
        d.get("sending_agency"),
        d.get("host_agency"),
    ):
        return "a reminder stays with the agency of the node that sends it"
    return None


def _review(principal: str, event: Event) -> str | None:
    refused = _submitted_by_a_party(principal, event, "answer")
    if refused:
        return refused
    d = _data(event)
    host_side = d.get("respondent") in ("host_organisation", "host_agency")
    if principal != event.agencies[1 if host_side else 0]:
        return f"{principal} does not record the {d.get('respondent')} review"
    return None


def _incident_report(principal: str, event: Event) -> str | None:
    refused = _mobility_step(principal, event)
    if refused:
        return refused
    if _data(event).get("reported_by") != principal:
        return f"{principal} may only report incidents in its own name"
    return None


def _notifications(principal: str, event: Event) -> str | None:
    if principal == "notifications":
        return None
    if (
        _is_agency(principal)
        and event.source == f"/agencies/{principal}/notifications"
        and principal in event.agencies
    ):
        return None  # an agency's own notifications instance reporting on its deliveries
    return f"only a notifications instance publishes {event.type}, not {principal}"


OWN_RECORDS = Entitlement("the agency named in data.agency, about itself only", _own_records)
ENTITLEMENTS: dict[str, Entitlement] = {
    "volunteer.registered": OWN_RECORDS,
    "volunteer.updated": OWN_RECORDS,
    "volunteer.withdrawn": OWN_RECORDS,
    "placement.published": OWN_RECORDS,
    "placement.updated": OWN_RECORDS,
    "placement.closed": OWN_RECORDS,
    "agreement.proposed": Entitlement(
        "a party, as proposer: first of data.parties = viragencies", _proposal
    ),
    "agreement.amended": Entitlement("a party (data.parties = viragencies)", _terms_by_party),
    "agreement.activated": Entitlement("a party (data.parties = viragencies)", _terms_by_party),
    "agreement.approved": Entitlement(
        "a party in viragencies, in its own name (data.agency)", _party_in_own_name
    ),
    "agreement.terminated": Entitlement(
        "a party in viragencies, in its own name (data.agency)", _party_in_own_name
    ),
    "agreement.lessons_shared": Entitlement(
        "a party in viragencies, in its own name (data.agency)", _party_in_own_name
    ),
    "match.proposed": Entitlement("the matching service", _matching_only),
    "match.confirmed": Entitlement("the matching service", _matching_only),
    "match.cancelled": Entitlement("the matching service", _matching_only),
    "match.accepted": Entitlement(
        "the sending or host agency in viragencies, in its own name (data.agency)",
        _match_decision,
    ),
    "match.declined": Entitlement(
        "the sending or host agency in viragencies, in its own name (data.agency)",
        _match_decision,
    ),
    "mobility.checklist_updated": Entitlement("the sending agency", _sending_agency),
    "mobility.started": Entitlement("the sending agency", _sending_agency),
    "mobility.check_in_submitted": Entitlement(
        "the host agency for itself, the sending agency for its volunteer (data.submitted_by)",
        _check_in_answer,
    ),
    "mobility.check_in_due": Entitlement(
        "a reminder: the node's own agency alone in viragencies; overdue: the sending agency",
        _check_in_due,
    ),
    "mobility.hosted": Entitlement("the host agency", _host_agency),
    "mobility.review_submitted": Entitlement(
        "the host agency for itself and its organisation, the sending agency for itself and "
        "its volunteer (data.submitted_by)",
        _review,
    ),
    "mobility.incident_reported": Entitlement(
        "the sending or host agency, in its own name (data.reported_by)", _incident_report
    ),
    "mobility.incident_updated": Entitlement(
        "the sending or the host agency (the owner, checked by the receiver)", _mobility_step
    ),
    "mobility.completed": Entitlement("the sending or the host agency", _mobility_step),
    "mobility.interrupted": Entitlement("the sending or the host agency", _mobility_step),
    "mobility.report_submitted": Entitlement(
        "the sending or host agency, in its own name (data.submitted_by)", _mobility_report
    ),
    "notification.delivered": Entitlement(
        "the network notifications service, or an agency's own instance", _notifications
    ),
    "notification.failed": Entitlement(
        "the network notifications service, or an agency's own instance", _notifications
    ),
}


def entitlement_error(principal: str, event: Event) -> str | None:
    """Why `principal` may not publish `event` (None: it may)."""
    named = principal_of_source(event.source)
    if named != principal:
        return f"source {event.source} does not name the signer {principal}"
    rule = ENTITLEMENTS.get(event.type)
    if rule is None:
        return f"no principal may publish {event.type}"
    return rule.check(principal, event)
