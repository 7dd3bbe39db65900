"""The matching read model as plain values: what the planner needs to know, nothing more."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from shared.vocabularies import LANGUAGE_LEVELS as LEVELS


def level_rank(level: str) -> int:
    return LEVELS.index(level) if level in LEVELS else -1


@dataclass(frozen=True)
class Volunteer:
    id: str
    agency: str
    skills: frozenset[str] = frozenset()
    domains: frozenset[str] = frozenset()
    languages: tuple[tuple[str, str], ...] = ()  # (code, level)
    available_from: date | None = None
    available_until: date | None = None
    preferred_countries: frozenset[str] = frozenset()
    registered_at: datetime | None = None


@dataclass(frozen=True)
class Placement:
    id: str
    agency: str
    domain: str
    start: date
    end: date
    slots: int
    required_skills: frozenset[str] = frozenset()
    required_languages: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Quota:
    sending: str
    host: str
    volunteers: int


@dataclass(frozen=True)
class Agreement:
    id: str
    parties: tuple[str, ...]
    start: date
    end: date
    quotas: tuple[Quota, ...]
    balance_tolerance: int
    fields_of_cooperation: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Pinned:
    """A pair the planner must keep: confirmed, or accepted by at least one side."""

    volunteer_id: str
    placement_id: str
    sending: str
    host: str


@dataclass(frozen=True)
class Problem:
    agreement: Agreement
    volunteers: tuple[Volunteer, ...]
    placements: tuple[Placement, ...]
    pinned: tuple[Pinned, ...] = ()
    declined: frozenset[tuple[str, str]] = frozenset()  # (volunteer_id, placement_id), never again
    # Open proposals nobody answered yet: kept unless withdrawing them gains enough (planner.py).
    proposed: frozenset[tuple[str, str]] = frozenset()
    today: date = field(default_factory=date.today)
