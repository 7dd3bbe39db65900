"""Volunteer life cycle: which status changes are allowed, and why a change is refused."""

from __future__ import annotations

STATUSES = ("registered", "available", "proposed", "matched", "deployed", "completed", "withdrawn")
WITHDRAW_REASONS = ("personal", "health", "eligibility", "other")
# Statuses from which a volunteer may still be withdrawn (after deployment, a mobility is
# interrupted instead).
WITHDRAWABLE = ("registered", "available", "proposed", "matched")


class VolunteerError(Exception):
    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def initial_status(has_availability: bool) -> str:
    """A volunteer with an availability window can be matched at once."""
    return "available" if has_availability else "registered"


def check_withdrawable(status: str) -> None:
    if status not in WITHDRAWABLE:
        raise VolunteerError(f"A volunteer whose status is {status} cannot be withdrawn.", "status")
