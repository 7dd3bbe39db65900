"""Exact planning of one agreement as a min-cost flow (OR-Tools), with quotas and balance.

Network, for an agreement between A and B with quotas A→B and B→A:

    source → volunteer of A → placement in B → [A→B] ─quota─→ hub ─quota─→ [B→A] → placement in A
           → volunteer of B → sink

Pairs carry cost −score, so the cheapest flow is the plan of highest total score. Every A→B
proposal enters the hub and must leave it through a B→A proposal, or through the slack arc hub→sink
(capacity: how much A→B may exceed B→A); the slack arc source→hub lets B→A exceed A→B likewise. So
|A→B − B→A| ≤ tolerance holds on the totals, pinned pairs included. A source→sink bypass at cost 0
lets the solver leave anyone unmatched. Ties between equal scores are broken by a perturbation
smaller than one score unit, ordered by (volunteer id, placement id): the same input always gives
the same plan.
"""

from __future__ import annotations

from dataclasses import dataclass

from ortools.graph.python import min_cost_flow

from services.matching.domain.model import Pinned, Problem
from services.matching.domain.scoring import Criterion, criteria, ineligibility, score

SCALE = 10_000  # score units: 4 decimals


class UnsupportedAgreement(ValueError):
    """The agreement's quotas are not one direction or a pair of opposite directions."""


@dataclass(frozen=True)
class Proposal:
    volunteer_id: str
    placement_id: str
    sending: str
    host: str
    score: float
    criteria: tuple[Criterion, ...]


@dataclass(frozen=True)
class Plan:
    agreement_id: str
    proposals: tuple[Proposal, ...]  # new or kept unpinned proposals, sorted by ids
    pinned: tuple[Pinned, ...]

    @property
    def total(self) -> int:
        """Total score of the proposals, in score units (exact integer)."""
        return sum(round(p.score * SCALE) for p in self.proposals)


def _directions(problem: Problem) -> list[tuple[str, str, int]]:
    quotas = [(q.sending, q.host, q.volunteers) for q in problem.agreement.quotas]
    if len(quotas) == 1:
        return quotas
    if len(quotas) == 2 and (quotas[0][0], quotas[0][1]) == (quotas[1][1], quotas[1][0]):
        return quotas
    raise UnsupportedAgreement("quotas must be one direction or two opposite directions")


def candidate_pairs(problem: Problem) -> list[tuple[int, Proposal]]:
    """(direction index, proposal) for every eligible, not declined pair, sorted by ids."""
    directions = _directions(problem)
    pinned_volunteers = {p.volunteer_id for p in problem.pinned}
    pairs = []
    for d, (sending, host, _quota) in enumerate(directions):
        volunteers = [
            v for v in problem.volunteers if v.agency == sending and v.id not in pinned_volunteers
        ]
        placements = [p for p in problem.placements if p.agency == host]
        for v in sorted(volunteers, key=lambda x: x.id):
            for p in sorted(placements, key=lambda x: x.id):
                if (v.id, p.id) in problem.declined or ineligibility(v, p, problem.agreement):
                    continue
                items = criteria(v, p, problem.today)
                pairs.append((d, Proposal(v.id, p.id, sending, host, score(items), tuple(items))))
    return pairs


