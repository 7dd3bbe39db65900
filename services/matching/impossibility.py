"""Why an open proposal can no longer be kept, whatever a new plan says (the reasons a plan
may withdraw an unanswered proposal without the better-score rule: README, Stable proposals)."""

from __future__ import annotations

from services.matching.adapters.orm import Proposal
from services.matching.domain import model
from services.matching.domain.scoring import ineligibility
from services.matching.problem import Held
from shared.logging import get_logger

log = get_logger(__name__)


class Impossibility:
    """Why an open proposal can no longer be kept whatever the plan (indexes built once)."""

    def __init__(self, problem: model.Problem) -> None:
        self.problem = problem
        self.volunteers = {v.id: v for v in problem.volunteers}
        self.placements = {p.id: p for p in problem.placements}
        self.on_placement: dict[str, int] = {}
        self.in_direction: dict[tuple[str, str], int] = {}
        for x in problem.pinned:
            self._count(x.placement_id, (x.sending, x.host))
        for v, p in problem.proposed:
            if v in self.volunteers and p in self.placements:
                self._count(p, (self.volunteers[v].agency, self.placements[p].agency))
        self.quotas = {(q.sending, q.host): q.volunteers for q in problem.agreement.quotas}

    def _count(self, placement_id: str, direction: tuple[str, str]) -> None:
        self.on_placement[placement_id] = self.on_placement.get(placement_id, 0) + 1
        self.in_direction[direction] = self.in_direction.get(direction, 0) + 1

    def of(self, proposal: Proposal | Held) -> str | None:
        """A cancellation reason code, or None."""
        if self.problem.agreement.end < self.problem.today:
            return "agreement_ended"
        volunteer = self.volunteers.get(proposal.volunteer_id)
        if volunteer is None:
            return "volunteer_unavailable"
        placement = self.placements.get(proposal.placement_id)
        if placement is None:
            return "placement_closed"
        if (proposal.volunteer_id, proposal.placement_id) in self.problem.declined:
            return "no_longer_eligible"
        why = ineligibility(volunteer, placement, self.problem.agreement)
        if why:
            log.info("matching.no_longer_eligible", match_id=proposal.id, why=why)
            return "no_longer_eligible"
        # Still eligible: impossible to keep with every other open one when the place or the
        # quota no longer holds them all (fewer slots, or confirmations took the room).
        if self.on_placement.get(placement.id, 0) > placement.slots:
            return "placement_filled"
        direction = (proposal.sending_agency, proposal.host_agency)
        if self.in_direction.get(direction, 0) > self.quotas.get(direction, 0):
            return "quota_reached"
        return None
