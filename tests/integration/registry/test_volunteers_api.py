"""Volunteer endpoints on a real database: happy path, pagination, filters, life cycle."""

from __future__ import annotations

import json

import pytest

from tests.support.registry import volunteer_payload

pytestmark = pytest.mark.integration


def test_registering_a_volunteer_stores_it_and_emits_a_profile_without_personal_data(tg):
    r = tg.call("POST", "/api/v1/volunteers", json=volunteer_payload())
    assert r.status_code == 201, r.json
    assert r.json["status"] == "available" and r.json["agency"] == "TG"
    with tg.engine.connect() as conn:
        payload = conn.exec_driver_sql("SELECT payload FROM outbox").scalar_one()
    event = json.loads(payload)
    assert event["type"] == "volunteer.registered" and event["subject"] == r.json["id"]
    text = json.dumps(event["data"])
    for personal in ("Ama", "Mensah", "1995-04-02", "TG-000001", "example.org", "+228"):
        assert personal not in text


def test_list_is_paginated_newest_first_and_filters_apply(tg):
    for n in range(12):
        skills = ["teaching"] if n % 3 == 0 else ["public health"]
        assert (
            tg.call(
                "POST", "/api/v1/volunteers", json=volunteer_payload(n, skills=skills)
            ).status_code
            == 201
        )
    page = tg.call("GET", "/api/v1/volunteers?page=2&page_size=5")
    assert page.status_code == 200
    assert json.loads(page.headers["X-Pagination"])["total"] == 12
    assert len(page.json) == 5
    teaching = tg.call("GET", "/api/v1/volunteers?skill=teaching&page_size=100")
    assert len(teaching.json) == 4 and all("teaching" in v["skills"] for v in teaching.json)
    named = tg.call("GET", "/api/v1/volunteers?q=mensah11")
    assert [v["last_name"] for v in named.json] == ["Mensah11"]


def test_withdrawal_is_recorded_once_and_a_withdrawn_volunteer_cannot_change(tg):
    vid = tg.call("POST", "/api/v1/volunteers", json=volunteer_payload()).json["id"]
    r = tg.call("POST", f"/api/v1/volunteers/{vid}/withdraw", json={"reason": "health"})
    assert r.status_code == 200 and r.json["status"] == "withdrawn"
    again = tg.call("POST", f"/api/v1/volunteers/{vid}/withdraw", json={"reason": "health"})
    assert again.status_code == 409
    change = tg.call("PATCH", f"/api/v1/volunteers/{vid}", json={"skills": ["x"]})
    assert change.status_code == 409
    assert tg.outbox_count("volunteer.withdrawn") == 1
    assert tg.outbox_count("volunteer.updated") == 0