def plan(problem: Problem) -> Plan:
    directions = _directions(problem)
    pairs = candidate_pairs(problem)
    pinned_by_direction = [
        sum(1 for p in problem.pinned if (p.sending, p.host) == (s, h)) for s, h, _ in directions
    ]
    slots = {
        p.id: p.slots - sum(1 for x in problem.pinned if x.placement_id == p.id)
        for p in problem.placements
    }

    # Node numbering: 0 source, 1 sink, 2 hub, 3.. direction nodes, then volunteers, placements.
    source, sink, hub = 0, 1, 2
    direction_node = [3 + d for d in range(len(directions))]
    nodes: dict[tuple[str, str], int] = {}

    def node(kind: str, key: str) -> int:
        return nodes.setdefault((kind, key), 3 + len(directions) + len(nodes))

    tails: list[int] = []
    heads: list[int] = []
    caps: list[int] = []
    costs: list[int] = []

    def arc(tail: int, head: int, cap: int, cost: int = 0) -> int:
        tails.append(tail)
        heads.append(head)
        caps.append(max(0, cap))
        costs.append(cost)
        return len(tails) - 1

    n_pairs = len(pairs)
    n_volunteers = len({p.volunteer_id for _, p in pairs})
    unit = (n_volunteers + 1) * (n_pairs + 1)  # larger than any sum of tie-break terms
    pair_arcs: list[tuple[int, Proposal]] = []
    seen_volunteer: set[tuple[int, str]] = set()
    seen_placement: set[tuple[int, str]] = set()
    for rank, (d, prop) in enumerate(pairs):
        forward = d == 0
        v = node(f"v{d}", prop.volunteer_id)
        p = node(f"p{d}", prop.placement_id)
        cost = -(round(prop.score * SCALE) * unit + (n_pairs - rank))
        if (d, prop.volunteer_id) not in seen_volunteer:
            seen_volunteer.add((d, prop.volunteer_id))
            arc(source, v, 1) if forward else arc(v, sink, 1)
        if (d, prop.placement_id) not in seen_placement:
            seen_placement.add((d, prop.placement_id))
            remaining = slots.get(prop.placement_id, 0)
            arc(p, direction_node[d], remaining) if forward else arc(
                direction_node[d], p, remaining
            )
        index = arc(v, p, 1, cost) if forward else arc(p, v, 1, cost)
        pair_arcs.append((index, prop))

    remaining_quota = [
        q - pinned for (_, _, q), pinned in zip(directions, pinned_by_direction, strict=True)
    ]
    supply = n_pairs + 2 * problem.agreement.balance_tolerance + 1
    forced_in = forced_out = 0
    if len(directions) == 1:
        arc(direction_node[0], sink, remaining_quota[0])
    else:
        # x = B→A − A→B among new proposals must lie in [imbalance − tol, imbalance + tol].
        imbalance = pinned_by_direction[0] - pinned_by_direction[1]
        tolerance = problem.agreement.balance_tolerance
        arc(direction_node[0], hub, remaining_quota[0])
        arc(hub, direction_node[1], remaining_quota[1])
        forced_in = max(0, imbalance - tolerance)  # B→A must catch up at least this much
        forced_out = max(0, -imbalance - tolerance)  # A→B must catch up at least this much
        slack_out = arc(hub, sink, tolerance - imbalance)
        slack_in = arc(source, hub, tolerance + imbalance)
    arc(source, sink, supply)  # leave anyone unmatched at no cost

    # Pinned pairs may already break the tolerance (after a decline): the lagging direction must
    # catch up. Those lower bounds become node supplies; when too few candidates exist to catch up
    # fully, the plan catches up as far as it can (the largest feasible lower bound).
    while True:
        solver = min_cost_flow.SimpleMinCostFlow()
        solver.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
        solver.set_node_supply(source, supply - forced_in)
        solver.set_node_supply(hub, forced_in - forced_out)
        solver.set_node_supply(sink, -supply + forced_out)
        if forced_in:
            solver.set_arc_capacity(slack_in, caps[slack_in] - forced_in)
        if forced_out:
            solver.set_arc_capacity(slack_out, caps[slack_out] - forced_out)
        status = solver.solve()
        if status == solver.OPTIMAL:
            break
        if forced_in == 0 and forced_out == 0:  # pragma: no cover - the bypass keeps it feasible
            raise RuntimeError(f"min-cost flow ended with status {status}")
        forced_in, forced_out = max(0, forced_in - 1), max(0, forced_out - 1)
    chosen = tuple(
        sorted(
            (prop for index, prop in pair_arcs if solver.flow(index) > 0),
            key=lambda x: (x.volunteer_id, x.placement_id),
        )
    )
    return Plan(problem.agreement.id, chosen, problem.pinned)
