"""Settings shared by every service, read from an environment mapping given by the service."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

AGENCY_CODE = re.compile(r"^[A-Z]{2}$")
# Values shipped in examples (deploy/.env.example, Options defaults): never a real secret.
PLACEHOLDER_PREFIXES = ("change-me", "changeme", "create-with-")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def _int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from exc


def _float(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from exc


@dataclass(frozen=True)
class MessagingSettings:
    amqp_url: str = "memory://"
    heartbeat: int = 30
    confirm_timeout: float = 10.0
    reconnect_max_delay: float = 15.0
    declare_topology: bool = True
    max_event_bytes: int = 256 * 1024  # bodies above are dead-lettered before parsing
    consumer_restart_delay: float = 1.0  # first wait before restarting a dead consumer
    consumer_connect_grace: float = 30.0  # not connected longer than this: not ready
    consumer_batch: int = 20  # events applied per transaction at most, when several are waiting
    # How long the first event of a batch may wait for others (0: only while more are at hand).
    consumer_linger: float = 0.0

    @property
    def embedded(self) -> bool:
        return self.amqp_url.startswith("memory://")


@dataclass(frozen=True)
class RelaySettings:
    batch_size: int = 1000
    idle_delay: float = 1.0  # safety-net poll: a commit of outbox rows wakes the relay at once
    # All of them: one relay drains the outbox in one transaction per wake-up. Fewer let several
    # relays of one service publish at once (each claims what the others do not hold).
    partitions_per_claim: int = 16
    backlog_warning: int = 10_000
    # Once woken, how long the relay waits before it reads, so that what commits meanwhile goes
    # in the same round (0: at once).
    linger: float = 0.0


@dataclass(frozen=True)
class SecuritySettings:
    """Where this service's signing key and the network's trust list live (files, never a DB)."""

    key_file: Path = Path("var/keys/signing-key.json")
    trust_list: Path = Path("var/trust-list.json")
    trust_reload_seconds: float = 5.0


@dataclass(frozen=True)
class Settings:
    service: str
    database_url: str
    agency_code: str | None = None
    messaging: MessagingSettings = field(default_factory=MessagingSettings)
    relay: RelaySettings = field(default_factory=RelaySettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    log_level: str = "INFO"

    @property
    def principal(self) -> str:
        """Who this service speaks for in the trust list: its agency, or itself."""
        return self.agency_code or self.service

    @property
    def source(self) -> str:
        """CloudEvents `source` of the events this service emits."""
        if self.agency_code:
            return f"/agencies/{self.agency_code}/{self.service}"
        return f"/network/{self.service}"


def is_placeholder(value: str | None) -> bool:
    return not value or value.strip().lower().startswith(PLACEHOLDER_PREFIXES)


def require_secret(name: str, value: str | None, messaging: MessagingSettings) -> None:
    """Outside the embedded demo (a real broker), refuse to start with an empty or example
    secret; the message names the variable to set."""
    if messaging.embedded or not is_placeholder(value):
        return
    what = "is not set" if not value else "still holds the example value"
    raise SettingsError(
        f"{name} {what}: set it to a long random secret of your own, e.g. "
        f'python3 -c "import secrets; print(secrets.token_urlsafe(32))"'
    )


def _check_url_password(name: str, url: str) -> None:
    password = urlsplit(url).password
    if password is not None and is_placeholder(password):
        raise SettingsError(f"{name} holds an example password: set a password of your own")


def load(service: str, environ: Mapping[str, str], var_dir: Path | None = None) -> Settings:
    """Build settings for `service` from `environ`; embedded defaults when nothing is set."""
    agency = environ.get("AGENCY_CODE") or None
    if agency is not None and not AGENCY_CODE.match(agency):
        raise SettingsError(
            f"AGENCY_CODE must be an ISO 3166 alpha-2 code such as TG, got {agency!r}"
        )
    var_dir = var_dir or Path(environ.get("VIR_VAR_DIR", "var"))
    default_db = f"sqlite:///{var_dir / (service + ('-' + agency if agency else '') + '.db')}"
    messaging = MessagingSettings(
        amqp_url=environ.get("AMQP_URL") or "memory://",
        heartbeat=_int(environ, "AMQP_HEARTBEAT", 30),
        confirm_timeout=_float(environ, "AMQP_CONFIRM_TIMEOUT", 10.0),
        reconnect_max_delay=_float(environ, "AMQP_RECONNECT_MAX_DELAY", 15.0),
        declare_topology=environ.get("AMQP_DECLARE_TOPOLOGY", "true").lower() != "false",
        max_event_bytes=_int(environ, "EVENT_MAX_BYTES", 256 * 1024),
        consumer_restart_delay=_float(environ, "CONSUMER_RESTART_DELAY", 1.0),
        consumer_connect_grace=_float(environ, "CONSUMER_CONNECT_GRACE", 30.0),
        consumer_batch=max(1, _int(environ, "CONSUMER_BATCH", 20)),
        consumer_linger=max(0.0, _float(environ, "CONSUMER_LINGER", 0.0)),
    )
    relay = RelaySettings(
        batch_size=_int(environ, "OUTBOX_BATCH_SIZE", 1000),
        idle_delay=_float(environ, "OUTBOX_IDLE_DELAY", 1.0),
        partitions_per_claim=_int(environ, "OUTBOX_PARTITIONS_PER_CLAIM", 16),
        backlog_warning=_int(environ, "OUTBOX_BACKLOG_WARNING", 10_000),
        linger=max(0.0, _float(environ, "OUTBOX_LINGER", 0.0)),
    )
    principal = agency or service
    security = SecuritySettings(
        key_file=Path(environ.get("SIGNING_KEY_FILE") or var_dir / "keys" / f"{principal}.json"),
        trust_list=Path(environ.get("TRUST_LIST_FILE") or var_dir / "trust-list.json"),
        trust_reload_seconds=_float(environ, "TRUST_LIST_RELOAD_SECONDS", 5.0),
    )
    _check_url_password("AMQP_URL", messaging.amqp_url)
    if environ.get("DATABASE_URL"):
        _check_url_password("DATABASE_URL", environ["DATABASE_URL"])
    return Settings(
        service=service,
        database_url=environ.get("DATABASE_URL") or default_db,
        agency_code=agency,
        messaging=messaging,
        relay=relay,
        security=security,
        log_level=environ.get("LOG_LEVEL", "INFO").upper(),
    )
