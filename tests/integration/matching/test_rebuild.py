"""`vir matching rebuild`: the read model comes back from the registries' event feeds over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from services.matching.adapters.orm import AgreementView, PlacementView, VolunteerView
from services.matching.planning import plan_dirty
from shared.db import outbox
from tests.support.infra import wait_until
from tests.support.nodes import running_registry, serving, start_matching
from tests.support.registry import pilot_between

pytestmark = pytest.mark.integration
VIR = str(Path(sys.executable).with_name("vir"))


def _count(engine, model):
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


def test_rebuild_replays_both_feeds_and_the_plan_comes_back(amqp_url, pg_url):
    with running_registry("TG", amqp_url) as tg, running_registry("ML", amqp_url) as ml:
        agreement = pilot_between(tg, ml)
        wait_until(
            lambda: tg.outbox_count() > 0 and _all_published(tg) and _all_published(ml),
            30,
            what="feeds complete",
        )

        matching = start_matching(pg_url, ttl=timedelta(days=14))
        with serving(tg.app) as tg_url, serving(ml.app) as ml_url:
            env = {**os.environ, "DATABASE_URL": pg_url}
            feeds = [
                "--feed",
                f"TG={tg_url}={tg.tokens['node']}",
                "--feed",
                f"ML={ml_url}={ml.tokens['node']}",
            ]
            first = subprocess.run(
                [VIR, "matching", "rebuild", *feeds], env=env, capture_output=True, text=True
            )
            assert first.returncode == 0, first.stderr
            assert "0 unresolved" in first.stdout
            engine = matching.runtime.engine
            assert (_count(engine, VolunteerView), _count(engine, PlacementView)) == (9, 6)
            with matching.runtime.sessions() as session:
                assert session.get(AgreementView, agreement["id"]).status == "active"
            plan_dirty(matching.runtime.sessions, timedelta(days=14))
            proposed = _proposals(engine)
            assert proposed == 6

            again = subprocess.run(
                [VIR, "matching", "rebuild", *feeds], env=env, capture_output=True, text=True
            )
            assert again.returncode == 0, again.stderr
            plan_dirty(matching.runtime.sessions, timedelta(days=14))
            assert _proposals(engine) == 6  # the same plan: nothing proposed twice
        matching.runtime.shutdown()


def _all_published(node) -> bool:
    from shared.outbox import backlog

    with node.engine.connect() as conn:
        return backlog(conn).unpublished == 0


def _proposals(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(
            select(func.count()).select_from(outbox).where(outbox.c.event_type == "match.proposed")
        ).scalar_one()


def test_rebuild_refuses_a_malformed_feed_option(pg_url):
    bad = subprocess.run(
        [VIR, "matching", "rebuild", "--feed", "TG-nothing"],
        env={**os.environ, "DATABASE_URL": pg_url},
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0 and "AGENCY=URL=TOKEN" in bad.stderr


def test_a_feed_speaks_only_for_its_own_agency(pg_url):
    """ML's feed carrying an event in TG's name (a TG volunteer) is skipped, ML's own applies."""
    import json

    from services.matching.rebuild import Feed, rebuild
    from shared.events import encode
    from shared.events.examples import EXAMPLES
    from tests.support.forgery import event_as

    agencies, data = EXAMPLES["volunteer.registered"]
    in_tg_name = event_as("volunteer.registered", "/agencies/TG/registry", agencies, data)
    own = event_as(
        "volunteer.registered",
        "/agencies/ML/registry",
        ["ML"],
        {**data, "volunteer_id": "vol-ml-0001", "agency": "ML"},
    )
    pages = [[in_tg_name, own], []]

    def fetch(url, headers, params):
        page = pages.pop(0)
        events = [{"event": json.loads(encode(e))} for e in page]
        return {"events": events, "next_after": 2}

    matching = start_matching(pg_url, ttl=timedelta(days=14))
    try:
        report = rebuild(matching.runtime.sessions, [Feed("ML", "http://ml", "t")], fetch=fetch)
        assert report.replayed == 1
        with matching.runtime.sessions() as session:
            assert session.get(VolunteerView, "vol-ml-0001") is not None
            assert session.get(VolunteerView, data["volunteer_id"]) is None
    finally:
        matching.runtime.shutdown()
