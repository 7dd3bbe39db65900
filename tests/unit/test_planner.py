"""The planner is exact: brute force on small instances, a reference MILP on medium ones."""

from __future__ import annotations

import dataclasses
import itertools
import random
from dataclasses import replace
from datetime import date, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.matching.domain.model import Agreement, Pinned, Placement, Problem, Quota, Volunteer
from services.matching.domain.planner import KEEP_BONUS, SCALE, Plan, plan
from tests.support.matching_instances import (
    brute_force_total,
    candidate_pairs,
    milp_total,
    random_problem,
    violations,
)


@settings(
    max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    seed=st.integers(0, 10**6),
    n_volunteers=st.integers(0, 6),
    n_placements=st.integers(0, 4),
)
def test_the_plan_total_equals_the_brute_force_optimum_and_breaks_no_constraint(
    seed, n_volunteers, n_placements
):
    problem = random_problem(random.Random(seed), n_volunteers, n_placements)
    result = plan(problem)
    assert violations(problem, result) == []
    assert result.total == brute_force_total(problem)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_on_200_by_200_instances_the_plan_total_equals_a_reference_milp(seed):
    problem = random_problem(random.Random(seed), 200, 200)
    result = plan(problem)
    assert violations(problem, result) == []
    assert result.total == milp_total(problem)


def test_the_same_input_in_any_order_gives_the_same_plan():
    problem = random_problem(random.Random(7), 40, 30)
    shuffled = replace(
        problem,
        volunteers=tuple(random.Random(1).sample(problem.volunteers, len(problem.volunteers))),
        placements=tuple(reversed(problem.placements)),
    )
    assert plan(problem) == plan(shuffled)


def _pilot(n_tg: int, n_ml: int, tolerance: int) -> Problem:
    def volunteer(vid: str, agency: str) -> Volunteer:
        return Volunteer(
            vid,
            agency,
            frozenset({"public health"}),
            frozenset({"health"}),
            (("fr", "native"),),
            date(2027, 1, 1),
            date(2028, 12, 31),
            frozenset(),
            datetime(2026, 6, 1),
        )

    def placement(pid: str, agency: str) -> Placement:
        return Placement(
            pid,
            agency,
            "health",
            date(2027, 3, 1),
            date(2027, 12, 1),
            1,
            frozenset({"public health"}),
            (("fr", "B2"),),
        )

    agreement = Agreement(
        "agr-pilot",
        ("TG", "ML"),
        date(2027, 1, 1),
        date(2028, 12, 31),
        (Quota("TG", "ML", 4), Quota("ML", "TG", 2)),
        tolerance,
    )
    volunteers = [volunteer(f"tg{i}", "TG") for i in range(n_tg)] + [
        volunteer(f"ml{i}", "ML") for i in range(n_ml)
    ]
    placements = [placement(f"pl-ml-{i}", "ML") for i in range(4)] + [
        placement(f"pl-tg-{i}", "TG") for i in range(2)
    ]
    return Problem(agreement, tuple(volunteers), tuple(placements), today=date(2027, 1, 1))


def _directions(result) -> tuple[int, int]:
    tg_ml = sum(1 for p in result.proposals if (p.sending, p.host) == ("TG", "ML"))
    return tg_ml, len(result.proposals) - tg_ml


def test_the_pilot_gives_four_plus_two_proposals():
    assert _directions(plan(_pilot(6, 3, tolerance=2))) == (4, 2)


def test_an_agreement_whose_period_has_ended_proposes_nothing():
    ended = dataclasses.replace(_pilot(6, 3, tolerance=2), today=date(2029, 1, 1))
    assert plan(ended).proposals == ()
    last_day = dataclasses.replace(_pilot(6, 3, tolerance=2), today=date(2028, 12, 31))
    assert _directions(plan(last_day)) == (4, 2)


def test_with_tolerance_zero_and_one_eligible_malian_the_pilot_gives_one_plus_one():
    assert _directions(plan(_pilot(6, 1, tolerance=0))) == (1, 1)


def test_pinned_pairs_count_against_quotas_slots_and_balance():
    problem = _pilot(6, 3, tolerance=0)
    pinned = (Pinned("tg0", "pl-ml-0", "TG", "ML"), Pinned("tg1", "pl-ml-1", "TG", "ML"))
    result = plan(replace(problem, pinned=pinned))
    assert violations(replace(problem, pinned=pinned), result) == []
    # 2 pinned TG→ML + 2 ML→TG possible, balance 0: at most 0 new TG→ML.
    assert _directions(result) == (0, 2)
    assert {"tg0", "tg1"}.isdisjoint(p.volunteer_id for p in result.proposals)


def test_a_declined_pair_is_never_proposed_again():
    problem = _pilot(1, 0, tolerance=1)
    first = plan(problem).proposals[0]
    again = plan(replace(problem, declined=frozenset({(first.volunteer_id, first.placement_id)})))
    assert (first.volunteer_id, first.placement_id) not in {
        (p.volunteer_id, p.placement_id) for p in again.proposals
    }
    assert len(again.proposals) == 1


def test_every_proposal_explains_each_criterion():
    proposal = plan(_pilot(1, 0, tolerance=1)).proposals[0]
    names = [c.criterion for c in proposal.criteria]
    assert names == ["skills", "languages", "preference", "domain", "waiting"]
    assert abs(sum(c.weight * c.value for c in proposal.criteria) - proposal.score) < 1e-3
    assert proposal.criteria[0].explanation == "1 of 1 required skills (public health)"


