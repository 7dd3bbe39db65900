"""Check-ins of a mission in progress: when they fall due, and who is reminded when.

Three check-ins per mission (`first`, `mid_term`, `final`), each answered twice: by the host
agency and by the volunteer (through a signed link, no account). Both nodes name a check-in by
its code, so the schedule's days are a local setting (`Schedule`): moving a reminder by a few days
needs no renegotiation of the agreement's terms (a new terms hash both parties re-approve), and
the two nodes still agree on which check-in an answer belongs to.

Who is reminded, by whom: each node reminds its own respondent (the host node its staff, the
sending node its volunteer) before and after the due date; once a check-in is overdue by
`Policy.overdue_days`, the sending node — the volunteer's agency, with the duty of care — alerts
both agencies' staff in one event. Each reminder is recorded with the mobility, so running the
job again (or twice at once, serialised by the row lock) sends nothing new.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from services.registry.domain.errors import InvalidInput
from services.registry.domain.messages import msg

SCORES = ("wellbeing", "integration", "workload")


@dataclass(frozen=True)
class Schedule:
    """Defaults: two weeks after the start, half-way, two weeks before the planned end."""

    first_after_days: int = 14
    final_before_days: int = 14

    def due_dates(self, start: date, planned_end: date) -> dict[str, date]:
        first = start + timedelta(days=self.first_after_days)
        mid = start + (planned_end - start) / 2
        final = max(planned_end - timedelta(days=self.final_before_days), mid)
        return {"first": first, "mid_term": max(mid, first), "final": final}


@dataclass(frozen=True)
class Policy:
    """Reminders `before_days` ahead and `after_days` late; the alert `overdue_days` late."""

    before_days: int = 3
    after_days: int = 2
    overdue_days: int = 7

    def stages(self, today: date, due: date) -> list[str]:
        out = []
        if today >= due - timedelta(days=self.before_days):
            out.append("before")
        if today >= due + timedelta(days=self.after_days):
            out.append("after")
        if today >= due + timedelta(days=self.overdue_days):
            out.append("overdue")
        return out


def validated_answers(answers: dict[str, Any]) -> dict[str, Any]:
    """Scores 1–5 and issues yes/no: the structured part that crosses borders."""
    out: dict[str, Any] = {}
    for score in SCORES:
        value = answers.get(score)
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 5:
            raise InvalidInput(msg("mobility.score_range", name=score), score)
        out[score] = value
    if not isinstance(answers.get("issues"), bool):
        raise InvalidInput(msg("mobility.issues_yes_no"), "issues")
    out["issues"] = answers["issues"]
    return out
