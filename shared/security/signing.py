"""Signed events: the relay signs each body; every consumer verifies it before anything else.

The signature travels as two AMQP headers, so the CloudEvent body stays byte-for-byte what the
outbox holds: `x-vir-signature` (base64url Ed25519 signature over the exact body bytes) and
`x-vir-key-id` (the `kid` of the key in the trust list).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from shared.events import Event
from shared.security.entitlements import entitlement_error
from shared.security.keys import SigningKey, b64url, b64url_decode
from shared.security.trust import TrustedKey, TrustList, TrustStore

SIGNATURE_HEADER = "x-vir-signature"
KEY_ID_HEADER = "x-vir-key-id"

# Reason codes of refused events, first word of the dead-letter reason header.
BAD_SIGNATURE = "bad-signature"
UNKNOWN_KEY = "unknown-key"
EXPIRED_KEY = "expired-key"
NOT_ENTITLED = "not-entitled"
ROUTING_MISMATCH = "routing-mismatch"
REASON_CODES = (BAD_SIGNATURE, UNKNOWN_KEY, EXPIRED_KEY, NOT_ENTITLED, ROUTING_MISMATCH)


class Refused(Exception):
    """An event that must not be applied; `code` is one of REASON_CODES."""

    def __init__(self, code: str, detail: str):
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail

    @property
    def reason(self) -> str:
        return f"{self.code}: {self.detail}"


class Signer:
    """Signs bodies with one service's key."""

    def __init__(self, key: SigningKey):
        self.key = key

    def headers(self, body: bytes) -> dict[str, str]:
        return {SIGNATURE_HEADER: b64url(self.key.sign(body)), KEY_ID_HEADER: self.key.kid}


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        try:
            return value.decode("ascii")
        except UnicodeDecodeError:
            return None
    return value if isinstance(value, str) else None


class Verifier:
    """Checks a delivery against the trust list and the entitlement table."""

    def __init__(
        self,
        trust: TrustStore | TrustList,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self._trust = trust
        self._clock = clock

    def trust_list(self) -> TrustList:
        return self._trust.current() if isinstance(self._trust, TrustStore) else self._trust

    def signer_of(self, body: bytes, headers: Mapping[str, Any] | None) -> TrustedKey:
        """The trusted key that signed `body`; raise Refused. Runs before the body is parsed."""
        headers = headers or {}
        kid = _text(headers.get(KEY_ID_HEADER))
        signature = _text(headers.get(SIGNATURE_HEADER))
        if not kid or not signature:
            raise Refused(BAD_SIGNATURE, "the message carries no signature")
        key = self.trust_list().get(kid)
        if key is None:
            raise Refused(UNKNOWN_KEY, f"key {kid[:80]!r} is not in the trust list")
        try:
            raw = b64url_decode(signature)
        except ValueError:
            raw = b""
        if not key.verifies(raw, body):
            raise Refused(BAD_SIGNATURE, f"signature does not verify with key {kid}")
        if not key.valid_at(self._clock()):
            raise Refused(EXPIRED_KEY, f"key {kid} of {key.principal} is not valid now")
        return key

    def check_event(self, key: TrustedKey, event: Event, routing_key: str) -> None:
        """The routing key is the body's own and the signer may say this; raise Refused."""
        if routing_key != event.routing_key:
            raise Refused(
                ROUTING_MISMATCH,
                f"routing key {routing_key[:200]!r} is not {event.routing_key!r}",
            )
        error = entitlement_error(key.principal, event)
        if error:
            raise Refused(NOT_ENTITLED, f"{event.type} signed by {key.principal}: {error}")
