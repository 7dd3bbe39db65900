"""The PII guard: partner payloads are built from an explicit allow-list of fields per event type,
never by deleting fields from a full event. A field not listed here never reaches a partner."""

from __future__ import annotations

from typing import Any

from shared.events import Event

# Identifiers are opaque ids (never names); quotas, dates of agreements and placements are public
# facts of the programme. No name, contact, birth date, identity number or free-text note.
ALLOWED: dict[str, tuple[str, ...]] = {
    "volunteer.registered": ("agency",),
    "match.confirmed": (
        "match_id",
        "agreement_id",
        "placement_id",
        "sending_agency",
        "host_agency",
    ),
    "match.declined": ("match_id", "agreement_id", "agency"),
    "match.cancelled": ("match_id", "agreement_id", "sending_agency", "host_agency"),
    "agreement.proposed": (
        "agreement_id",
        "parties",
        "start",
        "end",
        "quotas",
        "balance_tolerance",
        "fields_of_cooperation",
        "revision",
    ),
    "agreement.approved": ("agreement_id", "agency", "revision"),
    "agreement.activated": (
        "agreement_id",
        "parties",
        "start",
        "end",
        "quotas",
        "balance_tolerance",
        "fields_of_cooperation",
        "revision",
    ),
    "agreement.amended": (
        "agreement_id",
        "parties",
        "start",
        "end",
        "quotas",
        "balance_tolerance",
        "fields_of_cooperation",
        "revision",
    ),
    "agreement.terminated": ("agreement_id", "agency", "effective"),
    "mobility.started": ("mobility_id", "agreement_id", "sending_agency", "host_agency", "on"),
    "mobility.report_submitted": ("mobility_id", "agreement_id", "kind", "submitted_by", "on"),
    "mobility.completed": ("mobility_id", "agreement_id", "sending_agency", "host_agency", "on"),
    "mobility.interrupted": ("mobility_id", "agreement_id", "sending_agency", "host_agency", "on"),
    "placement.published": (
        "placement_id",
        "agency",
        "city",
        "title",
        "domain",
        "start",
        "end",
        "slots",
    ),
    "placement.closed": ("placement_id", "agency"),
}


# The CloudEvents `subject` partners see: the id of the exchange, agreement, placement or
# mobility the event is about, taken from the allowed data; never a volunteer's id (a
# volunteer.* event goes out without a subject, which CloudEvents allows).
SUBJECT_FIELD = {
    "match": "match_id",
    "agreement": "agreement_id",
    "placement": "placement_id",
    "mobility": "mobility_id",
}


def public_payload(event: Event) -> dict[str, Any] | None:
    """The CloudEvent a partner receives, or None when partners are not told of this type."""
    fields = ALLOWED.get(event.type)
    if fields is None:
        return None
    data = {name: event.data[name] for name in fields if name in event.data}
    payload: dict[str, Any] = {
        "specversion": "1.0",
        "id": event.id,
        "source": event.source,
        "type": event.type,
        "time": event.time.isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "viragencies": ".".join(event.agencies),
        "data": data,
    }
    subject = data.get(SUBJECT_FIELD.get(event.type.split(".", 1)[0], ""))
    if subject:
        payload["subject"] = subject
    return payload
