"""Signing keys and a trust list for the whole test session, so signed events need no ceremony.

One keyring per test process (or per `VIR_TEST_KEYRING` directory, shared with subprocesses):
a key for TG, ML, NE, matching and notifications and a trust list naming all of them.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from shared.events import Event, encode
from shared.security import (
    Signer,
    SigningKey,
    TrustStore,
    Verifier,
    load_or_create_key,
    principal_of_source,
    trust_list_document,
    trusted_jwk,
    write_trust_list,
)

PRINCIPALS = ("TG", "ML", "NE", "matching", "notifications")
# Each principal also has a key whose validity ended long ago (still in the trust list).
EXPIRED_WINDOW = (datetime(2020, 1, 1, tzinfo=UTC), datetime(2021, 1, 1, tzinfo=UTC))
KEYRING_ENV = "VIR_TEST_KEYRING"


@dataclass(frozen=True)
class Keyring:
    directory: Path

    @property
    def trust_list(self) -> Path:
        return self.directory / "trust-list.json"

    def key_file(self, principal: str) -> Path:
        return self.directory / f"{principal}.json"

    def key(self, principal: str) -> SigningKey:
        return load_or_create_key(self.key_file(principal), principal)

    def env(self, principal: str) -> dict[str, str]:
        """Settings variables of a service speaking for `principal`."""
        return {
            "SIGNING_KEY_FILE": str(self.key_file(principal)),
            "TRUST_LIST_FILE": str(self.trust_list),
            "TRUST_LIST_RELOAD_SECONDS": "0.2",
        }

    def expired_key(self, principal: str) -> SigningKey:
        return load_or_create_key(self.directory / f"{principal}-expired.json", principal)

    def signer(self, principal: str) -> Signer:
        return Signer(self.key(principal))

    def verifier(self) -> Verifier:
        return Verifier(TrustStore(self.trust_list, interval=0.2))

    def headers(self, body: bytes, principal: str) -> dict[str, Any]:
        return dict(self.signer(principal).headers(body))

    def signed(self, event: Event, principal: str | None = None) -> tuple[bytes, dict[str, Any]]:
        """`event`'s body and signature headers, signed by `principal` (default: its source)."""
        body = encode(event)
        who = principal or principal_of_source(event.source)
        assert who, f"no principal in source {event.source}"
        return body, self.headers(body, who)


@cache
def keyring() -> Keyring:
    existing = os.environ.get(KEYRING_ENV)
    directory = Path(existing) if existing else Path(tempfile.mkdtemp(prefix="vir-keys-"))
    ring = Keyring(directory)
    if not ring.trust_list.exists():
        write_trust_list(
            ring.trust_list,
            trust_list_document(
                [
                    *((p, trusted_jwk(ring.key(p))) for p in PRINCIPALS),
                    *((p, trusted_jwk(ring.expired_key(p), *EXPIRED_WINDOW)) for p in PRINCIPALS),
                ]
            ),
        )
    os.environ[KEYRING_ENV] = str(directory)  # subprocesses of the tests use the same keys
    return ring


def write_list(path: Path, entries: list[tuple[str, dict[str, Any]]]) -> None:
    """A test's own trust list (e.g. before and after a third country joins)."""
    write_trust_list(path, trust_list_document(entries))


def read_list(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())
