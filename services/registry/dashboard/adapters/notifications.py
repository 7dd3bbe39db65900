"""The agency's notifications service, as the dashboard reads it: one page of its delivery log."""

from __future__ import annotations

import json
from collections.abc import Mapping

import requests
from flask import current_app

from services.registry.dashboard.i18n import _
from shared.logging import get_logger

log = get_logger(__name__)
PAGE_SIZE = 25
NOTIFICATIONS_TIMEOUT = 5  # seconds: a slow notifications service must not hang the page


class Unavailable(Exception):
    """The delivery log cannot be shown; the message says why, in the page's language."""


def fetch_deliveries(page: int, filters: Mapping[str, str]) -> tuple[list[dict], dict]:
    """One page of this agency's delivery log from its notifications instance."""
    options = current_app.config.get("DASHBOARD") or {}
    url, token = options.get("notifications_url"), options.get("notifications_token")
    if not url or not token:
        raise Unavailable(
            _(
                "The notifications service is not configured for this node: set "
                "DASHBOARD_NOTIFICATIONS_URL and DASHBOARD_NOTIFICATIONS_TOKEN."
            )
        )
    try:
        response = requests.get(
            f"{str(url).rstrip('/')}/api/v1/deliveries",
            params={"page": page, "page_size": PAGE_SIZE, **filters},
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=NOTIFICATIONS_TIMEOUT,
        )
    except requests.RequestException as exc:
        log.warning("dashboard.notifications_unreachable", url=url, error=str(exc))
        raise Unavailable(
            _("The notifications service cannot be reached right now. Try again later.")
        ) from exc
    if response.status_code in (401, 403):
        raise Unavailable(
            _(
                "The notifications service refused this node's token: check "
                "DASHBOARD_NOTIFICATIONS_TOKEN."
            )
        )
    try:
        if response.status_code != 200:
            raise ValueError(f"HTTP {response.status_code}")
        rows = response.json()
        pagination = json.loads(response.headers.get("X-Pagination") or "{}")
        if not isinstance(rows, list) or not isinstance(pagination, dict):
            raise ValueError("unexpected answer")
    except ValueError as exc:
        log.warning("dashboard.notifications_bad_answer", url=url, error=str(exc))
        raise Unavailable(
            _("The notifications service gave an unexpected answer. Try again later.")
        ) from exc
    return [r for r in rows if isinstance(r, dict)], pagination
