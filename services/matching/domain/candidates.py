"""Eligible pairs and their scores for one direction of an agreement, as NumPy array operations.

The rules and weights are those of `scoring.py` (the scalar definition, which also writes the
explanations); this module evaluates them for every volunteer × placement pair at once. Skills and
domains are bitsets (uint64 words), language levels integer ranks, dates day ordinals. Scores are
computed with the same float operations in the same order as `scoring.score`, then rounded like
Python's `round(x, 4)`, so a pair's score in score units is exactly `round(score(...) * SCALE)`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
from numpy.typing import NDArray

from services.matching.domain.model import LEVELS, Agreement, Placement, Volunteer
from services.matching.domain.scoring import WEIGHTS

SCALE = 10_000  # score units: 4 decimals
TOP_LEVEL = len(LEVELS) - 1
BLOCK_CELLS = 4_000_000  # volunteer rows × placements evaluated at once (bounds memory)
NO_DATE = np.iinfo(np.int64).min
RANK = {level: i for i, level in enumerate(LEVELS)}  # model.level_rank as a lookup; -1 unknown


@dataclass(frozen=True)
class Candidates:
    """Eligible pairs of one direction, sorted by (volunteer id, placement id)."""

    volunteer: NDArray[np.int64]  # index into the direction's volunteers
    placement: NDArray[np.int64]  # index into the direction's placements
    units: NDArray[np.int64]  # score in score units (score × SCALE, exact)


def _round4(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Python's round(x, 4) on each value: np.round differs on decimal half-way cases."""
    scaled = values * SCALE
    out = np.rint(scaled) / SCALE
    near_half = np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6
    if near_half.any():
        unique = np.unique(values[near_half])
        fixed = np.array([round(float(x), 4) for x in unique])
        out[near_half] = fixed[np.searchsorted(unique, values[near_half])]
    return out


def _units(scores: NDArray[np.float64]) -> NDArray[np.int64]:
    """round(round(x, 4) * SCALE) on each value, as Plan.total computes it."""
    return np.rint(_round4(scores) * SCALE).astype(np.int64)


