"""One valid example payload per event type: documentation (AsyncAPI) and contract tests."""

from __future__ import annotations

from typing import Any

_HASH = "3f1c0e6a5b0d4c2e9a8b7f6e5d4c3b2a19f8e7d6c5b4a39281706f5e4d3c2b1a"

_VOLUNTEER = {
    "volunteer_id": "vol-tg-0001",
    "agency": "TG",
    "status": "available",
    "skills": ["public health", "community mobilisation"],
    "domains": ["health"],
    "languages": [{"code": "fr", "level": "native"}, {"code": "ee", "level": "native"}],
    "education_level": "master",
    "available_from": "2017-09-01",
    "available_until": "2018-08-31",
    "preferred_countries": ["ML"],
    "registered_at": "2017-06-12T09:30:00+00:00",
}
_PLACEMENT = {
    "placement_id": "pl-ml-0001",
    "agency": "ML",
    "host_organisation_id": "org-ml-0001",
    "host_organisation_name": "Centre de santé communautaire de Sikasso",
    "city": "Sikasso",
    "title": "Animateur·rice de santé communautaire",
    "domain": "health",
    "required_skills": ["public health"],
    "required_languages": [{"code": "fr", "level": "B2"}],
    "start": "2017-10-01",
    "end": "2018-07-31",
    "slots": 2,
    "status": "open",
}
_TERMS = {
    "agreement_id": "agr-tg-ml-2017",
    "parties": ["TG", "ML"],
    "start": "2017-09-01",
    "end": "2018-12-31",
    "quotas": [
        {"sending": "TG", "host": "ML", "volunteers": 4},
        {"sending": "ML", "host": "TG", "volunteers": 2},
    ],
    "balance_tolerance": 2,
    "fields_of_cooperation": ["health", "education", "environment"],
    "terms_hash": _HASH,
    "revision": 1,
}
_MATCH = {
    "match_id": "m-0001",
    "agreement_id": "agr-tg-ml-2017",
    "volunteer_id": "vol-tg-0001",
    "placement_id": "pl-ml-0001",
    "sending_agency": "TG",
    "host_agency": "ML",
}
_MOBILITY = {
    "mobility_id": "mob-0001",
    "match_id": "m-0001",
    "agreement_id": "agr-tg-ml-2017",
    "sending_agency": "TG",
    "host_agency": "ML",
    "on": "2017-10-02",
}

