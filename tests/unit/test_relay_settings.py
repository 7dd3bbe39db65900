"""The relay's linger: notifications gather their outcome reports, every other service publishes
at once, and OUTBOX_LINGER sets it for any of them."""

from __future__ import annotations

import pytest

from shared.settings import load


@pytest.mark.parametrize(("service", "linger"), [("notifications", 0.5), ("registry", 0.0)])
def test_only_notifications_linger_by_default(service, linger, tmp_path):
    assert load(service, {}, tmp_path).relay.linger == linger


@pytest.mark.parametrize(("value", "linger"), [("0", 0.0), ("2.5", 2.5), ("-1", 0.0)])
def test_outbox_linger_sets_it(value, linger, tmp_path):
    assert load("matching", {"OUTBOX_LINGER": value}, tmp_path).relay.linger == linger
    assert load("notifications", {"OUTBOX_LINGER": value}, tmp_path).relay.linger == linger
