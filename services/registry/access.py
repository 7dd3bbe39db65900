"""Who may call what on a registry node (the rules live in shared.access, shared by services)."""

from shared.access import (
    PUBLIC_PREFIXES,
    READERS,
    STAFF,
    Actor,
    actor,
    allow,
    authenticate,
    create_token,
)

__all__ = [
    "PUBLIC_PREFIXES",
    "READERS",
    "STAFF",
    "Actor",
    "actor",
    "allow",
    "authenticate",
    "create_token",
]
