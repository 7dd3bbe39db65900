"""The registry's read queries, shared by the REST API and the dashboard: filters and pages in SQL.

One function per list builds its statement from the same filters whichever edge asks, so the
API and the dashboard answer the same rows for the same filter. Filters on JSON list columns
(skills, domains, languages) compare the column's JSON text, case-insensitively for ASCII: the
same SQL on PostgreSQL and SQLite (lists are written with json.dumps, ensure_ascii)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, String, cast, func, not_, or_, select
from sqlalchemy.orm import Session

from services.registry.adapters.orm import Match, Volunteer


def like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def json_text_contains(column: Any, fragment: str) -> Any:
    """The JSON text of a column holds this JSON fragment (case-insensitive for ASCII)."""
    return func.lower(cast(column, String)).like(f"%{like_escape(fragment.lower())}%", escape="\\")


def _json_item(column: Any, item: str) -> Any:
    """A JSON list of strings holds `item` as one whole item."""
    return json_text_contains(column, json.dumps(item))


def _json_key(column: Any, key: str) -> Any:
    """A JSON object has `key` (a quoted string followed by a colon is only ever a key)."""
    quoted = json.dumps(key)
    return or_(json_text_contains(column, f"{quoted}:"), json_text_contains(column, f"{quoted} :"))


# -- volunteers ----------------------------------------------------------------------------------

VOLUNTEER_FILTERS = ("q", "status", "skill", "domain", "language")


def volunteer_conditions(agency: str, query: Mapping[str, Any]) -> list[Any]:
    """`query` as VolunteerQuery loads it: q (every word in the first or last name), status,
    skill, domain (one item of the list), language (a spoken language's code)."""
    conditions: list[Any] = [Volunteer.agency == agency]
    if query.get("status"):
        conditions.append(Volunteer.status == query["status"])
    for word in str(query.get("q") or "").lower().split():
        pattern = f"%{like_escape(word)}%"
        conditions.append(
            or_(
                func.lower(Volunteer.first_name).like(pattern, escape="\\"),
                func.lower(Volunteer.last_name).like(pattern, escape="\\"),
            )
        )
    if query.get("skill"):
        conditions.append(_json_item(Volunteer.skills, query["skill"]))
    if query.get("domain"):
        conditions.append(_json_item(Volunteer.domains, query["domain"]))
    if query.get("language"):
        code = json.dumps(str(query["language"]).lower())
        conditions.append(
            or_(
                json_text_contains(Volunteer.languages, f'"code": {code}'),
                json_text_contains(Volunteer.languages, f'"code":{code}'),
            )
        )
    return conditions


def volunteers(agency: str, query: Mapping[str, Any]) -> Select[tuple[Volunteer]]:
    """This agency's volunteers matching `query`, newest first."""
    return (
        select(Volunteer)
        .where(*volunteer_conditions(agency, query))
        .order_by(Volunteer.created_at.desc(), Volunteer.id)
    )


@dataclass(frozen=True)
class Window:
    """One page of a list: its rows and the total count of the list."""

    rows: Sequence[Any]
    total: int


def page_of(session: Session, statement: Select[Any], page: int, size: int) -> Window:
    """Page `page` (from 1) of `statement`: counted and cut in SQL; beyond the last page, the
    last page."""
    counted = statement.with_only_columns(func.count(), maintain_column_froms=True)
    total = session.scalar(counted.order_by(None)) or 0
    last = max(1, -(-total // size))
    offset = (min(max(1, page), last) - 1) * size
    return Window(session.scalars(statement.offset(offset).limit(size)).all(), total)


# -- matches -------------------------------------------------------------------------------------


def matches(agency: str, query: Mapping[str, Any]) -> Select[tuple[Match]]:
    """This agency's matches (sending or host) by status and agreement. `awaiting_us`: open
    proposals this agency has not decided yet, oldest first; otherwise newest first."""
    statement = select(Match).where(
        or_(Match.sending_agency == agency, Match.host_agency == agency)
    )
    if query.get("status"):
        statement = statement.where(Match.status == query["status"])
    if query.get("agreement_id"):
        statement = statement.where(Match.agreement_id == query["agreement_id"])
    if query.get("awaiting_us"):
        return statement.where(
            Match.status == "proposed", not_(_json_key(Match.decisions, agency))
        ).order_by(Match.created_at, Match.id)
    return statement.order_by(Match.created_at.desc(), Match.id)
