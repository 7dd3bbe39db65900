"""The event envelope (CloudEvents 1.0) and the public event contracts."""

from shared.events.envelope import CONTENT_TYPE, Event, InvalidEvent, decode, encode, new_event

__all__ = ["CONTENT_TYPE", "Event", "InvalidEvent", "decode", "encode", "new_event"]
