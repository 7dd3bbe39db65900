"""The exchanges: match proposals, mobilities and their steps, agreements, the notifications log."""

from services.registry.dashboard.exchanges import (
    agreements,
    mobilities,
    notifications,
    proposals,
    steps,
)
from services.registry.dashboard.exchanges.blueprint import bp

__all__ = ["agreements", "bp", "mobilities", "notifications", "proposals", "steps"]
