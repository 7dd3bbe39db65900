"""Random matching instances, a brute-force optimum, a reference MILP and a constraint checker."""

from __future__ import annotations

import itertools
import random
from datetime import date, datetime, timedelta

from services.matching.domain.model import Agreement, Placement, Problem, Quota, Volunteer
from services.matching.domain.planner import SCALE, Plan, Proposal
from services.matching.domain.scoring import criteria, ineligibility, score

SKILLS = ["public health", "teaching", "agronomy", "accounting", "it", "nursing"]
DOMAINS = ["health", "education", "agriculture", "environment"]
TODAY = date(2027, 1, 1)


def random_problem(
    rng: random.Random, n_volunteers: int, n_placements: int, tolerance: int | None = None
) -> Problem:
    agreement = Agreement(
        id="agr-r",
        parties=("TG", "ML"),
        start=date(2027, 1, 1),
        end=date(2028, 12, 31),
        quotas=(
            Quota("TG", "ML", rng.randint(0, n_volunteers)),
            Quota("ML", "TG", rng.randint(0, n_volunteers)),
        ),
        balance_tolerance=rng.randint(0, 3) if tolerance is None else tolerance,
        fields_of_cooperation=frozenset(),
    )
    volunteers = []
    for i in range(n_volunteers):
        start = date(2027, 1, 1) + timedelta(days=rng.choice([0, 30, 90]))
        volunteers.append(
            Volunteer(
                id=f"v{i:03d}",
                agency=rng.choice(["TG", "ML"]),
                skills=frozenset(rng.sample(SKILLS, rng.randint(0, 3))),
                domains=frozenset(rng.sample(DOMAINS, rng.randint(0, 2))),
                languages=(("fr", rng.choice(["B1", "B2", "C1", "native"])),),
                available_from=start,
                available_until=start + timedelta(days=rng.choice([200, 365, 500])),
                preferred_countries=frozenset(rng.choice([(), ("TG",), ("ML",), ("TG", "ML")])),
                registered_at=datetime(2026, 1, 1) + timedelta(days=rng.randint(0, 360)),
            )
        )
    placements = []
    for j in range(n_placements):
        start = date(2027, 2, 1) + timedelta(days=rng.choice([0, 30, 60]))
        placements.append(
            Placement(
                id=f"p{j:03d}",
                agency=rng.choice(["TG", "ML"]),
                domain=rng.choice(DOMAINS),
                start=start,
                end=start + timedelta(days=rng.choice([120, 180, 300])),
                slots=rng.randint(1, 2),
                required_skills=frozenset(rng.sample(SKILLS, rng.randint(0, 2))),
                required_languages=(("fr", rng.choice(["A2", "B1", "B2"])),),
            )
        )
    return Problem(agreement, tuple(volunteers), tuple(placements), today=TODAY)


def candidate_pairs(problem: Problem) -> list[tuple[int, Proposal]]:
    """The reference: every eligible, not declined pair scored one by one with `scoring.py`."""
    pinned_volunteers = {p.volunteer_id for p in problem.pinned}
    pairs = []
    for d, q in enumerate(problem.agreement.quotas):
        volunteers = [
            v for v in problem.volunteers if v.agency == q.sending and v.id not in pinned_volunteers
        ]
        placements = [p for p in problem.placements if p.agency == q.host]
        for v in sorted(volunteers, key=lambda x: x.id):
            for p in sorted(placements, key=lambda x: x.id):
                if (v.id, p.id) in problem.declined or ineligibility(v, p, problem.agreement):
                    continue
                items = criteria(v, p, problem.today)
                pairs.append(
                    (d, Proposal(v.id, p.id, q.sending, q.host, score(items), v, p, problem.today))
                )
    return pairs


