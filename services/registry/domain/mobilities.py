"""Mobility life cycle: pre-departure → in mission → completed | interrupted, with follow-up.

Before departure the sending agency ticks its checklist; it alone records the departure, and
only once every mandatory item is ticked. The host agency's node keeps a copy of the ticks.

A mission is completed only once its start, mid-term and end reports are in (the follow-up the
pilot's evaluation found lacking); it can be interrupted at any time before it ends. Either
agency records a step; the other applies it through the same rules, so a step out of order is
refused on every path. Report summaries and interruption notes stay on the node that wrote them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from services.registry.domain.check_ins import (
    Policy,
    Schedule,
    validated_answers,
)
from services.registry.domain.errors import (
    DomainError,
    DomainEvent,
    InvalidInput,
    NotEntitled,
    Pending,
)
from services.registry.domain.messages import msg
from shared import codes
from shared.vocabularies import CHECK_IN_RESPONDENTS as RESPONDENTS
from shared.vocabularies import CHECK_INS, REPORT_KINDS, REVIEW_RESPONDENTS

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


@dataclass
class Mobility:
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

    # -- check-ins ------------------------------------------------------------------------------

    def respondent_agency(self, respondent: str) -> str:
        """The agency whose node records an answer: the volunteer's goes to its sending agency."""
        return self.host_agency if respondent == "host_agency" else self.sending_agency

    def answered(self, check_in: str, respondent: str) -> bool:
        return any(
            (c["check_in"], c["respondent"]) == (check_in, respondent) for c in self.check_ins
        )

    def _check_check_in(self, check_in: str, respondent: str, by: str) -> None:
        self.check_party(by)
        if check_in not in CHECK_INS:
            raise InvalidInput(msg("mobility.unknown_check_in", check_in=check_in), "check_in")
        if respondent not in RESPONDENTS:
            raise InvalidInput(
                msg("mobility.unknown_respondent", respondent=respondent), "respondent"
            )
        if by != self.respondent_agency(respondent):
            raise NotEntitled(
                msg(
                    "mobility.check_in_recorded_by",
                    respondent=respondent,
                    agency=self.respondent_agency(respondent),
                ),
                "respondent",
            )

    def fill_check_in(
        self,
        check_in: str,
        respondent: str,
        by: str,
        on: date,
        answers: dict[str, Any],
        note: str | None = None,
    ) -> DomainEvent:
        """A check-in answered; the note stays on this node, the scores and issues travel."""
        self._check_check_in(check_in, respondent, by)
        if self.status != MobilityStatus.IN_MISSION:
            raise MobilityError(msg("mobility.no_check_in", status=self.status), "status")
        if self.answered(check_in, respondent):
            raise MobilityError(msg("mobility.check_in_answered", check_in=check_in), "check_in")
        scores = validated_answers(answers)
        self.check_ins = [
            *self.check_ins,
            {"check_in": check_in, "respondent": respondent, "on": on.isoformat(), **scores}
            | {"note": note},
        ]
        data = {
            "mobility_id": self.id,
            "agreement_id": self.agreement_id,
            "check_in": check_in,
            "respondent": respondent,
            "submitted_by": by,
            "on": on.isoformat(),
            **scores,
        }
        return DomainEvent("mobility.check_in_submitted", data)

    def apply_check_in(
        self, check_in: str, respondent: str, by: str, on: date, answers: dict[str, Any]
    ) -> bool:
        self._check_check_in(check_in, respondent, by)
        if self.answered(check_in, respondent):
            return False
        if self.started_on is None:
            raise Pending(msg("mobility.start_pending"), "status")
        scores = validated_answers(answers)
        entry = {"check_in": check_in, "respondent": respondent, "on": on.isoformat(), **scores}
        self.check_ins = [*self.check_ins, entry | {"note": None}]
        return True

    def due_dates(self, schedule: Schedule) -> dict[str, date]:
        if self.started_on is None or self.planned_end is None:
            return {}
        return schedule.due_dates(self.started_on, self.planned_end)

    def follow_ups(
        self, today: date, agency: str, schedule: Schedule, policy: Policy
    ) -> list[DomainEvent]:
        """Reminders and alerts this node owes today, each once: its own respondent is reminded
        before and after the due date (only the latest reminder when the job runs late); the
        sending node alerts both agencies once a check-in is overdue."""
        if self.status != MobilityStatus.IN_MISSION:
            return []
        own = "host_agency" if agency == self.host_agency else "volunteer"
        events, sent = [], set(self.follow_ups_sent)
        for check_in, due in self.due_dates(schedule).items():
            stages = policy.stages(today, due)
            reminders = [s for s in ("before", "after") if s in stages]
            if reminders and not self.answered(check_in, own):
                latest = f"{check_in}|{own}|{reminders[-1]}"
                if latest not in sent:
                    events.append(self._due(check_in, due, reminders[-1], [own]))
                sent |= {f"{check_in}|{own}|{s}" for s in reminders}
            missing = [r for r in RESPONDENTS if not self.answered(check_in, r)]
            if (
                "overdue" in stages
                and agency == self.sending_agency
                and missing
                and f"{check_in}|overdue" not in sent
            ):
                events.append(self._due(check_in, due, "overdue", missing))
                sent.add(f"{check_in}|overdue")
        self.follow_ups_sent = sorted(sent)
        return events

    def _due(self, check_in: str, due: date, stage: str, respondents: list[str]) -> DomainEvent:
        return self._event(
            "mobility.check_in_due",
            check_in=check_in,
            due_on=due.isoformat(),
            stage=stage,
            respondents=respondents,
        )

    # -- end-of-mission review ------------------------------------------------------------------

    def review(
        self,
        respondent: str,
        by: str,
        on: date,
        scores: dict[str, Any],
        comments: str | None = None,
    ) -> DomainEvent:
        """A questionnaire answered once the mission ended; comments stay on this node."""
        self._check_review(respondent, by)
        if self.status not in (MobilityStatus.COMPLETED, MobilityStatus.INTERRUPTED):
            raise MobilityError(msg("mobility.no_review", status=self.status), "status")
        if any(r["respondent"] == respondent for r in self.reviews):
            raise MobilityError(msg("mobility.review_in", respondent=respondent), "respondent")
        valid = validated_review(scores)
        entry = {"respondent": respondent, "on": on.isoformat(), **valid}
        self.reviews = [*self.reviews, entry | {"comments": comments}]
        data = {
            "mobility_id": self.id,
            "agreement_id": self.agreement_id,
            "respondent": respondent,
            "submitted_by": by,
            **entry,
        }
        return DomainEvent("mobility.review_submitted", data)

    def apply_review(self, respondent: str, by: str, on: date, scores: dict[str, Any]) -> bool:
        self._check_review(respondent, by)
        if any(r["respondent"] == respondent for r in self.reviews):
            return False
        if self.status not in (MobilityStatus.COMPLETED, MobilityStatus.INTERRUPTED):
            raise Pending(msg("mobility.end_pending"), "status")
        entry = {"respondent": respondent, "on": on.isoformat(), **validated_review(scores)}
        self.reviews = [*self.reviews, entry | {"comments": None}]
        return True

    def _check_review(self, respondent: str, by: str) -> None:
        self.check_party(by)
        if respondent not in REVIEWERS:
            raise InvalidInput(
                msg("mobility.unknown_respondent", respondent=respondent), "respondent"
            )
        recorded_by = self.host_agency if respondent in HOST_SIDE else self.sending_agency
        if by != recorded_by:
            raise NotEntitled(
                msg("mobility.review_recorded_by", respondent=respondent, agency=recorded_by),
                "respondent",
            )


REVIEWERS = REVIEW_RESPONDENTS
HOST_SIDE = ("host_organisation", "host_agency")
REVIEW_SCORES = ("overall", "objectives", "support")


def validated_review(scores: dict[str, Any]) -> dict[str, int]:
    out = {}
    for name in REVIEW_SCORES:
        value = scores.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 5:
            raise InvalidInput(msg("mobility.score_range", name=name), name)
        out[name] = value
    return out
