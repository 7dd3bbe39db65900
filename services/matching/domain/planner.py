"""Exact planning of one agreement as a min-cost flow (OR-Tools), with quotas and balance.

Network, for an agreement between A and B with quotas A→B and B→A:

    source → volunteer of A → placement in B → [A→B] ─quota─→ hub ─quota─→ [B→A] → placement in A
           → volunteer of B → sink

Pairs carry cost −score, so the cheapest flow is the plan of highest total score. Every A→B
proposal enters the hub and must leave it through a B→A proposal, or through the slack arc hub→sink
(capacity: how much A→B may exceed B→A); the slack arc source→hub lets B→A exceed A→B likewise. So
|A→B − B→A| ≤ tolerance holds on the totals, pinned pairs included. A source→sink bypass at cost 0
lets the solver leave anyone unmatched.

Stability: the pairs of `Problem.proposed` (open proposals nobody answered yet) earn a bonus of
KEEP_BONUS score units each. The plan maximises total score + KEEP_BONUS × (open proposals kept),
then, among equal values, the number kept. So a plan withdraws k open proposals only when its total
score is higher by more than k × KEEP_BONUS than the best plan keeping them; ties never swap.
Without open proposals the plan is the plain optimum.

Determinism: candidates and arcs are built in (volunteer id, placement id) order and the solver
is deterministic, so the same input, in any order, gives the same plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from operator import attrgetter

import numpy as np
from numpy.typing import NDArray
from ortools.graph.python import min_cost_flow

from services.matching.domain.candidates import SCALE, Candidates, direction_candidates
from services.matching.domain.model import Agreement, Pinned, Placement, Problem, Volunteer
from services.matching.domain.scoring import Criterion, criteria

KEEP_BONUS = 500  # score units (0.05): what withdrawing one open proposal must gain, at least

__all__ = [
    "KEEP_BONUS",
    "SCALE",
    "Network",
    "Plan",
    "Proposal",
    "UnsupportedAgreement",
    "directions",
    "network",
    "plan",
    "solve",
]


class UnsupportedAgreement(ValueError):
    """The agreement's quotas are not one direction or a pair of opposite directions."""


@dataclass(frozen=True)
class Proposal:
    volunteer_id: str
    placement_id: str
    sending: str
    host: str
    score: float
    # What the explanations are computed from: a re-plan keeps most proposals, whose explanations
    # were written when they were made, so they are computed only when read.
    volunteer: Volunteer = field(repr=False, compare=False)
    placement: Placement = field(repr=False, compare=False)
    today: date = field(repr=False, compare=False)

    @cached_property
    def criteria(self) -> tuple[Criterion, ...]:
        """How each criterion scored this pair, with its explanation."""
        return tuple(criteria(self.volunteer, self.placement, self.today))


@dataclass(frozen=True)
class Plan:
    agreement_id: str
    proposals: tuple[Proposal, ...]  # new or kept unpinned proposals, sorted by ids
    pinned: tuple[Pinned, ...]

    @property
    def total(self) -> int:
        """Total score of the proposals, in score units (exact integer)."""
        return sum(round(p.score * SCALE) for p in self.proposals)


def directions(agreement: Agreement) -> list[tuple[str, str, int]]:
    """The agreement's (sending, host, quota): one direction or two opposite ones."""
    quotas = [(q.sending, q.host, q.volunteers) for q in agreement.quotas]
    if len(quotas) == 1:
        return quotas
    if len(quotas) == 2 and (quotas[0][0], quotas[0][1]) == (quotas[1][1], quotas[1][0]):
        return quotas
    raise UnsupportedAgreement("quotas must be one direction or two opposite directions")


@dataclass(frozen=True)
class _Direction:
    sending: str
    host: str
    volunteers: list[Volunteer]
    placements: list[Placement]
    pairs: Candidates


def _sides(problem: Problem) -> list[_Direction]:
    pinned_volunteers = {p.volunteer_id for p in problem.pinned}
    out = []
    for sending, host, _quota in directions(problem.agreement):
        volunteers = sorted(
            (
                v
                for v in problem.volunteers
                if v.agency == sending and v.id not in pinned_volunteers
            ),
            key=attrgetter("id"),
        )
        placements = sorted(
            (p for p in problem.placements if p.agency == host), key=attrgetter("id")
        )
        pairs = direction_candidates(
            volunteers, placements, problem.agreement, problem.today, problem.declined
        )
        out.append(_Direction(sending, host, volunteers, placements, pairs))
    return out


