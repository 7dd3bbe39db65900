"""When to try a failed delivery again: bounded schedules with jitter, honouring Retry-After."""

from __future__ import annotations

import random
from datetime import timedelta

# Webhooks: a receiver may be down for hours; 8 attempts spread over about a day and a half.
WEBHOOK_SCHEDULE = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
)
# E-mail, SMS and the partner feed: the provider is ours, a short ladder is enough.
MESSAGE_SCHEDULE = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
)
# An endpoint failing for this long is disabled and its owner told.
DISABLE_AFTER = timedelta(days=3)
JITTER = 0.1


def schedule_for(channel: str) -> tuple[timedelta, ...]:
    return WEBHOOK_SCHEDULE if channel == "webhook" else MESSAGE_SCHEDULE


def next_delay(
    channel: str,
    attempts: int,
    retry_after: timedelta | None = None,
    rng: random.Random | None = None,
) -> timedelta | None:
    """Delay before attempt number `attempts + 1`, or None when the schedule is exhausted."""
    schedule = schedule_for(channel)
    if attempts > len(schedule):
        return None
    base = schedule[attempts - 1]
    jitter = 1 + (rng or random).uniform(-JITTER, JITTER)
    delay = base * jitter
    if retry_after is not None and retry_after > delay:
        delay = min(retry_after, timedelta(hours=24))
    return delay
