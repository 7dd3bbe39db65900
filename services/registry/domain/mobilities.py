"""Mobility life cycle: pre-departure → in mission → completed | interrupted, with follow-up.

Before departure the sending agency ticks its checklist; it alone records the departure, and
only once every mandatory item is ticked. The host agency's node keeps a copy of the ticks.

A mission is completed only once its start, mid-term and end reports are in (the follow-up the
pilot's evaluation found lacking); it can be interrupted at any time before it ends. Either
agency records a step; the other applies it through the same rules, so a step out of order is
refused on every path. Report summaries and interruption notes stay on the node that wrote them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from services.registry.domain.errors import DomainEvent, InvalidInput, NotEntitled, Pending
from services.registry.domain.messages import msg
from services.registry.domain.mobility_follow_up import (
    HOST_SIDE,
    REVIEW_SCORES,
    REVIEWERS,
    FollowUp,
    validated_review,
)
from services.registry.domain.mobility_rules import (
    OPEN,
    REQUIRED_REPORTS,
    MobilityError,
    MobilityStatus,
    check_complete,
    check_interrupt,
    check_report,
    check_start,
    missing_reports,
)
from shared import codes

__all__ = [
    "HOST_SIDE",
    "OPEN",
    "REQUIRED_REPORTS",
    "REVIEWERS",
    "REVIEW_SCORES",
    "Mobility",
    "MobilityError",
    "MobilityStatus",
    "check_complete",
    "check_interrupt",
    "check_report",
    "check_start",
    "missing_reports",
    "validated_review",
]


@dataclass
class Mobility(FollowUp):
    id: str
    match_id: str
    agreement_id: str
    sending_agency: str
    host_agency: str
    status: MobilityStatus = MobilityStatus.PRE_DEPARTURE
    started_on: date | None = None
    ended_on: date | None = None
    # {"kind", "on" (ISO date), "by" (agency), "summary" (local text or None)}
    reports: list[dict[str, Any]] = field(default_factory=list)
    interruption_reason: str | None = None
    # the sending agency's pre-departure list: {"code", "mandatory", "done", "on", labels?}
    checklist: list[dict[str, Any]] = field(default_factory=list)
    checklist_version: int = 0
    planned_end: date | None = None
    # {"check_in", "respondent", "on", "wellbeing", "integration", "workload", "issues", "note"}
    check_ins: list[dict[str, Any]] = field(default_factory=list)
    follow_ups_sent: list[str] = field(default_factory=list)  # "<check_in>|<who>|<stage>"
    # {"respondent", "on", "overall", "objectives", "support", "comments" (local)}
    reviews: list[dict[str, Any]] = field(default_factory=list)

    @property
    def parties(self) -> tuple[str, str]:
        return (self.sending_agency, self.host_agency)

    def _event(self, type_: str, **extra: Any) -> DomainEvent:
        data = {
            "mobility_id": self.id,
            "match_id": self.match_id,
            "agreement_id": self.agreement_id,
            "sending_agency": self.sending_agency,
            "host_agency": self.host_agency,
            **extra,
        }
        return DomainEvent(type_, data)

    def check_same(self, data: object) -> None:
        """A peer's step (a typed event payload) must describe this mobility: its match,
        agreement and agencies, those of them the payload names."""
        for key in ("match_id", "agreement_id", "sending_agency", "host_agency"):
            if hasattr(data, key) and getattr(data, key) != getattr(self, key):
                raise MobilityError(msg("mobility.copy_differs", key=key), key)

    def check_party(self, agency: str) -> None:
        if agency not in self.parties:
            raise MobilityError(msg("mobility.not_a_party", agency=agency), "agency")

    def check_sending(self, agency: str, what: str) -> None:
        """`what`: "checklist" or "departure", the step only the sending agency takes."""
        self.check_party(agency)
        if agency != self.sending_agency:
            code = f"mobility.sending_only.{what}"
            raise NotEntitled(msg(code, agency=self.sending_agency), "agency")

    def open_items(self) -> list[str]:
        """The mandatory checklist items not ticked yet, in the list's order."""
        return [i["code"] for i in self.checklist if i.get("mandatory") and not i.get("done")]

    def tick(self, code: str, done: bool, on: date, by: str) -> DomainEvent:
        """The sending agency ticks (or unticks) one item of the pre-departure checklist."""
        self.check_sending(by, "checklist")
        if self.status != MobilityStatus.PRE_DEPARTURE:
            raise MobilityError(msg("mobility.checklist_closed", status=self.status), "code")
        item = next((i for i in self.checklist if i["code"] == code), None)
        if item is None:
            raise InvalidInput(msg("mobility.no_checklist_item", code=code), "code")
        item["done"], item["on"] = done, on.isoformat() if done else None
        self.checklist = [dict(i) for i in self.checklist]
        self.checklist_version += 1
        return self._event(
            "mobility.checklist_updated",
            version=self.checklist_version,
            items=[
                {"code": i["code"], "mandatory": bool(i["mandatory"]), "done": bool(i["done"])}
                for i in self.checklist
            ],
        )

    def start(self, on: date, by: str, planned_end: date | None = None) -> DomainEvent:
        """The departure: recorded by the sending agency once its mandatory items are ticked."""
        self.check_sending(by, "departure")
        check_start(self.status)
        still_open = self.open_items()
        if still_open:
            raise MobilityError(msg("mobility.item_open", code=still_open[0]), "checklist")
        if planned_end is not None and planned_end <= on:
            raise InvalidInput(msg("mobility.planned_end_order"), "planned_end")
        self.status, self.started_on, self.planned_end = MobilityStatus.IN_MISSION, on, planned_end
        extra = {"planned_end": planned_end.isoformat()} if planned_end else {}
        return self._event("mobility.started", on=on.isoformat(), **extra)

    def report(self, kind: str, on: date, by: str, summary: str | None = None) -> DomainEvent:
        self.check_party(by)
        check_report(self.status, kind)
        self.reports = [
            *self.reports,
            {"kind": kind, "on": on.isoformat(), "by": by, "summary": summary},
        ]
        data = {
            "mobility_id": self.id,
            "agreement_id": self.agreement_id,
            "kind": kind,
            "submitted_by": by,
            "on": on.isoformat(),
        }
        return DomainEvent("mobility.report_submitted", data)

    def complete(self, on: date) -> DomainEvent:
        check_complete(self.status, [r["kind"] for r in self.reports])
        if self.started_on and on < self.started_on:
            raise InvalidInput(msg("mobility.before_start"), "on")
        self.status, self.ended_on = MobilityStatus.COMPLETED, on
        return self._event("mobility.completed", on=on.isoformat())

    def interrupt(self, on: date, reason: str) -> DomainEvent:
        if reason not in codes.INTERRUPTION_REASONS:
            raise InvalidInput(msg("mobility.unknown_interruption_reason", reason=reason), "reason")
        check_interrupt(self.status)
        if self.started_on and on < self.started_on:
            raise InvalidInput(msg("mobility.before_start"), "on")
        self.status, self.ended_on = MobilityStatus.INTERRUPTED, on
        self.interruption_reason = reason
        return self._event("mobility.interrupted", on=on.isoformat(), reason=reason)

    # -- the other agency's steps: the same rules; a step already recorded here is moot ---------

    def apply_checklist(self, by: str, version: int, items: list[dict[str, Any]]) -> bool:
        """The sending agency's ticks, copied here; an older update arriving late is moot."""
        self.check_sending(by, "checklist")
        if version <= self.checklist_version:
            return False
        labels = {i["code"]: i for i in self.checklist}
        self.checklist = [
            {**labels.get(i["code"], {}), **{k: i[k] for k in ("code", "mandatory", "done")}}
            for i in items
        ]
        self.checklist_version = version
        return True

    def apply_start(self, on: date, by: str, planned_end: date | None = None) -> bool:
        """The sending node checked its checklist: this node's copy may lag, so is not checked."""
        self.check_sending(by, "departure")
        if self.status == MobilityStatus.IN_MISSION:
            return False  # a redelivery
        check_start(self.status)
        self.status, self.started_on, self.planned_end = MobilityStatus.IN_MISSION, on, planned_end
        return True

    def apply_report(self, kind: str, on: date, by: str) -> bool:
        if any((r["kind"], r["on"], r["by"]) == (kind, on.isoformat(), by) for r in self.reports):
            return False
        self.report(kind, on, by, None)
        return True

    def apply_completion(self, on: date) -> bool:
        if self.status == MobilityStatus.COMPLETED:
            return False
        if self.status == MobilityStatus.IN_MISSION and missing_reports(
            r["kind"] for r in self.reports
        ):
            raise Pending(msg("mobility.report_pending"), "reports")
        self.complete(on)
        return True

    def apply_interruption(self, on: date, reason: str) -> bool:
        if self.status == MobilityStatus.INTERRUPTED:
            return False
        self.interrupt(on, reason)
        return True
