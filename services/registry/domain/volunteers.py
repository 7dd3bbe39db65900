"""Volunteer life cycle: which status changes are allowed, and why a change is refused."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from services.registry.domain.errors import DomainError, DomainEvent
from services.registry.domain.messages import msg
from shared import codes


class VolunteerStatus(StrEnum):
    REGISTERED = "registered"
    AVAILABLE = "available"
    PROPOSED = "proposed"
    MATCHED = "matched"
    DEPLOYED = "deployed"
    COMPLETED = "completed"
    WITHDRAWN = "withdrawn"


STATUSES = tuple(s.value for s in VolunteerStatus)
WITHDRAW_REASONS = tuple(codes.WITHDRAWAL_REASONS)
# Statuses from which a volunteer may still be withdrawn (after deployment, a mobility is
# interrupted instead).
WITHDRAWABLE = ("registered", "available", "proposed", "matched")

# The status changes a match or a mission causes: new status -> the statuses it may follow.
# Anything else is left as it is (a withdrawn volunteer stays withdrawn whatever matching says).
FOLLOWS: dict[VolunteerStatus, frozenset[VolunteerStatus]] = {
    VolunteerStatus.PROPOSED: frozenset({VolunteerStatus.REGISTERED, VolunteerStatus.AVAILABLE}),
    VolunteerStatus.AVAILABLE: frozenset({VolunteerStatus.PROPOSED, VolunteerStatus.MATCHED}),
    VolunteerStatus.MATCHED: frozenset({VolunteerStatus.PROPOSED, VolunteerStatus.AVAILABLE}),
    VolunteerStatus.DEPLOYED: frozenset(
        {
            VolunteerStatus.REGISTERED,
            VolunteerStatus.AVAILABLE,
            VolunteerStatus.PROPOSED,
            VolunteerStatus.MATCHED,
        }
    ),
    VolunteerStatus.COMPLETED: frozenset({VolunteerStatus.DEPLOYED}),
}


class VolunteerError(DomainError):
    pass


def initial_status(has_availability: bool) -> str:
    """A volunteer with an availability window can be matched at once."""
    return "available" if has_availability else "registered"


def check_withdrawable(status: str) -> None:
    if status not in WITHDRAWABLE:
        raise VolunteerError(msg("volunteer.not_withdrawable", status=status), "status")


@dataclass
class Volunteer:
    """A volunteer's status and why they left; the personal data stays in the adapter's row."""

    id: str
    agency: str
    status: VolunteerStatus
    withdrawn_reason: str | None = None

    def check_editable(self) -> None:
        if self.status == VolunteerStatus.WITHDRAWN:
            raise VolunteerError(msg("volunteer.withdrawn_unchangeable"), "status")

    def availability_known(self, has_window: bool) -> None:
        """A registered volunteer becomes available once an availability window is known."""
        if self.status == VolunteerStatus.REGISTERED and has_window:
            self.status = VolunteerStatus.AVAILABLE

    def withdraw(self, reason: str) -> DomainEvent:
        if reason not in codes.WITHDRAWAL_REASONS:
            raise VolunteerError(
                msg("volunteer.unknown_withdrawal_reason", reason=reason), "reason"
            )
        check_withdrawable(self.status)
        self.status, self.withdrawn_reason = VolunteerStatus.WITHDRAWN, reason
        return DomainEvent(
            "volunteer.withdrawn",
            {"volunteer_id": self.id, "agency": self.agency, "reason": reason},
        )

    def follow(self, status: str) -> bool:
        """Move as a match or a mission says, when the table above allows it; True if moved."""
        target = VolunteerStatus(status)
        if self.status == target or self.status not in FOLLOWS.get(target, frozenset()):
            return False
        self.status = target
        return True