@dataclass(frozen=True)
class Network:
    """The min-cost-flow network of one agreement, as the arrays OR-Tools takes."""

    sides: list[_Direction]
    tails: NDArray[np.int64]
    heads: NDArray[np.int64]
    capacities: NDArray[np.int64]
    costs: NDArray[np.int64]  # the first `pairs` arcs are the candidate pairs, in side order
    pairs: int
    supply: int
    forced_in: int
    forced_out: int
    slack_in: int  # arc index, or -1
    slack_out: int


def network(problem: Problem) -> Network:
    """Candidates, scores and arcs of the problem's flow network."""
    quotas = directions(problem.agreement)
    sides = _sides(problem)
    pinned_by_direction = [
        sum(1 for p in problem.pinned if (p.sending, p.host) == (s, h)) for s, h, _ in quotas
    ]
    pinned_on: dict[str, int] = {}
    for x in problem.pinned:
        pinned_on[x.placement_id] = pinned_on.get(x.placement_id, 0) + 1

    # Node numbering: 0 source, 1 sink, 2 hub, 3.. direction nodes, then per direction its
    # volunteers and its placements. Arcs are built as arrays, pair arcs first.
    source, sink, hub = 0, 1, 2
    next_node = 3 + len(sides)
    pair_tails, pair_heads, pair_costs, keep_flags = [], [], [], []
    tails: list[NDArray[np.int64]] = []
    heads: list[NDArray[np.int64]] = []
    caps: list[NDArray[np.int64]] = []
    proposed = problem.proposed
    for d, side in enumerate(sides):
        v_base, p_base = next_node, next_node + len(side.volunteers)
        next_node = p_base + len(side.placements)
        v_nodes = v_base + side.pairs.volunteer
        p_nodes = p_base + side.pairs.placement
        keep = np.zeros(len(side.pairs.units), dtype=bool)
        if proposed:
            v_pos = {v.id: i for i, v in enumerate(side.volunteers)}
            p_pos = {p.id: j for j, p in enumerate(side.placements)}
            width = max(1, len(side.placements))
            wanted = np.array(
                [v_pos[v] * width + p_pos[p] for v, p in proposed if v in v_pos and p in p_pos],
                dtype=np.int64,
            )
            keep = np.isin(side.pairs.volunteer * width + side.pairs.placement, wanted)
        forward = d == 0
        pair_tails.append(v_nodes if forward else p_nodes)
        pair_heads.append(p_nodes if forward else v_nodes)
        pair_costs.append(side.pairs.units)
        keep_flags.append(keep)
        # source → volunteer (forward) or volunteer → sink, capacity 1
        v_all = v_base + np.arange(len(side.volunteers), dtype=np.int64)
        ends = np.full(len(v_all), source if forward else sink, dtype=np.int64)
        tails.append(ends if forward else v_all)
        heads.append(v_all if forward else ends)
        caps.append(np.ones(len(v_all), dtype=np.int64))
        # placement → direction node (forward) or direction node → placement: remaining slots
        p_all = p_base + np.arange(len(side.placements), dtype=np.int64)
        node = np.full(len(p_all), 3 + d, dtype=np.int64)
        tails.append(p_all if forward else node)
        heads.append(node if forward else p_all)
        caps.append(
            np.array(
                [max(0, p.slots - pinned_on.get(p.id, 0)) for p in side.placements],
                dtype=np.int64,
            )
        )

    units = np.concatenate(pair_costs) if pair_costs else np.zeros(0, dtype=np.int64)
    kept = np.concatenate(keep_flags) if keep_flags else np.zeros(0, dtype=bool)
    # Lexicographic: (score + bonus) first, then the number of open proposals kept.
    weight = int(kept.sum()) + 1
    pair_cost = -(weight * (units + KEEP_BONUS * kept) + kept)
    n_pairs = len(units)

    extra_t: list[int] = []
    extra_h: list[int] = []
    extra_c: list[int] = []

    def arc(tail: int, head: int, cap: int) -> int:
        extra_t.append(tail)
        extra_h.append(head)
        extra_c.append(max(0, cap))
        return len(extra_t) - 1

    remaining_quota = [
        q - pinned for (_, _, q), pinned in zip(quotas, pinned_by_direction, strict=True)
    ]
    supply = n_pairs + 2 * problem.agreement.balance_tolerance + 1
    forced_in = forced_out = 0
    slack_in = slack_out = -1
    if len(quotas) == 1:
        arc(3, sink, remaining_quota[0])
    else:
        # x = B→A − A→B among new proposals must lie in [imbalance − tol, imbalance + tol].
        imbalance = pinned_by_direction[0] - pinned_by_direction[1]
        tolerance = problem.agreement.balance_tolerance
        arc(3, hub, remaining_quota[0])
        arc(hub, 4, remaining_quota[1])
        forced_in = max(0, imbalance - tolerance)  # B→A must catch up at least this much
        forced_out = max(0, -imbalance - tolerance)  # A→B must catch up at least this much
        slack_out = arc(hub, sink, tolerance - imbalance)
        slack_in = arc(source, hub, tolerance + imbalance)
    arc(source, sink, supply)  # leave anyone unmatched at no cost

    all_tails = np.concatenate([*pair_tails, *tails, np.array(extra_t, dtype=np.int64)])
    all_heads = np.concatenate([*pair_heads, *heads, np.array(extra_h, dtype=np.int64)])
    all_caps = np.concatenate(
        [np.ones(n_pairs, dtype=np.int64), *caps, np.array(extra_c, dtype=np.int64)]
    )
    all_costs = np.concatenate([pair_cost, np.zeros(len(all_tails) - n_pairs, dtype=np.int64)])
    offset = len(all_tails) - len(extra_t)  # index of the first extra arc
    return Network(
        sides=sides,
        tails=all_tails,
        heads=all_heads,
        capacities=all_caps,
        costs=all_costs,
        pairs=n_pairs,
        supply=supply,
        forced_in=forced_in,
        forced_out=forced_out,
        slack_in=offset + slack_in if slack_in >= 0 else -1,
        slack_out=offset + slack_out if slack_out >= 0 else -1,
    )


