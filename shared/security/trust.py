"""The trust list: which public key speaks for which agency or network service, and when.

Format (JSON, `"format": "vir-trust-list/1"`):

    {"format": "vir-trust-list/1",
     "principals": {
       "TG": {"keys": [{"kid": "TG-2026", "kty": "OKP", "crv": "Ed25519", "x": "<base64url>",
                        "not_before": "2026-01-01T00:00:00Z", "not_after": null}]},
       "matching": {"keys": [...]}}}

A principal is an agency (ISO 3166 alpha-2 code) or a network service (`matching`,
`notifications`). A key id belongs to one principal only. `not_before`/`not_after` are optional
RFC 3339 times (null: unbounded); a principal may hold several keys at once while keys rotate.
Nodes load the file at start and re-read it when it changes (`TrustStore`).
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nacl.exceptions import CryptoError
from nacl.signing import VerifyKey

from shared.logging import get_logger
from shared.security.keys import SigningKey, b64url_decode

log = get_logger(__name__)

FORMAT = "vir-trust-list/1"
NETWORK_SERVICES = ("matching", "notifications")
_AGENCY = re.compile(r"^[A-Z]{2}$")


class TrustListError(ValueError):
    """The trust list document is malformed; the message says where."""


@dataclass(frozen=True)
class TrustedKey:
    kid: str
    principal: str
    public: VerifyKey
    not_before: datetime | None = None
    not_after: datetime | None = None

    def verifies(self, signature: bytes, body: bytes) -> bool:
        """True when `signature` is this key's Ed25519 signature of exactly `body`."""
        try:
            self.public.verify(body, signature)
        except (CryptoError, ValueError, TypeError):
            return False
        return True

    def valid_at(self, when: datetime) -> bool:
        if self.not_before is not None and when < self.not_before:
            return False
        return self.not_after is None or when < self.not_after


@dataclass(frozen=True)
class TrustList:
    keys: Mapping[str, TrustedKey]

    @classmethod
    def empty(cls) -> TrustList:
        return cls({})

    def get(self, kid: str) -> TrustedKey | None:
        return self.keys.get(kid)

    def principals(self) -> set[str]:
        return {k.principal for k in self.keys.values()}


def _time(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise TrustListError(f"{where}: not an RFC 3339 time: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_trust_list(document: Mapping[str, Any]) -> TrustList:
    if document.get("format") != FORMAT:
        raise TrustListError(f"format must be {FORMAT!r}")
    principals = document.get("principals")
    if not isinstance(principals, dict):
        raise TrustListError("principals must be an object")
    keys: dict[str, TrustedKey] = {}
    for principal, entry in principals.items():
        if not (_AGENCY.match(principal) or principal in NETWORK_SERVICES):
            raise TrustListError(f"{principal!r} is neither an agency code nor a network service")
        for i, jwk in enumerate((entry or {}).get("keys", [])):
            where = f"principals.{principal}.keys[{i}]"
            if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
                raise TrustListError(f"{where}: only OKP/Ed25519 keys are accepted")
            kid = jwk.get("kid")
            if not isinstance(kid, str) or not kid:
                raise TrustListError(f"{where}: kid is required")
            if kid in keys:
                raise TrustListError(f"{where}: kid {kid!r} appears twice")
            try:
                public = VerifyKey(b64url_decode(str(jwk.get("x", ""))))
            except (CryptoError, ValueError, TypeError) as exc:
                raise TrustListError(f"{where}: x is not an Ed25519 public key") from exc
            keys[kid] = TrustedKey(
                kid,
                principal,
                public,
                _time(jwk.get("not_before"), where + ".not_before"),
                _time(jwk.get("not_after"), where + ".not_after"),
            )
    return TrustList(keys)


def trusted_jwk(
    key: SigningKey, not_before: datetime | None = None, not_after: datetime | None = None
) -> dict[str, Any]:
    """A trust list entry for `key`'s public half."""
    jwk = {k: v for k, v in key.public_jwk().items() if k in ("kid", "kty", "crv", "x")}

    def iso(t: datetime | None) -> str | None:
        return t.astimezone(UTC).isoformat().replace("+00:00", "Z") if t else None

    return {**jwk, "not_before": iso(not_before), "not_after": iso(not_after)}


def trust_list_document(entries: Iterable[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """A trust list document from (principal, trusted_jwk(...)) pairs."""
    principals: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for principal, jwk in entries:
        principals.setdefault(principal, {"keys": []})["keys"].append(jwk)
    return {"format": FORMAT, "principals": principals}


def load_trust_list(path: Path) -> TrustList:
    return parse_trust_list(json.loads(path.read_text()))


class TrustStore:
    """The current trust list of a node, re-read when its file changes (checked at most every
    `interval` seconds, on use). A broken new version is logged and the last good one kept;
    a missing file trusts nobody."""

    def __init__(
        self, path: Path, interval: float = 5.0, clock: Callable[[], float] = time.monotonic
    ):
        self.path = path
        self.interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._checked_at: float | None = None
        self._current = TrustList.empty()
        self.refresh(force=True)

    def current(self) -> TrustList:
        now = self._clock()
        if self._checked_at is None or now - self._checked_at >= self.interval:
            self.refresh()
        return self._current

    def refresh(self, force: bool = False) -> None:
        with self._lock:
            self._checked_at = self._clock()
            try:
                st = self.path.stat()
            except FileNotFoundError:
                if self._stamp is not None or force:
                    log.warning("trust_list.missing", path=str(self.path))
                self._stamp, self._current = None, TrustList.empty()
                return
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
            if stamp == self._stamp and not force:
                return
            try:
                loaded = load_trust_list(self.path)
            except (OSError, ValueError) as exc:
                log.error("trust_list.invalid", path=str(self.path), error=str(exc))
                return
            self._stamp, self._current = stamp, loaded
            log.info(
                "trust_list.loaded",
                path=str(self.path),
                keys=len(loaded.keys),
                principals=sorted(loaded.principals()),
            )


def write_trust_list(path: Path, document: Mapping[str, Any]) -> None:
    """Replace the trust list atomically (readers never see half a file), mode 0600."""
    parse_trust_list(document)  # never publish a list nodes would refuse
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(document, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)
