"""CloudEvents 1.0 structured JSON envelope: build, encode and decode events, checked both ways."""

from __future__ import annotations

import json
import re
import uuid
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import accumulate
from typing import Any

from marshmallow import ValidationError

from shared.events import contracts

CONTENT_TYPE = "application/cloudevents+json"
SPECVERSION = "1.0"
AGENCY = re.compile(r"^[A-Z]{2}$")
# CloudEvents extension attribute carrying the agency codes an event concerns, in order.
AGENCIES_ATTRIBUTE = "viragencies"

# Limits a consumer enforces before it trusts anything a message says. The attribute lengths
# match the columns that store them (shared/db.py: inbox and outbox; notifications' deliveries).
MAX_BODY_BYTES = 256 * 1024  # default of the EVENT_MAX_BYTES setting
MAX_DEPTH = 32  # JSON nesting; the deepest contract (data.criteria[].x) needs 4
MAX_ATTRIBUTE_LENGTH = {"id": 64, "source": 255, "type": 64, "subject": 128}
# A JSON string, or an unterminated one up to the end; possessive, so it never backtracks and
# the scan stays linear whatever the quotes and backslashes.
_STRING = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # as signed bytes: +1, -1


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
    # `data` as the contract loaded it (dates as dates) when `new_event` checked it: the typed
    # payload (shared/events/typed.py) is built from it without loading `data` a second time.
    loaded: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)

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
    for key, value in (("type", type), ("source", source), ("subject", subject), ("id", id)):
        if value is not None and len(value) > MAX_ATTRIBUTE_LENGTH[key]:
            raise InvalidEvent(
                f"attribute {key!r} is longer than {MAX_ATTRIBUTE_LENGTH[key]} characters"
            )
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
        loaded=clean,
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


def check_depth(body: bytes, limit: int = MAX_DEPTH) -> None:
    """Refuse JSON nested deeper than `limit`, by counting brackets outside strings.

    Runs before the parser, without recursion and in C loops (a regular expression drops the
    strings, `translate` keeps the brackets as +1/-1, `accumulate` gives the depth at each),
    so no nesting can make the parser, or anything walking its result, exhaust the stack.
    A body whose depth ever goes below zero is not JSON, and the parser stops at that point.
    """
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS).translate(_STEPS)
    if max(accumulate(array("b", brackets)), default=0) > limit:
        raise InvalidEvent(f"body is nested deeper than {limit} levels")


def decode(body: bytes | str, max_bytes: int = MAX_BODY_BYTES) -> Event:
    """Parse and validate a structured CloudEvent against the contract; raise InvalidEvent.

    Size, encoding and nesting are checked before parsing: nothing a body holds can make this
    function raise anything but InvalidEvent.
    """
    data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else bytes(body)
    if len(data) > max_bytes:
        raise InvalidEvent(f"body of {len(data)} bytes exceeds the limit of {max_bytes} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidEvent(f"body is not valid UTF-8 (byte {exc.start})") from exc
    check_depth(data)
    try:
        raw = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise InvalidEvent(f"body is not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise InvalidEvent("body is not a JSON object")
    try:  # JSON escapes can still spell unpaired surrogates, which no database column stores
        json.dumps(raw, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidEvent("body holds an unpaired UTF-16 surrogate") from exc
    missing = [
        k for k in ("specversion", "id", "source", "type", "subject", "data") if k not in raw
    ]
    if missing:
        raise InvalidEvent(f"missing CloudEvents attributes: {', '.join(missing)}")
    if raw["specversion"] != SPECVERSION:
        raise InvalidEvent(f"unsupported specversion {_short(raw['specversion'])}")
    for key, longest in MAX_ATTRIBUTE_LENGTH.items():
        if not isinstance(raw[key], str) or not raw[key]:
            raise InvalidEvent(f"attribute {key!r} must be a non-empty string")
        if len(raw[key]) > longest:
            raise InvalidEvent(f"attribute {key!r} is longer than {longest} characters")
    version = contracts.version_from_dataschema(raw.get("dataschema"), raw["type"])
    if version is None:
        raise InvalidEvent(
            f"dataschema {_short(raw.get('dataschema'))} does not name {_short(raw['type'])}"
        )
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
            f"attribute 'time' is not an RFC 3339 timestamp: {_short(raw.get('time'))}"
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


def _short(value: object, length: int = 80) -> str:
    """A value for an error message: a hostile body's values can be very long."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= length else text[: length - 1] + "…"


def _schema(type: str, version: int):  # noqa: ANN202 - marshmallow Schema instance
    try:
        return contracts.schema_for(type, version)
    except KeyError as exc:
        raise InvalidEvent(f"unknown event type {_short(type)} version {version}") from exc


def _check_agencies(agencies: tuple[str, ...]) -> None:
    if not agencies:
        raise InvalidEvent(f"an event must name the agencies it concerns ({AGENCIES_ATTRIBUTE})")
    bad = [a for a in agencies if not AGENCY.match(a)]
    if bad:
        raise InvalidEvent(f"not ISO 3166 alpha-2 agency codes: {_short(', '.join(bad))}")