def solve(net: Network) -> NDArray[np.int64]:
    """The flow on each pair arc of the cheapest flow (1: proposed)."""
    source, sink, hub = 0, 1, 2
    forced_in, forced_out = net.forced_in, net.forced_out
    # Pinned pairs may already break the tolerance (after a decline): the lagging direction must
    # catch up. Those lower bounds become node supplies; when too few candidates exist to catch up
    # fully, the plan catches up as far as it can (the largest feasible lower bound).
    while True:
        solver = min_cost_flow.SimpleMinCostFlow()
        solver.add_arcs_with_capacity_and_unit_cost(net.tails, net.heads, net.capacities, net.costs)
        solver.set_node_supply(source, net.supply - forced_in)
        solver.set_node_supply(hub, forced_in - forced_out)
        solver.set_node_supply(sink, -net.supply + forced_out)
        if forced_in:
            solver.set_arc_capacity(net.slack_in, int(net.capacities[net.slack_in]) - forced_in)
        if forced_out:
            solver.set_arc_capacity(net.slack_out, int(net.capacities[net.slack_out]) - forced_out)
        status = solver.solve()
        if status == solver.OPTIMAL:
            break
        if forced_in == 0 and forced_out == 0:  # pragma: no cover - the bypass keeps it feasible
            raise RuntimeError(f"min-cost flow ended with status {status}")
        forced_in, forced_out = max(0, forced_in - 1), max(0, forced_out - 1)
    if not net.pairs:
        return np.zeros(0, dtype=np.int64)
    return np.asarray(solver.flows(np.arange(net.pairs, dtype=np.int64)), dtype=np.int64)


def plan(problem: Problem) -> Plan:
    """The best plan of one agreement (see the module docstring); explanations on demand."""
    net = network(problem)
    flows = solve(net)
    chosen = []
    start = 0
    for side in net.sides:
        count = len(side.pairs.units)
        for k in np.nonzero(flows[start : start + count] > 0)[0]:
            v = side.volunteers[side.pairs.volunteer[k]]
            p = side.placements[side.pairs.placement[k]]
            chosen.append(
                Proposal(
                    v.id,
                    p.id,
                    side.sending,
                    side.host,
                    int(side.pairs.units[k]) / SCALE,
                    v,
                    p,
                    problem.today,
                )
            )
        start += count
    chosen.sort(key=lambda x: (x.volunteer_id, x.placement_id))
    return Plan(problem.agreement.id, tuple(chosen), problem.pinned)
