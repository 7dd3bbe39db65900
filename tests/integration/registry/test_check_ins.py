"""Check-ins on the sending node: the volunteer answers through a signed link, the host agency's
answers arrive as events; reminders before and after the due date and one overdue alert to both
agencies, each once, on a fake clock."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from services.registry.bootstrap import follow_up_once
from services.registry.dependencies import dependencies
from shared.db import outbox
from shared.messaging.consumer import PermanentError
from tests.support.registry import apply_event, confirmed_mobility, prepare_departure

pytestmark = pytest.mark.integration

START, END = date(2027, 10, 2), date(2028, 7, 31)
MID = date(2028, 3, 1)  # half-way between START and END


@pytest.fixture
def mission(tg):
    mob = confirmed_mobility(tg)["mobility"]
    prepare_departure(tg, mob["id"])
    started = tg.call(
        "POST",
        f"/api/v1/mobilities/{mob['id']}/start",
        json={"on": START.isoformat(), "planned_end": END.isoformat()},
    )
    assert started.status_code == 200, started.json
    return tg, mob


def _due_events(tg):
    with tg.engine.connect() as conn:
        rows = conn.execute(
            select(outbox.c.payload, outbox.c.routing_key)
            .where(outbox.c.event_type == "mobility.check_in_due")
            .order_by(outbox.c.seq)
        )
        # the routing key ends with the agencies the event is addressed to
        return [json.loads(p) | {"to": key.split(".")[2:]} for p, key in rows]


def _run(tg, today):
    return follow_up_once(tg.runtime, dependencies(tg.runtime).follow_up, today)


def _host_answers(tg, mob, check_in, on):
    answers = {"wellbeing": 4, "integration": 3, "workload": 4, "issues": False}
    data = {
        "mobility_id": mob["id"],
        "agreement_id": mob["agreement_id"],
        "check_in": check_in,
        "respondent": "host_agency",
        "submitted_by": "ML",
        "on": on.isoformat(),
        **answers,
    }
    return apply_event(tg, "mobility.check_in_submitted", data, source="/agencies/ML/registry")


def _volunteer_link(tg, mob, check_in):
    r = tg.call("GET", f"/api/v1/mobilities/{mob['id']}/check-ins/{check_in}/link")
    assert r.status_code == 200
    return r.json["url"].split("/check-in/")[1]


def _answer_by_link(tg, token, **answers):
    form = {"wellbeing": "5", "integration": "4", "workload": "3", "issues": "no"} | answers
    return tg.client().post(f"/check-in/{token}", data=form)


def test_the_schedule_is_two_weeks_after_the_start_half_way_and_two_weeks_before_the_end(mission):
    tg, mob = mission
    schedule = tg.call("GET", f"/api/v1/mobilities/{mob['id']}/check-ins").json
    assert [(c["check_in"], c["due_on"]) for c in schedule["check_ins"]] == [
        ("first", "2027-10-16"),
        ("mid_term", MID.isoformat()),
        ("final", "2028-07-17"),
    ]


def test_the_volunteer_answers_through_the_signed_link_without_an_account(mission):
    tg, mob = mission
    token = _volunteer_link(tg, mob, "first")
    page = tg.client().get(f"/check-in/{token}")
    assert page.status_code == 200 and "Bien-être" in page.text and "Wellbeing" in page.text
    assert _answer_by_link(tg, token, note="Je me sens un peu seule.").status_code == 200
    assert _answer_by_link(tg, token).status_code == 409  # answered once only
    assert tg.client().get(f"/check-in/{token[:-2]}xx").status_code == 404  # altered
    assert _answer_by_link(tg, _volunteer_link(tg, mob, "mid_term"), wellbeing="9").status_code == (
        422
    )
    with tg.engine.connect() as conn:
        [payload] = conn.execute(
            select(outbox.c.payload).where(outbox.c.event_type == "mobility.check_in_submitted")
        ).scalars()
    event = json.loads(payload)["data"]
    assert (event["respondent"], event["wellbeing"], event["issues"]) == ("volunteer", 5, False)
    assert "seule" not in payload  # the note stays on this node
    schedule = tg.call("GET", f"/api/v1/mobilities/{mob['id']}/check-ins").json
    assert schedule["check_ins"][0]["answers"]["volunteer"]["note"] == "Je me sens un peu seule."


def test_the_host_agency_answers_on_its_node_only(mission):
    tg, mob = mission
    answer = {"check_in": "first", "on": "2027-10-16", "wellbeing": 4, "integration": 4}
    answer |= {"workload": 3, "issues": False}
    r = tg.call("POST", f"/api/v1/mobilities/{mob['id']}/check-ins", json=answer)
    assert r.status_code == 403  # TG sends: the host agency ML answers on its own node
    _host_answers(tg, mob, "first", date(2027, 10, 16))
    _host_answers(tg, mob, "first", date(2027, 10, 16))  # redelivered: one answer
    with pytest.raises(PermanentError):  # ML cannot answer in the volunteer's name
        apply_event(
            tg,
            "mobility.check_in_submitted",
            {
                "mobility_id": mob["id"],
                "agreement_id": mob["agreement_id"],
                "check_in": "first",
                "respondent": "volunteer",
                "submitted_by": "ML",
                "on": "2027-10-16",
                "wellbeing": 1,
                "integration": 1,
                "workload": 1,
                "issues": True,
            },
            source="/agencies/ML/registry",
        )
    answers = tg.call("GET", f"/api/v1/mobilities/{mob['id']}/check-ins").json["check_ins"][0]
    assert answers["answers"]["host_agency"]["wellbeing"] == 4
    assert answers["answers"]["volunteer"] is None


def test_a_missed_mid_term_check_in_is_reminded_then_alerted_to_both_agencies_once(mission):
    tg, mob = mission
    # The first check-in is answered by both, so only the mid-term one is followed here.
    _answer_by_link(tg, _volunteer_link(tg, mob, "first"))
    _host_answers(tg, mob, "first", date(2027, 10, 16))

    assert _run(tg, MID - timedelta(days=4)) == 0
    assert _run(tg, MID - timedelta(days=3)) == 1
    assert _run(tg, MID - timedelta(days=3)) == 0  # the job ran twice on the same day
    assert _run(tg, MID + timedelta(days=1)) == 0
    assert _run(tg, MID + timedelta(days=2)) == 1
    assert _run(tg, MID + timedelta(days=6)) == 0
    assert _run(tg, MID + timedelta(days=7)) == 1
    assert _run(tg, MID + timedelta(days=30)) == 0  # alerted once
    before, after, overdue = _due_events(tg)
    for reminder, stage in ((before, "before"), (after, "after")):
        assert reminder["to"] == ["TG"]  # the link never leaves the sending country
        data = reminder["data"]
        assert (data["stage"], data["check_in"], data["respondents"]) == (
            stage,
            "mid_term",
            ["volunteer"],
        )
        assert data["volunteer_id"] and "/check-in/" in data["link"]
        token = data["link"].split("/check-in/")[1]
        assert tg.client().get(f"/check-in/{token}").status_code == 200
    assert sorted(overdue["to"]) == ["ML", "TG"]
    assert overdue["data"]["stage"] == "overdue"
    assert overdue["data"]["respondents"] == ["host_agency", "volunteer"]
    assert "link" not in overdue["data"] and "volunteer_id" not in overdue["data"]


def test_a_late_job_sends_only_the_latest_reminder_and_nothing_once_answered(mission):
    tg, mob = mission
    _answer_by_link(tg, _volunteer_link(tg, mob, "first"))
    _host_answers(tg, mob, "first", date(2027, 10, 16))
    _answer_by_link(tg, _volunteer_link(tg, mob, "mid_term"))
    assert _run(tg, MID + timedelta(days=3)) == 0  # the volunteer answered: no reminder
    _host_answers(tg, mob, "mid_term", MID)
    assert _run(tg, MID + timedelta(days=8)) == 0  # both answered: no alert
    assert _run(tg, date(2028, 7, 20)) == 1  # the final one: straight to the late reminder
    [late] = _due_events(tg)
    assert (late["data"]["check_in"], late["data"]["stage"]) == ("final", "after")