def violations(problem: Problem, plan: Plan) -> list[str]:
    """Every hard constraint of the issue, checked on a plan."""
    found = []
    by_volunteer = {v.id: v for v in problem.volunteers}
    by_placement = {p.id: p for p in problem.placements}
    chosen = [(p.volunteer_id, p.placement_id, p.sending, p.host) for p in plan.proposals]
    chosen += [(p.volunteer_id, p.placement_id, p.sending, p.host) for p in plan.pinned]
    volunteers = [c[0] for c in chosen]
    if len(volunteers) != len(set(volunteers)):
        found.append("a volunteer has two placements")
    for pid, placement in by_placement.items():
        if sum(1 for c in chosen if c[1] == pid) > placement.slots:
            found.append(f"placement {pid} over its slots")
    for prop in plan.proposals:
        v, p = by_volunteer[prop.volunteer_id], by_placement[prop.placement_id]
        if (v.id, p.id) in problem.declined:
            found.append(f"declined pair {v.id}/{p.id} proposed again")
        if ineligibility(v, p, problem.agreement):
            found.append(f"ineligible pair {v.id}/{p.id}")
        if (v.agency, p.agency) != (prop.sending, prop.host):
            found.append(f"pair {v.id}/{p.id} in the wrong direction")
    counts = {}
    for q in problem.agreement.quotas:
        counts[(q.sending, q.host)] = sum(1 for c in chosen if (c[2], c[3]) == (q.sending, q.host))
        if counts[(q.sending, q.host)] > q.volunteers:
            found.append(f"quota {q.sending}->{q.host} exceeded")
    if (
        len(counts) == 2
        and max(counts.values()) - min(counts.values()) > problem.agreement.balance_tolerance
    ):
        found.append("balance tolerance exceeded")
    return found


def brute_force_total(problem: Problem) -> int:
    """Best total score (score units) by trying every assignment: small instances only."""
    pairs = [p for _, p in candidate_pairs(problem)]
    options: dict[str, list] = {}
    for p in pairs:
        options.setdefault(p.volunteer_id, [None]).append(p)
    best = 0
    slots = {p.id: p.slots for p in problem.placements}
    quotas = {(q.sending, q.host): q.volunteers for q in problem.agreement.quotas}
    for combo in itertools.product(*options.values()):
        picked = [c for c in combo if c is not None]
        used: dict[str, int] = {}
        count = dict.fromkeys(quotas, 0)
        ok = True
        for c in picked:
            used[c.placement_id] = used.get(c.placement_id, 0) + 1
            count[(c.sending, c.host)] += 1
            if (
                used[c.placement_id] > slots[c.placement_id]
                or count[(c.sending, c.host)] > quotas[(c.sending, c.host)]
            ):
                ok = False
                break
        if not ok:
            continue
        if (
            len(count) == 2
            and max(count.values()) - min(count.values()) > problem.agreement.balance_tolerance
        ):
            continue
        best = max(best, sum(round(c.score * SCALE) for c in picked))
    return best


def milp_total(problem: Problem) -> int:
    """Best total score by scipy's HiGHS MILP: an independent reference for medium instances."""
    import numpy as np
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import lil_matrix

    pairs = [p for _, p in candidate_pairs(problem)]
    n = len(pairs)
    if n == 0:
        return 0
    c = -np.array([round(p.score * SCALE) for p in pairs], dtype=float)
    volunteers = sorted({p.volunteer_id for p in pairs})
    placements = sorted({p.placement_id for p in pairs})
    directions = [(q.sending, q.host) for q in problem.agreement.quotas]
    rows = len(volunteers) + len(placements) + len(directions) + (2 if len(directions) == 2 else 0)
    a = lil_matrix((rows, n))
    upper = []
    vi = {v: i for i, v in enumerate(volunteers)}
    pi = {p: len(volunteers) + i for i, p in enumerate(placements)}
    di = {d: len(volunteers) + len(placements) + i for i, d in enumerate(directions)}
    for k, p in enumerate(pairs):
        a[vi[p.volunteer_id], k] = 1
        a[pi[p.placement_id], k] = 1
        a[di[(p.sending, p.host)], k] = 1
    upper += [1] * len(volunteers)
    slots = {p.id: p.slots for p in problem.placements}
    upper += [slots[p] for p in placements]
    upper += [q.volunteers for q in problem.agreement.quotas]
    if len(directions) == 2:
        base = len(volunteers) + len(placements) + len(directions)
        for k, p in enumerate(pairs):
            sign = 1 if (p.sending, p.host) == directions[0] else -1
            a[base, k] = sign
            a[base + 1, k] = -sign
        upper += [problem.agreement.balance_tolerance] * 2
    result = milp(
        c,
        constraints=LinearConstraint(a.tocsr(), -np.inf, np.array(upper, dtype=float)),
        integrality=np.ones(n),
        bounds=Bounds(0, 1),
    )
    assert result.success, result.message
    return round(-result.fun)
