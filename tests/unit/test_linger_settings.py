"""Lingering: notifications gather their outcome reports (relay) and the events they turn into
messages (consumer); every other service publishes and applies at once; OUTBOX_LINGER and
CONSUMER_LINGER set it for any of them."""

from __future__ import annotations

import pytest

from services.matching.config import load_settings as matching_settings
from services.notifications.config import load_settings as notifications_settings
from services.registry.config import load_settings as registry_settings

REGISTRY = {"AGENCY_CODE": "TG"}


def _settings(service: str, environ: dict[str, str]):  # noqa: ANN202 - Settings
    if service == "registry":
        return registry_settings({**REGISTRY, **environ})
    return {"matching": matching_settings, "notifications": notifications_settings}[service](
        environ
    )


@pytest.mark.parametrize(("service", "linger"), [("notifications", 0.5), ("registry", 0.0)])
def test_only_notifications_linger_by_default(service, linger):
    assert _settings(service, {}).relay.linger == linger


@pytest.mark.parametrize(("value", "linger"), [("0", 0.0), ("2.5", 2.5), ("-1", 0.0)])
def test_outbox_linger_sets_it(value, linger):
    assert _settings("matching", {"OUTBOX_LINGER": value}).relay.linger == linger
    assert _settings("notifications", {"OUTBOX_LINGER": value}).relay.linger == linger


@pytest.mark.parametrize(("service", "linger"), [("notifications", 0.25), ("registry", 0.0)])
def test_only_notifications_consumers_linger_by_default(service, linger):
    assert _settings(service, {}).messaging.consumer_linger == linger
    assert _settings(service, {"CONSUMER_LINGER": "1.5"}).messaging.consumer_linger == 1.5
