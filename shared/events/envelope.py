"""CloudEvents 1.0 structured JSON envelope: build, encode and decode events, checked both ways."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from marshmallow import ValidationError

from shared.events import contracts

CONTENT_TYPE = "application/cloudevents+json"
SPECVERSION = "1.0"
AGENCY = re.compile(r"^[A-Z]{2}$")
# CloudEvents extension attribute carrying the agency codes an event concerns, in order.
AGENCIES_ATTRIBUTE = "viragencies"


class InvalidEvent(ValueError):
    """A message is not a valid event of the contract; `reason` says why in one line."""

    def __init__(self, reason: str, errors: Mapping[str, Any] | None = None):
        super().__init__(reason)
        self.reason = reason
        self.errors = dict(errors or {})


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Event:
    type: str
    source: str
    subject: str
    agencies: tuple[str, ...]
    data: Mapping[str, Any]
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    time: datetime = field(default_factory=_now)
    version: int = 1

    @property
    def routing_key(self) -> str:
        """`<type>.<agency codes concerned>`, e.g. `match.proposed.TG.ML`."""
        return ".".join((self.type, *self.agencies))

    @property
    def dataschema(self) -> str:
        return contracts.dataschema_uri(self.type, self.version)


def new_event(
    type: str,
    *,
    source: str,
    subject: str,
    agencies: Sequence[str],
    data: Mapping[str, Any],
    version: int | None = None,
    id: str | None = None,
    time: datetime | None = None,
) -> Event:
    """Build an event and validate its data against the contract; raise InvalidEvent if not."""
    agencies = tuple(agencies)
    _check_agencies(agencies)
    if version is None:
        version = contracts.CURRENT_VERSION.get(type, 1)
    schema = _schema(type, version)
    try:
        clean = schema.load(dict(data))
    except ValidationError as exc:
        raise InvalidEvent(f"{type} v{version} data is invalid", {"data": exc.messages}) from exc
    return Event(
        type=type,
        source=source,
        subject=subject,
        agencies=agencies,
        data=schema.dump(clean),
        version=version,
        id=id or str(uuid.uuid4()),
        time=time or _now(),
    )


def to_dict(event: Event) -> dict[str, Any]:
    return {
        "specversion": SPECVERSION,
        "id": event.id,
        "source": event.source,
        "type": event.type,
        "subject": event.subject,
        "time": event.time.isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "dataschema": event.dataschema,
        AGENCIES_ATTRIBUTE: ".".join(event.agencies),
        "data": dict(event.data),
    }


def encode(event: Event) -> bytes:
    """Structured-mode JSON, the body of every AMQP message and outbox row."""
    return json.dumps(to_dict(event), separators=(",", ":"), ensure_ascii=False).encode()


def decode(body: bytes | str) -> Event:
    """Parse and validate a structured CloudEvent against the contract; raise InvalidEvent."""
    try:
        raw = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidEvent(f"body is not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise InvalidEvent("body is not a JSON object")
    missing = [
        k for k in ("specversion", "id", "source", "type", "subject", "data") if k not in raw
    ]
    if missing:
        raise InvalidEvent(f"missing CloudEvents attributes: {', '.join(missing)}")
    if raw["specversion"] != SPECVERSION:
        raise InvalidEvent(f"unsupported specversion {raw['specversion']!r}")
    for key in ("id", "source", "type", "subject"):
        if not isinstance(raw[key], str) or not raw[key]:
            raise InvalidEvent(f"attribute {key!r} must be a non-empty string")
    version = contracts.version_from_dataschema(raw.get("dataschema"), raw["type"])
    if version is None:
        raise InvalidEvent(f"dataschema {raw.get('dataschema')!r} does not name {raw['type']}")
    agencies = (
        tuple(str(raw.get(AGENCIES_ATTRIBUTE, "")).split("."))
        if raw.get(AGENCIES_ATTRIBUTE)
        else ()
    )
    _check_agencies(agencies)
    try:
        time = datetime.fromisoformat(str(raw.get("time", "")).replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidEvent(
            f"attribute 'time' is not an RFC 3339 timestamp: {raw.get('time')!r}"
        ) from exc
    if not isinstance(raw["data"], dict):
        raise InvalidEvent("attribute 'data' must be a JSON object")
    return new_event(
        raw["type"],
        source=raw["source"],
        subject=raw["subject"],
        agencies=agencies,
        data=raw["data"],
        version=version,
        id=raw["id"],
        time=time,
    )


def _schema(type: str, version: int):  # noqa: ANN202 - marshmallow Schema instance
    try:
        return contracts.schema_for(type, version)
    except KeyError as exc:
        raise InvalidEvent(f"unknown event type {type!r} version {version}") from exc


def _check_agencies(agencies: tuple[str, ...]) -> None:
    if not agencies:
        raise InvalidEvent(f"an event must name the agencies it concerns ({AGENCIES_ATTRIBUTE})")
    bad = [a for a in agencies if not AGENCY.match(a)]
    if bad:
        raise InvalidEvent(f"not ISO 3166 alpha-2 agency codes: {', '.join(bad)}")
