"""Passwords of a national broker's users, given at install time: salted hashes in RabbitMQ's
format filled into the definitions federation.py generates (which never hold a password)."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Mapping
from typing import Any


def password_hash(password: str, salt: bytes | None = None) -> str:
    """RabbitMQ's `rabbit_password_hashing_sha256`: base64(salt + sha256(salt + password))."""
    salt = os.urandom(4) if salt is None else salt
    digest = hashlib.sha256(salt + password.encode()).digest()
    return base64.b64encode(salt + digest).decode()


def password_users(definitions: Mapping[str, Any]) -> list[str]:
    """Users that log in with a password (every one but the federation links')."""
    return [
        u["name"] for u in definitions.get("users", []) if not u["name"].startswith("federation-")
    ]


def with_passwords(
    definitions: Mapping[str, Any], passwords: Mapping[str, str], salt: bytes | None = None
) -> dict[str, Any]:
    """A copy of `definitions` whose password users carry salted hashes of `passwords` (every
    one must be given; federation users stay certificate-only). The result holds secrets."""
    wanted = password_users(definitions)
    missing = [name for name in wanted if not passwords.get(name)]
    if missing:
        raise ValueError(f"no password given for: {', '.join(missing)}")
    unknown = sorted(set(passwords) - set(wanted))
    if unknown:
        raise ValueError(f"passwords for users that are not in the definitions: {unknown}")
    out = dict(definitions)
    out["users"] = [
        {**u, "password_hash": password_hash(passwords[u["name"]], salt)}
        if u["name"] in passwords
        else dict(u)
        for u in definitions["users"]
    ]
    return out


def parse_passwords(text: str) -> dict[str, str]:
    """`user=password` lines (blank lines and `#` comments ignored)."""
    out: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, password = line.partition("=")
        if not sep or not name.strip() or not password:
            raise ValueError(f"line {number}: expected user=password")
        out[name.strip()] = password
    return out
