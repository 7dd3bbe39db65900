"""A mobility's follow-up during the mission: check-ins (due dates, answers, reminders and
overdue alerts) and end-of-mission reviews. Mixed into the Mobility aggregate (mobilities.py)."""

from __future__ import annotations

from datetime import date
from typing import Any

from services.registry.domain.check_ins import Policy, Schedule, validated_answers
from services.registry.domain.errors import DomainEvent, InvalidInput, NotEntitled, Pending
from services.registry.domain.messages import msg
from services.registry.domain.mobility_rules import MobilityError, MobilityStatus
from shared.vocabularies import CHECK_IN_RESPONDENTS as RESPONDENTS
from shared.vocabularies import CHECK_INS, REVIEW_RESPONDENTS


class FollowUp:
    """Check-ins and reviews of a Mobility (its fields are declared there)."""

    id: str
    agreement_id: str
    sending_agency: str
    host_agency: str
    status: MobilityStatus
    started_on: date | None
    planned_end: date | None
    check_ins: list[dict[str, Any]]
    follow_ups_sent: list[str]
    reviews: list[dict[str, Any]]

    def check_party(self, agency: str) -> None:  # the aggregate's
        raise NotImplementedError

    def _event(self, type_: str, **extra: Any) -> DomainEvent:  # the aggregate's
        raise NotImplementedError

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
