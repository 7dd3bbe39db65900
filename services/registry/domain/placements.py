"""Placement life cycle: open until closed (with a reason code); a closed placement is final."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from services.registry.domain.errors import DomainError, DomainEvent
from services.registry.domain.messages import msg
from shared import codes


class PlacementStatus(StrEnum):
    OPEN = "open"
    FILLED = "filled"
    CLOSED = "closed"


class PlacementError(DomainError):
    pass


@dataclass
class Placement:
    id: str
    agency: str
    status: PlacementStatus
    closed_reason: str | None = None

    def check_editable(self) -> None:
        if self.status == PlacementStatus.CLOSED:
            raise PlacementError(msg("placement.closed_unchangeable"), "status")

    def close(self, reason: str) -> DomainEvent:
        if reason not in codes.CLOSURE_REASONS:
            raise PlacementError(msg("placement.unknown_closure_reason", reason=reason), "reason")
        if self.status == PlacementStatus.CLOSED:
            raise PlacementError(msg("placement.already_closed"), "status")
        self.status, self.closed_reason = PlacementStatus.CLOSED, reason
        return DomainEvent(
            "placement.closed", {"placement_id": self.id, "agency": self.agency, "reason": reason}
        )
