"""The stability scenario through the REST API: ML publishes single-slot placements, TG registers
more eligible volunteers than places, over a real broker and PostgreSQL; measure how soon every
place is proposed and how many proposals are cancelled on the way and once everything is quiet."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select

from services.matching.adapters.orm import AgreementView
from shared.db import inbox, outbox
from tests.support.infra import wait_until
from tests.support.nodes import MatchingNode, running_matching, running_registry
from tests.support.registry import RegistryNode, publish_placements, volunteer_payload

MATCHING_BINDINGS = ("volunteer.", "placement.", "agreement.", "match.")


@dataclass
class StabilityResult:
    volunteers: int
    places: int
    registration_seconds: float  # first to last registration
    all_proposed_after: float  # seconds from the last registration to every place proposed
    cancelled_until_all_proposed: int
    cancelled_after_all_proposed: int  # from then on, until every node is quiet
    proposed_events: int
    open_proposals: int


def _count(engine: Engine, table: Any, *where: Any) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def _ids(engine: Engine, table: Any, column: Any, *where: Any) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(column).where(*where)).scalars())


def cancelled(matching: MatchingNode) -> int:
    return _count(matching.runtime.engine, outbox, outbox.c.event_type == "match.cancelled")


def proposed_places(matching: MatchingNode, agreement_id: str) -> int:
    plan = matching.call("GET", f"/api/v1/agreements/{agreement_id}/plan").json
    return sum(d["proposed"] + d["confirmed"] for d in plan.get("directions", []))


def _fingerprint(tg: RegistryNode, ml: RegistryNode, matching: MatchingNode) -> tuple | None:
    """Outbox sizes when everything written has been published and applied where it goes, and
    no agreement waits to be planned; None while anything is still on its way."""
    engines = {"TG": tg.engine, "ML": ml.engine, "matching": matching.runtime.engine}
    for engine in engines.values():
        if _count(engine, outbox, outbox.c.published_at.is_(None)):
            return None
    seen_by_matching = _ids(matching.runtime.engine, inbox, inbox.c.event_id)
    for node in (tg, ml):
        sent = _ids(
            node.engine,
            outbox,
            outbox.c.event_id,
            outbox.c.event_type.regexp_match("^(volunteer|placement|agreement|match)\\."),
        )
        if not sent <= seen_by_matching:
            return None
    proposals = _ids(matching.runtime.engine, outbox, outbox.c.event_id)
    for node in (tg, ml):
        if not proposals <= _ids(node.engine, inbox, inbox.c.event_id):
            return None
    with matching.runtime.sessions() as session:
        if session.scalars(select(AgreementView.id).where(AgreementView.dirty.is_(True))).first():
            return None
    return tuple(_count(e, outbox) for e in engines.values())


def wait_quiet(tg: RegistryNode, ml: RegistryNode, matching: MatchingNode, timeout: float) -> None:
    """Until three checks at least 1.5 s apart (several planner rounds) find the network quiet
    with the same outboxes: nothing in flight, nothing dirty, nothing new written."""
    seen: list[tuple[float, tuple]] = []

    def settled() -> bool:
        now, print_ = time.monotonic(), _fingerprint(tg, ml, matching)
        if print_ is None or (seen and seen[-1][1] != print_):
            seen.clear()
        if print_ is not None and (not seen or now - seen[-1][0] >= 0.75):
            seen.append((now, print_))
        return len(seen) >= 3

    wait_until(settled, timeout, interval=0.1, what="the network quiet")


def run_stability(
    amqp_url: str,
    volunteers: int,
    places: int,
    rate: float | None = None,
    timeout: float = 120.0,
) -> StabilityResult:
    """Register `volunteers` TG volunteers (at `rate` per second, or as fast as the API goes) for
    `places` single-slot ML placements under an agreement with room for everyone."""
    with (
        running_registry("TG", amqp_url) as tg,
        running_registry("ML", amqp_url) as ml,
        running_matching(amqp_url) as matching,
    ):
        terms = {
            "start": "2027-09-01",
            "end": "2028-12-31",
            "quotas": [
                {"sending": "TG", "host": "ML", "volunteers": places},
                {"sending": "ML", "host": "TG", "volunteers": places},
            ],
            "balance_tolerance": places,
            "fields_of_cooperation": ["health"],
        }
        agreement = tg.call("POST", "/api/v1/agreements", json={"partners": ["ML"], **terms}).json
        path = f"/api/v1/agreements/{agreement['id']}"
        wait_until(lambda: ml.call("GET", path).status_code == 200, 30, what="ML's copy")
        approved = ml.call("POST", f"{path}/approve", json={"terms_hash": agreement["terms_hash"]})
        assert approved.status_code == 200, approved.json
        publish_placements(ml, places)
        wait_until(
            lambda: matching.call("GET", f"{path}/plan").json.get("status") == "active",
            30,
            what="the agreement active in matching",
        )

        started = time.monotonic()
        for n in range(volunteers):
            if rate:
                time.sleep(max(0.0, started + n / rate - time.monotonic()))  # pacing, not waiting
            payload = volunteer_payload(
                n,
                identity_number=f"TG-{n:06d}",
                preferred_countries=[],
                available_from="2027-09-01",
                available_until="2028-08-31",
            )
            answer = tg.call("POST", "/api/v1/volunteers", json=payload)
            assert answer.status_code == 201, answer.json
        last = time.monotonic()

        wait_until(
            lambda: proposed_places(matching, agreement["id"]) == places,
            timeout,
            interval=0.05,
            what=f"all {places} places proposed",
        )
        all_proposed = time.monotonic()
        at_all = cancelled(matching)
        wait_quiet(tg, ml, matching, timeout)
        return StabilityResult(
            volunteers=volunteers,
            places=places,
            registration_seconds=round(last - started, 2),
            all_proposed_after=round(all_proposed - last, 3),
            cancelled_until_all_proposed=at_all,
            cancelled_after_all_proposed=cancelled(matching) - at_all,
            proposed_events=_count(
                matching.runtime.engine, outbox, outbox.c.event_type == "match.proposed"
            ),
            open_proposals=proposed_places(matching, agreement["id"]),
        )
