"""A service's Ed25519 signing key: one JSON Web Key file, readable by its owner only."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nacl.signing import SigningKey as Ed25519PrivateKey


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class SigningKey:
    kid: str
    principal: str
    private: Ed25519PrivateKey

    def public_x(self) -> str:
        return b64url(self.private.verify_key.encode())

    def public_jwk(self) -> dict[str, Any]:
        """The public half as a JWK (RFC 8037 OKP), as served at /.well-known/jwks.json."""
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": self.public_x(),
            "kid": self.kid,
            "use": "sig",
            "alg": "EdDSA",
        }

    def sign(self, body: bytes) -> bytes:
        return self.private.sign(body).signature


def new_kid(principal: str, when: datetime | None = None) -> str:
    stamp = (when or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S")
    return f"{principal}-{stamp}-{b64url(os.urandom(4))}"


def create_key_file(path: Path, principal: str, kid: str | None = None) -> SigningKey:
    """Make a new key in `path` (mode 0600, never overwritten); return it."""
    key = SigningKey(kid or new_kid(principal), principal, Ed25519PrivateKey.generate())
    raw = key.private.encode()
    document = {**key.public_jwk(), "d": b64url(raw), "principal": principal}
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        raise FileExistsError(str(path))
    # Written whole under a private name, then linked into place: link() fails if the file
    # exists, so two processes starting at once (API and relay) never overwrite each other's
    # key, and no one ever reads a half-written file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(document, f, indent=2)
            f.write("\n")
        os.link(tmp, path)
    finally:
        tmp.unlink()
    return key


def load_key_file(path: Path) -> SigningKey:
    document = json.loads(path.read_text())
    if document.get("kty") != "OKP" or document.get("crv") != "Ed25519":
        raise ValueError(f"{path}: not an Ed25519 JSON Web Key")
    private = Ed25519PrivateKey(b64url_decode(document["d"]))
    return SigningKey(str(document["kid"]), str(document.get("principal", "")), private)


def load_or_create_key(path: Path, principal: str) -> SigningKey:
    """The key of a service: created on its first start."""
    try:
        return create_key_file(path, principal)
    except FileExistsError:
        return load_key_file(path)
