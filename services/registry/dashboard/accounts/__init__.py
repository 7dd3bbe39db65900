"""Staff accounts: the store (passwords, sessions, throttle) and the sign-in pages (views)."""

from services.registry.dashboard.accounts.store import (
    AccountError,
    Throttle,
    authenticate,
    create_account,
    end_session,
    open_session,
    session_account,
)

__all__ = [
    "AccountError",
    "Throttle",
    "authenticate",
    "create_account",
    "end_session",
    "open_session",
    "session_account",
]
