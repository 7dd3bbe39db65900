"""?awaiting_us=true on matches is answered in SQL (services/registry/queries.py): open proposals
this agency has not decided, whatever the other agency did or a note says."""

from __future__ import annotations

import json

import pytest

from tests.integration.registry.test_matches import _apply, _decision, _proposal
from tests.support.registry import PILOT_TERMS, volunteer_payload

pytestmark = pytest.mark.integration


def test_awaiting_us_lists_the_open_proposals_this_agency_has_not_decided(tg):
    agreement = tg.call("POST", "/api/v1/agreements", json={"partners": ["ML"], **PILOT_TERMS}).json
    volunteers = [
        tg.call("POST", "/api/v1/volunteers", json=volunteer_payload(n)).json["id"]
        for n in range(1, 5)
    ]
    proposals = {
        f"m-{n}": _proposal(f"m-{n}", agreement["id"], vid, placement_id=f"pl-ml-{n}")
        for n, vid in enumerate(volunteers, start=1)
    }
    for proposal in proposals.values():
        _apply(tg, "match.proposed", proposal)
    # ML accepted m-1 (still ours to decide); TG declined m-2 with a note naming "TG": (ours, done)
    _apply(tg, "match.accepted", _decision(proposals["m-1"], "ML"), source="/agencies/ML/registry")
    declined = tg.call(
        "POST",
        "/api/v1/matches/m-2/decline",
        json={"reason": "dates", "note": 'asked "TG": later'},
    )
    assert declined.status_code == 200, declined.json
    accepted = tg.call("POST", "/api/v1/matches/m-3/accept")
    assert accepted.status_code == 200

    awaiting = tg.call("GET", "/api/v1/matches?awaiting_us=true&page_size=10")
    assert [m["id"] for m in awaiting.json] == ["m-1", "m-4"]  # oldest first
    assert json.loads(awaiting.headers["X-Pagination"])["total"] == 2
    everything = tg.call("GET", "/api/v1/matches?page_size=10").json
    assert sorted(m["id"] for m in everything) == ["m-1", "m-2", "m-3", "m-4"]