EXAMPLES: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "volunteer.registered": (("TG",), _VOLUNTEER),
    "volunteer.updated": (("TG",), {**_VOLUNTEER, "skills": ["public health"]}),
    "volunteer.withdrawn": (
        ("TG",),
        {"volunteer_id": "vol-tg-0001", "agency": "TG", "reason": "personal"},
    ),
    "placement.published": (("ML",), _PLACEMENT),
    "placement.updated": (("ML",), {**_PLACEMENT, "slots": 1}),
    "placement.closed": (
        ("ML",),
        {"placement_id": "pl-ml-0001", "agency": "ML", "reason": "filled"},
    ),
    "agreement.proposed": (("TG", "ML"), _TERMS),
    "agreement.lessons_shared": (
        ("TG", "ML"),
        {
            "agreement_id": "agr-tg-ml-2017",
            "agency": "TG",
            "text": "Prévoir un point d'étape dès le premier mois.",
            "on": "2018-12-10",
        },
    ),
    "agreement.approved": (
        ("TG", "ML"),
        {"agreement_id": "agr-tg-ml-2017", "agency": "ML", "terms_hash": _HASH, "revision": 1},
    ),
    "agreement.activated": (("TG", "ML"), _TERMS),
    "agreement.amended": (("TG", "ML"), {**_TERMS, "balance_tolerance": 1, "revision": 2}),
    "agreement.terminated": (
        ("TG", "ML"),
        {
            "agreement_id": "agr-tg-ml-2017",
            "agency": "TG",
            "reason": "end_of_programme",
            "effective": "2018-12-31",
        },
    ),
    "match.proposed": (
        ("TG", "ML"),
        {
            **{k: v for k, v in _MATCH.items()},
            "placement": {
                "title": "Animateur·rice de santé communautaire",
                "city": "Sikasso",
                "host_organisation": "Centre de santé communautaire de Sikasso",
            },
            "score": 0.82,
            "criteria": [
                {
                    "criterion": "skills",
                    "weight": 0.4,
                    "value": 1.0,
                    "explanation": "1 of 1 required skills",
                    "messages": [
                        {"code": "criterion.skills.count", "params": {"have": 1, "total": 1}}
                    ],
                },
                {
                    "criterion": "languages",
                    "weight": 0.3,
                    "value": 0.8,
                    "explanation": "fr native ≥ B2",
                },
            ],
            "expires_at": "2017-07-15T00:00:00+00:00",
        },
    ),
    "match.accepted": (
        ("TG", "ML"),
        {k: _MATCH[k] for k in ("match_id", "agreement_id", "volunteer_id", "placement_id")}
        | {"agency": "ML"},
    ),
    "match.declined": (
        ("TG", "ML"),
        {k: _MATCH[k] for k in ("match_id", "agreement_id", "volunteer_id", "placement_id")}
        | {"agency": "ML", "reason": "dates"},
    ),
    "match.confirmed": (("TG", "ML"), _MATCH),
    "match.cancelled": (("TG", "ML"), {**_MATCH, "reason": "volunteer_withdrawn"}),
    "mobility.checklist_updated": (
        ("TG", "ML"),
        {k: v for k, v in _MOBILITY.items() if k != "on"}
        | {
            "version": 2,
            "items": [
                {"code": "contract", "mandatory": True, "done": True},
                {"code": "insurance", "mandatory": True, "done": True},
                {"code": "visa", "mandatory": False, "done": False},
            ],
        },
    ),
    "mobility.started": (("TG", "ML"), {**_MOBILITY, "planned_end": "2018-07-31"}),
    "mobility.hosted": (
        ("TG", "ML"),
        {k: v for k, v in _MOBILITY.items() if k != "on"}
        | {
            "placement_id": "pl-ml-0001",
            "title": "Animateur·rice de santé communautaire",
            "city": "Sikasso",
            "host_organisation": "Centre de santé communautaire de Sikasso",
            "start": "2017-10-01",
            "end": "2018-07-31",
        },
    ),
    "mobility.review_submitted": (
        ("TG", "ML"),
        {
            "mobility_id": "mob-0001",
            "agreement_id": "agr-tg-ml-2017",
            "respondent": "host_organisation",
            "submitted_by": "ML",
            "on": "2018-08-10",
            "overall": 4,
            "objectives": 4,
            "support": 3,
        },
    ),
    "mobility.incident_reported": (
        ("TG", "ML"),
        {k: v for k, v in _MOBILITY.items() if k != "on"}
        | {
            "incident_id": "inc-0001",
            "reported_by": "ML",
            "on": "2017-12-04",
            "severity": "high",
            "category": "health",
            "status": "open",
            "owner": "ML",
            "version": 1,
        },
    ),
    "mobility.incident_updated": (
        ("TG", "ML"),
        {k: v for k, v in _MOBILITY.items() if k != "on"}
        | {
            "incident_id": "inc-0001",
            "reported_by": "ML",
            "on": "2017-12-20",
            "severity": "medium",
            "category": "health",
            "status": "resolved",
            "owner": "ML",
            "version": 2,
        },
    ),
    "mobility.check_in_submitted": (
        ("TG", "ML"),
        {
            "mobility_id": "mob-0001",
            "agreement_id": "agr-tg-ml-2017",
            "check_in": "mid_term",
            "respondent": "host_agency",
            "submitted_by": "ML",
            "on": "2018-02-16",
            "wellbeing": 4,
            "integration": 3,
            "workload": 4,
            "issues": False,
        },
    ),
    "mobility.check_in_due": (
        ("TG", "ML"),
        {k: v for k, v in _MOBILITY.items() if k != "on"}
        | {
            "check_in": "mid_term",
            "due_on": "2018-02-14",
            "stage": "overdue",
            "respondents": ["host_agency", "volunteer"],
        },
    ),
    "mobility.report_submitted": (
        ("TG", "ML"),
        {
            "mobility_id": "mob-0001",
            "agreement_id": "agr-tg-ml-2017",
            "kind": "mid_term",
            "submitted_by": "ML",
            "on": "2018-02-15",
        },
    ),
    "mobility.completed": (("TG", "ML"), {**_MOBILITY, "on": "2018-07-31"}),
    "mobility.interrupted": (("TG", "ML"), {**_MOBILITY, "on": "2018-01-10", "reason": "health"}),
    "notification.delivered": (
        ("TG", "ML"),
        {
            "notification_id": "n-0001",
            "about_event_id": "0b8e3c52-0d7f-4a0e-9d0e-1c3b1f1e2d3c",
            "about_event_type": "match.confirmed",
            "channel": "email",
            "recipient_kind": "volunteer",
            "attempts": 1,
            "reason": None,
        },
    ),
    "notification.failed": (
        ("TG", "ML"),
        {
            "notification_id": "n-0002",
            "about_event_id": "0b8e3c52-0d7f-4a0e-9d0e-1c3b1f1e2d3c",
            "about_event_type": "match.confirmed",
            "channel": "webhook",
            "recipient_kind": "partner",
            "attempts": 9,
            "reason": "HTTP 503 for 3 days",
        },
    ),
}
