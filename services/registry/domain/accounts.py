"""Dashboard sign-in rules: lockout after repeated failures."""

from __future__ import annotations

from datetime import datetime, timedelta

MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)


def is_locked(locked_until: datetime | None, now: datetime) -> bool:
    return locked_until is not None and locked_until > now


def after_failure(failures: int, now: datetime) -> tuple[int, datetime | None]:
    """Count one more failure; the fifth in a row locks the account for 15 minutes."""
    failures += 1
    if failures >= MAX_FAILURES:
        return 0, now + LOCKOUT
    return failures, None
