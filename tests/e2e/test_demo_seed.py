"""The demo's seed over a real broker: the pilot (2017–2018) is ended, so matching proposes
nothing under it; the renewal for the current period gets the live proposals (4 + 2)."""

from __future__ import annotations

import pytest

from tests.support.infra import wait_until
from tests.support.nodes import running_matching, running_registry
from vir import demo

pytestmark = pytest.mark.integration


def _proposals(node):
    return node.call("GET", "/api/v1/matches?status=proposed&page_size=50").json


def test_matching_proposes_under_the_renewal_only(amqp_url):
    with (
        running_registry("TG", amqp_url) as tg,
        running_registry("ML", amqp_url) as ml,
        running_matching(amqp_url),
    ):
        pilot, renewal = demo.seed_pilot({"TG": tg, "ML": ml})
        wait_until(
            lambda: len(_proposals(tg)) == 6 and len(_proposals(ml)) == 6,
            90,
            what="6 proposals on both registries",
        )
        proposals = _proposals(tg)
        assert {p["agreement_id"] for p in proposals} == {renewal}
        assert sorted(p["sending_agency"] for p in proposals) == [
            "ML",
            "ML",
            "TG",
            "TG",
            "TG",
            "TG",
        ]
        assert pilot != renewal