class _Vocabulary:
    def __init__(self, words: Iterable[str]) -> None:
        self.index = {w: i for i, w in enumerate(sorted(set(words)))}
        self.words = max(1, (len(self.index) + 63) // 64)

    def bits(self, rows: Sequence[Iterable[str]]) -> NDArray[np.uint64]:
        index, mask = self.index, (1 << 64) - 1
        numbers = [sum(1 << index[word] for word in set(row)) for row in rows]
        return np.array(
            [[(n >> (64 * w)) & mask for w in range(self.words)] for n in numbers],
            dtype=np.uint64,
        ).reshape(len(rows), self.words)


def _ordinal(day: date | None) -> int:
    return day.toordinal() if day is not None else int(NO_DATE)


def direction_candidates(
    volunteers: Sequence[Volunteer],
    placements: Sequence[Placement],
    agreement: Agreement,
    today: date,
    declined: frozenset[tuple[str, str]] = frozenset(),
) -> Candidates:
    """Every eligible, not declined pair of `volunteers` (one sending agency) × `placements` (one
    host agency), in the order of the two sequences (callers sort them by id)."""
    nv, np_ = len(volunteers), len(placements)
    empty = np.zeros(0, dtype=np.int64)
    if nv == 0 or np_ == 0 or agreement.end < today:
        return Candidates(empty, empty, empty)  # an agreement whose period ended proposes nothing

    skills = _Vocabulary(
        [s for v in volunteers for s in v.skills]
        + [s for p in placements for s in p.required_skills]
    )
    domains = _Vocabulary(
        [d for v in volunteers for d in v.domains] + [p.domain for p in placements]
    )
    v_skills, p_skills = (
        skills.bits([v.skills for v in volunteers]),
        skills.bits([p.required_skills for p in placements]),
    )
    v_domains = domains.bits([v.domains for v in volunteers])
    p_domains = domains.bits([[p.domain] for p in placements])
    p_required = np.array([len(p.required_skills) for p in placements], dtype=np.int64)

    # Languages: the volunteer's rank per code (-1 when not spoken, as level_rank("") is), and the
    # placement's requirements as up to R (code, rank) slots.
    codes = sorted(
        {c for v in volunteers for c, _ in v.languages}
        | {c for p in placements for c, _ in p.required_languages}
    )
    code_index = {c: i for i, c in enumerate(codes)}
    v_rank = np.full((nv, max(1, len(codes))), -1, dtype=np.int64)
    for r, v in enumerate(volunteers):
        for code, level in dict(v.languages).items():
            v_rank[r, code_index[code]] = RANK.get(level, -1)
    slots_r = max((len(p.required_languages) for p in placements), default=0)
    req_code = np.zeros((np_, max(1, slots_r)), dtype=np.int64)
    req_rank = np.zeros((np_, max(1, slots_r)), dtype=np.int64)
    req_used = np.zeros((np_, max(1, slots_r)), dtype=bool)
    for j, p in enumerate(placements):
        for r, (code, level) in enumerate(p.required_languages):
            req_code[j, r], req_rank[j, r], req_used[j, r] = (
                code_index[code],
                RANK.get(level, -1),
                True,
            )
    req_count = req_used.sum(axis=1)

    v_from = np.array([_ordinal(v.available_from) for v in volunteers], dtype=np.int64)
    v_until = np.array([_ordinal(v.available_until) for v in volunteers], dtype=np.int64)
    v_window = np.array(
        [v.available_from is not None and v.available_until is not None for v in volunteers]
    )
    p_start = np.array([p.start.toordinal() for p in placements], dtype=np.int64)
    p_end = np.array([p.end.toordinal() for p in placements], dtype=np.int64)

    # Per placement: inside the agreement period and fields; per volunteer: country preference.
    p_ok = (p_start >= agreement.start.toordinal()) & (p_end <= agreement.end.toordinal())
    if agreement.fields_of_cooperation:
        p_ok &= np.array([p.domain in agreement.fields_of_cooperation for p in placements])
    host = placements[0].agency
    v_ok = v_window & np.array(
        [not v.preferred_countries or host in v.preferred_countries for v in volunteers]
    )
    v_preference = np.array([1.0 if v.preferred_countries else 0.5 for v in volunteers])
    v_waiting = np.array(
        [
            round(min(1.0, max(0, (today - v.registered_at.date()).days) / 365), 4)
            if v.registered_at
            else 0.0
            for v in volunteers
        ]
    )

    declined_at: dict[int, list[int]] = {}
    if declined:
        v_pos = {v.id: i for i, v in enumerate(volunteers)}
        p_pos = {p.id: j for j, p in enumerate(placements)}
        for vid, pid in declined:
            if vid in v_pos and pid in p_pos:
                declined_at.setdefault(v_pos[vid], []).append(p_pos[pid])

    out_v, out_p, out_units = [], [], []
    block = max(1, BLOCK_CELLS // np_)
    for lo in range(0, nv, block):
        hi = min(nv, lo + block)
        rows = slice(lo, hi)
        ok = v_ok[rows, None] & p_ok[None, :]
        ok &= (v_from[rows, None] <= p_start[None, :]) & (v_until[rows, None] >= p_end[None, :])
        have = np.zeros((hi - lo, np_), dtype=np.int64)
        for w in range(skills.words):
            have += np.bitwise_count(v_skills[rows, None, w] & p_skills[None, :, w]).astype(
                np.int64
            )
        in_domain = np.zeros((hi - lo, np_), dtype=bool)
        for w in range(domains.words):
            in_domain |= (v_domains[rows, None, w] & p_domains[None, :, w]) != 0
        ok &= (p_required[None, :] == 0) | (have > 0) | in_domain
        margin_sum = np.zeros((hi - lo, np_))
        for r in range(req_code.shape[1]):
            spoken = v_rank[rows][:, req_code[:, r]]  # (block, placements)
            needed = req_rank[None, :, r]
            used = req_used[None, :, r]
            ok &= ~used | (spoken >= needed)
            span = np.maximum(1, TOP_LEVEL - needed)
            margin = np.minimum(1.0, np.maximum(0.0, (spoken - needed) / span)) * 0.5 + 0.5
            margin_sum = np.where(used, margin_sum + margin, margin_sum)
        for i, js in declined_at.items():
            if lo <= i < hi:
                ok[i - lo, js] = False
        vi, pj = np.nonzero(ok)
        if vi.size == 0:
            continue
        n_req = p_required[pj]
        skills_value = np.where(n_req > 0, have[vi, pj] / np.maximum(n_req, 1), 1.0)
        counts = req_count[pj]
        languages_value = np.where(
            counts > 0, _round4(margin_sum[vi, pj] / np.maximum(counts, 1)), 1.0
        )
        gv = vi + lo
        total = (
            0.0
            + WEIGHTS["skills"] * skills_value
            + WEIGHTS["languages"] * languages_value
            + WEIGHTS["preference"] * v_preference[gv]
            + WEIGHTS["domain"] * in_domain[vi, pj].astype(np.float64)
            + WEIGHTS["waiting"] * v_waiting[gv]
        )
        out_v.append(gv)
        out_p.append(pj)
        out_units.append(_units(total))
    if not out_v:
        return Candidates(empty, empty, empty)
    return Candidates(
        np.concatenate(out_v).astype(np.int64),
        np.concatenate(out_p).astype(np.int64),
        np.concatenate(out_units),
    )
