"""Rebuild the matching read model from the registries' event feeds (catch-up after a loss).

The read model (volunteers, placements, agreements) is dropped and replayed from each registry's
`GET /api/v1/events` feed, page by page in publication order. Proposals are matching's own data
and stay; replayed decisions find them already settled and change nothing. Feeds of different
agencies are not ordered with each other: an event that needs one not yet replayed (NotYet) is
kept aside and retried once the other feeds have been read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from services.matching.adapters.orm import AgreementView, PlacementView, VolunteerView
from services.matching.handlers import NotYet, handle
from shared import inbox
from shared.db import inbox as inbox_table
from shared.events import Event, decode
from shared.logging import get_logger
from shared.security import entitlement_error

log = get_logger(__name__)
CONSUMER = "matching"

Fetch = Callable[[str, Mapping[str, str], Mapping[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Feed:
    agency: str
    base_url: str
    token: str


@dataclass(frozen=True)
class RebuildReport:
    replayed: int
    skipped_duplicates: int
    unresolved: int


def http_fetch(url: str, headers: Mapping[str, str], params: Mapping[str, Any]) -> dict[str, Any]:
    response = requests.get(url, headers=dict(headers), params=dict(params), timeout=30)
    response.raise_for_status()
    return response.json()


def _events(feed: Feed, fetch: Fetch, page_size: int) -> list[Event]:
    out: list[Event] = []
    after = 0
    while True:
        page = fetch(
            f"{feed.base_url.rstrip('/')}/api/v1/events",
            {"Authorization": f"Bearer {feed.token}"},
            {"after": after, "limit": page_size},
        )
        entries = page["events"]
        if not entries:
            return out
        out.extend(decode(_json(entry["event"])) for entry in entries)
        after = page["next_after"]


def _json(value: Any) -> bytes:
    import json

    return json.dumps(value).encode()


def _apply(sessions: sessionmaker[Session], event: Event) -> bool | None:
    """True applied, False duplicate, None not yet applicable."""
    try:
        with sessions.begin() as session:
            if not inbox.record_once(session, CONSUMER, event):
                return False
            handle(session, event)
            return True
    except NotYet:
        return None


def rebuild(
    sessions: sessionmaker[Session],
    feeds: list[Feed],
    fetch: Fetch = http_fetch,
    page_size: int = 500,
) -> RebuildReport:
    with sessions.begin() as session:
        for table in (VolunteerView, PlacementView, AgreementView):
            session.execute(delete(table))
        # Forget which registry events were applied, so that replaying them applies them again.
        sources = [f"/agencies/{f.agency}/registry" for f in feeds]
        session.execute(
            delete(inbox_table).where(
                inbox_table.c.consumer == CONSUMER, inbox_table.c.source.in_(sources)
            )
        )
    pending: list[Event] = []
    replayed = duplicates = 0
    for feed in feeds:
        for event in _events(feed, fetch, page_size):
            # A node's feed speaks for that agency only: the same entitlement table as on the
            # broker (the feed is fetched with a token, so there is no signature to check).
            refused = entitlement_error(feed.agency, event)
            if refused:
                log.warning("matching.rebuild_refused", event_id=event.id, reason=refused)
                continue
            outcome = _apply(sessions, event)
            if outcome is None:
                pending.append(event)
            elif outcome:
                replayed += 1
            else:
                duplicates += 1
    progress = True
    while pending and progress:
        progress = False
        still: list[Event] = []
        for event in pending:
            outcome = _apply(sessions, event)
            if outcome is None:
                still.append(event)
            else:
                progress = True
                replayed += int(outcome)
                duplicates += int(not outcome)
        pending = still
    for event in pending:
        log.warning(
            "matching.rebuild_unresolved",
            event_id=event.id,
            event_type=event.type,
            source=event.source,
        )
    return RebuildReport(replayed=replayed, skipped_duplicates=duplicates, unresolved=len(pending))