def test_when_pinned_pairs_break_the_tolerance_the_lagging_direction_catches_up_as_far_as_it_can():
    problem = _pilot(6, 1, tolerance=0)
    pinned = (Pinned("tg0", "pl-ml-0", "TG", "ML"), Pinned("tg1", "pl-ml-1", "TG", "ML"))
    result = plan(replace(problem, pinned=pinned))
    assert _directions(result) == (0, 1)  # one Malian only: 2 vs 1, no new TG→ML widening the gap


def _varied_problem(rng: random.Random, n_volunteers: int, n_placements: int) -> Problem:
    """Random instances with what the pilot data lacks: several and repeated required languages,
    missing availability, no registration date, unknown levels, fields of cooperation."""
    base = random_problem(rng, n_volunteers, n_placements)
    levels = ["A1", "A2", "B1", "B2", "C1", "C2", "native", "??"]
    volunteers = tuple(
        replace(
            v,
            languages=tuple(
                (code, rng.choice(levels)) for code in rng.sample(["fr", "en", "ee", "bm"], 3)
            ),
            available_from=None if rng.random() < 0.1 else v.available_from,
            registered_at=None if rng.random() < 0.1 else v.registered_at,
        )
        for v in base.volunteers
    )
    placements = tuple(
        replace(
            p,
            required_languages=tuple(
                (rng.choice(["fr", "en", "ee"]), rng.choice(levels[:4]))
                for _ in range(rng.randint(0, 2))
            ),
        )
        for p in base.placements
    )
    agreement = replace(
        base.agreement,
        fields_of_cooperation=frozenset(rng.sample(["health", "education", "agriculture"], 2)),
    )
    return replace(base, agreement=agreement, volunteers=volunteers, placements=placements)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10**6))
def test_array_scoring_finds_the_same_pairs_and_scores_as_the_scalar_rules(seed):
    from services.matching.domain.planner import _sides

    problem = _varied_problem(random.Random(seed), 60, 40)
    expected = {
        (p.volunteer_id, p.placement_id): round(p.score * SCALE)
        for _, p in candidate_pairs(problem)
    }
    found = {}
    for side in _sides(problem):
        for i, j, units in zip(
            side.pairs.volunteer, side.pairs.placement, side.pairs.units, strict=True
        ):
            found[(side.volunteers[i].id, side.placements[j].id)] = int(units)
    assert found == expected


def _best_with_bonus(problem: Problem) -> int:
    """Brute force of the stability objective: max of total + KEEP_BONUS × open proposals kept."""
    pairs = [p for _, p in candidate_pairs(problem)]
    options: dict[str, list] = {}
    for p in pairs:
        options.setdefault(p.volunteer_id, [None]).append(p)
    best = 0
    for combo in itertools.product(*options.values()):
        picked = [c for c in combo if c is not None]
        fake = Plan(problem.agreement.id, tuple(picked), problem.pinned)
        if violations(problem, fake):
            continue
        kept = sum(1 for c in picked if (c.volunteer_id, c.placement_id) in problem.proposed)
        best = max(best, fake.total + KEEP_BONUS * kept)
    return best


@settings(
    max_examples=100, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(seed=st.integers(0, 10**6), n_volunteers=st.integers(0, 6), n_placements=st.integers(0, 4))
def test_with_open_proposals_the_plan_is_exact_for_score_plus_keep_bonus(
    seed, n_volunteers, n_placements
):
    rng = random.Random(seed)
    problem = random_problem(rng, n_volunteers, n_placements)
    pairs = [(p.volunteer_id, p.placement_id) for _, p in candidate_pairs(problem)]
    problem = replace(problem, proposed=frozenset(rng.sample(pairs, min(len(pairs), 3))))
    result = plan(problem)
    assert violations(problem, result) == []
    kept = sum(1 for p in result.proposals if (p.volunteer_id, p.placement_id) in problem.proposed)
    assert result.total + KEEP_BONUS * kept == _best_with_bonus(problem)


def test_a_problem_planned_in_the_worker_process_gives_the_same_plan(monkeypatch):
    from services.matching import planning

    monkeypatch.setattr(planning, "OFFLOAD_PAIRS", 0)  # send even this small problem there
    problem = random_problem(random.Random(11), 120, 80)
    problem = replace(problem, proposed=frozenset({("v001", "p002"), ("v003", "p004")}))
    assert planning.plan_apart(problem) == plan(problem)


def test_when_the_worker_process_dies_the_plan_is_made_in_process_and_a_new_worker_started(
    monkeypatch,
):
    import os
    import signal

    from services.matching import planning

    monkeypatch.setattr(planning, "OFFLOAD_PAIRS", 0)
    problem = random_problem(random.Random(12), 60, 40)
    expected = plan(problem)
    assert planning.plan_apart(problem) == expected  # starts the worker
    worker = planning._worker
    for pid in list(worker._processes):  # the worker process only, started by this test's call
        os.kill(pid, signal.SIGKILL)
    assert planning.plan_apart(problem) == expected
    assert planning._worker is None
    assert planning.plan_apart(problem) == expected and planning._worker is not worker
