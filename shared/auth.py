"""Bearer tokens: generated once, stored only as a hash, bound to an agency and a role."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"  # everything of its agency, including tokens
    STAFF = "staff"  # day-to-day work on its agency's data
    PARTNER = "partner"  # read-only, aggregates and non-personal data
    NODE = "node"  # a peer agency's machine: event feed, dossiers of confirmed matches


def new_token(agency: str) -> str:
    """A random token; its prefix tells operators which agency it belongs to."""
    return f"vir_{agency.lower()}_{secrets.token_urlsafe(32)}"


def hash_token(token: str) -> str:
    # Tokens carry 256 random bits: a plain SHA-256 cannot be brute-forced, and lookups stay O(1).
    return hashlib.sha256(token.encode()).hexdigest()


def bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def same_hash(a: str, b: str) -> bool:
    return hmac.compare_digest(a, b)
