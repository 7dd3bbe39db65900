"""Eligibility (hard rules) and the score (soft criteria, explained) of a volunteer/placement pair.

Score = Σ weight × value, each value in [0, 1]; weights sum to 1:

- skills 0.40: share of the placement's required skills the volunteer has (1 if none required)
- languages 0.25: per required language, 0.5 at the required level rising to 1 at native; mean
- preference 0.15: 1 if the host country is a preference of the volunteer, 0.5 if none stated
- domain 0.10: 1 if the placement's domain is one of the volunteer's domains
- waiting 0.10: days since registration / 365, at most 1 (who waited longer goes first)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from services.matching.domain.messages import EXPLANATIONS
from services.matching.domain.model import Agreement, Placement, Volunteer, level_rank
from shared.messages import Message

WEIGHTS = {"skills": 0.40, "languages": 0.25, "preference": 0.15, "domain": 0.10, "waiting": 0.10}


@dataclass(frozen=True)
class Criterion:
    criterion: str
    weight: float
    value: float
    explanation: str
    # the explanation as codes with parameters (one per part), for screens to translate
    messages: tuple[dict[str, Any], ...] = field(default=())


def _explained(
    criterion: str, value: float, parts: list[Message], separator: str = "; "
) -> Criterion:
    return Criterion(
        criterion,
        WEIGHTS[criterion],
        value,
        separator.join(parts),
        tuple({"code": m.code, "params": m.params} for m in parts),
    )


def ineligibility(v: Volunteer, p: Placement, agreement: Agreement) -> str | None:
    """Why the pair may not be proposed, or None when it may."""
    if v.available_from is None or v.available_until is None:
        return "the volunteer has no availability window"
    if v.available_from > p.start or v.available_until < p.end:
        return "the volunteer's availability does not cover the placement dates"
    if p.start < agreement.start or p.end > agreement.end:
        return "the placement falls outside the agreement period"
    spoken = dict(v.languages)
    for code, level in p.required_languages:
        if level_rank(spoken.get(code, "")) < level_rank(level):
            return f"language {code} at level {level} is required"
    if p.required_skills and not (p.required_skills & v.skills) and p.domain not in v.domains:
        return "none of the required skills, and not the placement's domain"
    if v.preferred_countries and p.agency not in v.preferred_countries:
        return "the host country is not among the volunteer's preferences"
    if agreement.fields_of_cooperation and p.domain not in agreement.fields_of_cooperation:
        return "the placement's domain is not a field of the agreement"
    return None


def criteria(v: Volunteer, p: Placement, today: date) -> list[Criterion]:
    say = EXPLANATIONS.message
    out = []
    if p.required_skills:
        have = sorted(p.required_skills & v.skills)
        value = len(have) / len(p.required_skills)
        counts = {"have": len(have), "total": len(p.required_skills)}
        text = (
            say("criterion.skills.named", skills=", ".join(have), **counts)
            if have
            else say("criterion.skills.count", **counts)
        )
    else:
        value, text = 1.0, say("criterion.skills.none_required")
    out.append(_explained("skills", value, [text]))

    if p.required_languages:
        spoken = dict(v.languages)
        margins = []
        parts = []
        for code, level in p.required_languages:
            spoken_level = spoken.get(code, "")
            top = len("A1 A2 B1 B2 C1 C2 native".split()) - 1
            span = max(1, top - level_rank(level))
            margins.append(
                min(1.0, max(0.0, (level_rank(spoken_level) - level_rank(level)) / span)) * 0.5
                + 0.5
            )
            parts.append(
                say("criterion.languages.level", code=code, spoken=spoken_level, level=level)
            )
        out.append(_explained("languages", round(sum(margins) / len(margins), 4), parts))
    else:
        out.append(_explained("languages", 1.0, [say("criterion.languages.none_required")]))

    if not v.preferred_countries:
        out.append(_explained("preference", 0.5, [say("criterion.preference.none_stated")]))
    else:
        preferred = say("criterion.preference.preferred", agency=p.agency)
        out.append(_explained("preference", 1.0, [preferred]))

    in_domain = p.domain in v.domains
    domain = say("criterion.domain.known" if in_domain else "criterion.domain.new", domain=p.domain)
    out.append(_explained("domain", 1.0 if in_domain else 0.0, [domain]))

    days = (today - v.registered_at.date()).days if v.registered_at else 0
    value = min(1.0, max(0, days) / 365)
    waited = say("criterion.waiting.days", num=max(0, days))
    out.append(_explained("waiting", round(value, 4), [waited]))
    return out


def score(items: list[Criterion]) -> float:
    return round(sum(c.weight * c.value for c in items), 4)
