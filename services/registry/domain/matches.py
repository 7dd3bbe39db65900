"""Match life cycle as an agency's node sees it: proposed by matching, accepted or declined by
each agency (in its own name), confirmed by matching once both accepted, or cancelled.

A decline carries a reason code (shared/codes.py DECLINE_REASONS); the note a user typed to
explain it stays in this node's copy of the decision and never travels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from services.registry.domain.errors import DomainError, DomainEvent, InvalidInput
from services.registry.domain.messages import msg
from shared import codes
from shared.events import payloads


class MatchStatus(StrEnum):
    PROPOSED = "proposed"
    CONFIRMED = "confirmed"
    DECLINED = "declined"
    CANCELLED = "cancelled"


FINAL = (MatchStatus.DECLINED, MatchStatus.CANCELLED)


class MatchError(DomainError):
    pass


@dataclass
class Match:
    id: str
    agreement_id: str
    volunteer_id: str
    placement_id: str
    sending_agency: str
    host_agency: str
    status: MatchStatus = MatchStatus.PROPOSED
    # agency -> {"decision": "accepted"|"declined", "reason": code|None, ...}; this node's own
    # entry may also hold the local note and the time it was decided.
    decisions: dict[str, dict[str, Any]] = field(default_factory=dict)
    status_reason: str | None = None

    @property
    def parties(self) -> tuple[str, str]:
        return (self.sending_agency, self.host_agency)

    @classmethod
    def proposed(cls, data: payloads.MatchProposed, this_agency: str) -> Match:
        """Matching's proposal as this node receives it: it must concern this agency."""
        if data.sending_agency == data.host_agency:
            raise MatchError(msg("match.same_agency"), "host_agency")
        if this_agency not in (data.sending_agency, data.host_agency):
            raise MatchError(msg("match.not_concerned", agency=this_agency), "sending_agency")
        return cls(
            id=data.match_id,
            agreement_id=data.agreement_id,
            volunteer_id=data.volunteer_id,
            placement_id=data.placement_id,
            sending_agency=data.sending_agency,
            host_agency=data.host_agency,
        )

    def _data(self, agency: str) -> dict[str, Any]:
        return {
            "match_id": self.id,
            "agreement_id": self.agreement_id,
            "volunteer_id": self.volunteer_id,
            "placement_id": self.placement_id,
            "agency": agency,
        }

    def decide(
        self, agency: str, accept: bool, reason: str | None = None, **local: Any
    ) -> DomainEvent | None:
        """`agency` accepts or declines (with a reason code); the same decision again changes
        nothing (None). `local` (a note, the time) is kept in this copy only."""
        if agency not in self.parties:
            raise MatchError(msg("match.not_a_party", agency=agency), "agency")
        if self.status != MatchStatus.PROPOSED:
            raise MatchError(msg("match.closed", status=self.status), "status")
        decision = "accepted" if accept else "declined"
        if accept:
            reason = None
        elif reason not in codes.DECLINE_REASONS:
            raise InvalidInput(msg("match.decline_reason_required"), "reason")
        previous = self.decisions.get(agency)
        if previous:
            if previous["decision"] == decision:
                return None
            code = f"match.already_{previous['decision']}"  # accepted or declined
            raise MatchError(msg(code), "decision")
        self.decisions = {
            **self.decisions,
            agency: {"decision": decision, "reason": reason, **local},
        }
        if not accept:
            self.status, self.status_reason = MatchStatus.DECLINED, reason
        data = self._data(agency)
        if not accept:
            data["reason"] = reason
        return DomainEvent(f"match.{decision}", data)

    def apply_decision(self, agency: str, accept: bool, reason: str | None) -> bool:
        """The other agency's decision. One arriving after the proposal ended (cancelled by a
        better plan, or declined) is moot."""
        if agency not in self.parties:
            raise MatchError(msg("match.not_a_party", agency=agency), "agency")
        if self.status in FINAL:
            return False
        if self.status == MatchStatus.CONFIRMED:
            if accept and self.decisions.get(agency, {}).get("decision") in (None, "accepted"):
                self.decisions = {**self.decisions, agency: {"decision": "accepted"}}
                return True  # matching confirmed before this node saw the acceptance
            raise MatchError(msg("match.confirmed_undeclinable"), "status")
        return self.decide(agency, accept, reason) is not None

    def confirm(self, this_agency: str) -> bool:
        """Matching confirms: only a proposal this node saw and accepted, nobody declined."""
        if self.status == MatchStatus.CONFIRMED:
            return False
        if self.status != MatchStatus.PROPOSED:
            raise MatchError(msg("match.not_confirmable", status=self.status), "status")
        if self.decisions.get(this_agency, {}).get("decision") != "accepted":
            raise MatchError(msg("match.not_accepted_by", agency=this_agency), "decisions")
        if any(d.get("decision") == "declined" for d in self.decisions.values()):
            raise MatchError(msg("match.declined_unconfirmable"), "decisions")
        self.status, self.status_reason = MatchStatus.CONFIRMED, None
        return True

    def cancel(self, reason: str) -> bool:
        """Matching cancels a proposal or a match (a better plan, a withdrawal, a closure...)."""
        if reason not in codes.CANCELLATION_REASONS:
            raise InvalidInput(msg("match.unknown_cancellation_reason", reason=reason), "reason")
        if self.status in FINAL:
            return False
        self.status, self.status_reason = MatchStatus.CANCELLED, reason
        return True
