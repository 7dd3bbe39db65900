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
            raise MatchError("A match goes from one agency to another.", "host_agency")
        if this_agency not in (data.sending_agency, data.host_agency):
            raise MatchError(f"The proposal does not concern {this_agency}.", "sending_agency")
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
            raise MatchError(f"{agency} is not a party to this proposal.", "agency")
        if self.status != MatchStatus.PROPOSED:
            raise MatchError(
                f"This proposal is {self.status}: it can no longer be decided.", "status"
            )
        decision = "accepted" if accept else "declined"
        if accept:
            reason = None
        elif reason not in codes.DECLINE_REASONS:
            raise InvalidInput("Choose one of the reasons for declining.", "reason")
        previous = self.decisions.get(agency)
        if previous:
            if previous["decision"] == decision:
                return None
            raise MatchError(
                f"This agency already {previous['decision']} the proposal.", "decision"
            )
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
            raise MatchError(f"{agency} is not a party to this proposal.", "agency")
        if self.status in FINAL:
            return False
        if self.status == MatchStatus.CONFIRMED:
            if accept and self.decisions.get(agency, {}).get("decision") in (None, "accepted"):
                self.decisions = {**self.decisions, agency: {"decision": "accepted"}}
                return True  # matching confirmed before this node saw the acceptance
            raise MatchError("A confirmed match cannot be declined.", "status")
        return self.decide(agency, accept, reason) is not None

    def confirm(self, this_agency: str) -> bool:
        """Matching confirms: only a proposal this node saw and accepted, nobody declined."""
        if self.status == MatchStatus.CONFIRMED:
            return False
        if self.status != MatchStatus.PROPOSED:
            raise MatchError(f"A {self.status} proposal cannot be confirmed.", "status")
        if self.decisions.get(this_agency, {}).get("decision") != "accepted":
            raise MatchError(f"{this_agency} has not accepted this proposal.", "decisions")
        if any(d.get("decision") == "declined" for d in self.decisions.values()):
            raise MatchError("A declined proposal cannot be confirmed.", "decisions")
        self.status, self.status_reason = MatchStatus.CONFIRMED, None
        return True

    def cancel(self, reason: str) -> bool:
        """Matching cancels a proposal or a match (a better plan, a withdrawal, a closure...)."""
        if reason not in codes.CANCELLATION_REASONS:
            raise InvalidInput(f"Unknown cancellation reason {reason!r}.", "reason")
        if self.status in FINAL:
            return False
        self.status, self.status_reason = MatchStatus.CANCELLED, reason
        return True
