"""End to end through the REST API, RabbitMQ and PostgreSQL: more candidates than places settle
at once — every place proposed, and no proposal cancelled, then or later."""

from __future__ import annotations

import pytest

from tests.support.stability import run_stability

pytestmark = pytest.mark.integration


def test_forty_volunteers_for_twenty_places_all_proposed_and_nothing_cancelled(amqp_url):
    result = run_stability(amqp_url, volunteers=40, places=20, timeout=60)
    assert result.open_proposals == 20
    assert result.cancelled_until_all_proposed == 0
    assert result.cancelled_after_all_proposed == 0
    assert result.proposed_events == 20
