"""Mobility life cycle: pre-departure → in mission → completed | interrupted, with follow-up.

A mission is completed only once its start, mid-term and end reports are in (the follow-up the
pilot's evaluation found lacking); it can be interrupted at any time before it ends.
"""

from __future__ import annotations

from collections.abc import Iterable

REPORT_KINDS = ("start", "mid_term", "end", "incident", "evaluation")
REQUIRED_REPORTS = ("start", "mid_term", "end")
OPEN = ("pre_departure", "in_mission")


class MobilityError(Exception):
    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def check_start(status: str) -> None:
    if status != "pre_departure":
        raise MobilityError(f"A mobility that is {status} cannot start.", "status")


def check_report(status: str, kind: str) -> None:
    if status != "in_mission" and kind not in ("evaluation", "incident"):
        raise MobilityError(
            f"A {kind} report needs a mission in progress (it is {status}).", "kind"
        )
    if status not in (*OPEN, "completed", "interrupted"):
        raise MobilityError(f"No report on a mobility that is {status}.", "kind")


def missing_reports(kinds: Iterable[str]) -> list[str]:
    present = set(kinds)
    return [k for k in REQUIRED_REPORTS if k not in present]


def check_complete(status: str, kinds: Iterable[str]) -> None:
    if status != "in_mission":
        raise MobilityError(f"A mobility that is {status} cannot be completed.", "status")
    missing = missing_reports(kinds)
    if missing:
        raise MobilityError(
            f"Reports still missing before completion: {', '.join(missing)}.", "reports"
        )


def check_interrupt(status: str) -> None:
    if status not in OPEN:
        raise MobilityError(f"A mobility that is {status} cannot be interrupted.", "status")
