"""Lingering: notifications gather their outcome reports (relay) and the events they turn into
messages (consumer); every other service publishes and applies at once; OUTBOX_LINGER and
CONSUMER_LINGER set it for any of them."""

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


@pytest.mark.parametrize(("service", "linger"), [("notifications", 0.25), ("registry", 0.0)])
def test_only_notifications_consumers_linger_by_default(service, linger, tmp_path):
    assert load(service, {}, tmp_path).messaging.consumer_linger == linger
    assert load(service, {"CONSUMER_LINGER": "1.5"}, tmp_path).messaging.consumer_linger == 1.5
