"""A mobility's statuses and the order its steps must keep (used by the aggregate in
mobilities.py and by its follow-up in mobility_follow_up.py)."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from services.registry.domain.errors import DomainError, InvalidInput
from services.registry.domain.messages import msg
from shared.vocabularies import REPORT_KINDS

REQUIRED_REPORTS = REPORT_KINDS[:3]  # start, mid_term, end
OPEN = ("pre_departure", "in_mission")


class MobilityStatus(StrEnum):
    PRE_DEPARTURE = "pre_departure"
    IN_MISSION = "in_mission"
    COMPLETED = "completed"
    INTERRUPTED = "interrupted"


class MobilityError(DomainError):
    pass


def check_start(status: str) -> None:
    if status != "pre_departure":
        raise MobilityError(msg("mobility.cannot_start", status=status), "status")


def check_report(status: str, kind: str) -> None:
    if kind not in REPORT_KINDS:
        raise InvalidInput(msg("mobility.unknown_report_kind", kind=kind), "kind")
    if status != "in_mission" and kind not in ("evaluation", "incident"):
        raise MobilityError(msg("mobility.report_needs_mission", kind=kind, status=status), "kind")
    if status not in (*OPEN, "completed", "interrupted"):
        raise MobilityError(msg("mobility.no_report", status=status), "kind")


def missing_reports(kinds: Iterable[str]) -> list[str]:
    present = set(kinds)
    return [k for k in REQUIRED_REPORTS if k not in present]


def check_complete(status: str, kinds: Iterable[str]) -> None:
    if status != "in_mission":
        raise MobilityError(msg("mobility.cannot_complete", status=status), "status")
    missing = missing_reports(kinds)
    if missing:
        raise MobilityError(msg("mobility.reports_missing", reports=", ".join(missing)), "reports")


def check_interrupt(status: str) -> None:
    if status not in OPEN:
        raise MobilityError(msg("mobility.cannot_interrupt", status=status), "status")
