"""What no body can do to `decode`: every hostile shape ends as InvalidEvent with a reason."""

from __future__ import annotations

import json
import time

import pytest

from shared.events import InvalidEvent, decode, encode, new_event
from shared.events.envelope import MAX_ATTRIBUTE_LENGTH, MAX_BODY_BYTES, MAX_DEPTH, check_depth
from shared.events.examples import EXAMPLES


def _event_body(**changes: object) -> dict:
    agencies, data = EXAMPLES["volunteer.withdrawn"]
    event = new_event(
        "volunteer.withdrawn",
        source="/agencies/TG/registry",
        subject="vol-1",
        agencies=agencies,
        data=data,
    )
    body = json.loads(encode(event))
    body.update(changes)
    return body


def _refused(body: bytes | str) -> str:
    with pytest.raises(InvalidEvent) as info:
        decode(body)
    return info.value.reason


@pytest.mark.parametrize("levels", [1_000, 100_000])
def test_deeply_nested_bodies_are_refused_without_recursion(levels):
    nested = "[" * levels + "]" * levels
    as_data = json.dumps(_event_body()).replace('"data": {', '"data": {"x": ' + nested + ", ", 1)
    for body in (nested.encode(), as_data.encode()):
        assert f"nested deeper than {MAX_DEPTH} levels" in _refused(body)


def test_nesting_deeper_than_the_limit_is_refused_even_when_unbalanced():
    assert "nested deeper" in _refused(b"{" * (MAX_DEPTH + 1))


def test_brackets_inside_strings_do_not_count_as_nesting():
    body = _event_body(subject='[[[{{{\\"' + "[" * 200)
    check_depth(json.dumps(body).encode())  # raises nothing
    assert "subject" in _refused(json.dumps(body))  # refused for its length, not its nesting


def test_an_escaped_backslash_ends_before_the_closing_quote():
    # "a\\" is a string ending in one backslash: the brackets after it are structure again.
    body = b'{"s":"a\\\\",' + b'"x":' + b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1) + b"}"
    with pytest.raises(InvalidEvent, match="nested deeper"):
        check_depth(body)


def test_nesting_within_the_limit_is_accepted():
    check_depth(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH)
    agencies, data = EXAMPLES["match.proposed"]  # the deepest contract: criteria[].{...}
    event = new_event(
        "match.proposed", source="/network/matching", subject="m", agencies=agencies, data=data
    )
    assert decode(encode(event)) == event


def test_bodies_over_the_limit_are_refused_before_parsing():
    body = _event_body()
    body["data"]["reason"] = "x" * (10 * 1024 * 1024)
    raw = json.dumps(body).encode()
    started = time.perf_counter()
    reason = _refused(raw)
    assert f"exceeds the limit of {MAX_BODY_BYTES} bytes" in reason
    assert time.perf_counter() - started < 0.5  # never parsed
    assert "exceeds the limit of 100 bytes" in _refused_with_limit(encode_ok(), 100)


def encode_ok() -> bytes:
    return json.dumps(_event_body()).encode()


def _refused_with_limit(body: bytes, limit: int) -> str:
    with pytest.raises(InvalidEvent) as info:
        decode(body, max_bytes=limit)
    return info.value.reason


def test_invalid_utf8_is_refused():
    raw = json.dumps(_event_body(subject="vol-X")).encode().replace(b"vol-X", b"vol-\xc3\x28")
    assert "not valid UTF-8" in _refused(raw)
    assert "not valid UTF-8" in _refused(b'{"id": "\xed\xa0\x80"}')  # an encoded surrogate


def test_unpaired_surrogates_spelled_as_json_escapes_are_refused():
    raw = json.dumps(_event_body(subject="vol-1")).replace("vol-1", "vol-\\ud800")
    assert "surrogate" in _refused(raw)


@pytest.mark.parametrize("attribute", sorted(MAX_ATTRIBUTE_LENGTH))
def test_every_id_like_attribute_has_a_maximum_length(attribute):
    longest = MAX_ATTRIBUTE_LENGTH[attribute]
    assert f"{attribute!r} is longer than {longest}" in _refused(
        json.dumps(_event_body(**{attribute: "a" * (longest + 1)}))
    )


def test_long_ids_are_refused_with_a_short_reason():
    reason = _refused(json.dumps(_event_body(id="e" * 200_000)))
    assert reason == f"attribute 'id' is longer than {MAX_ATTRIBUTE_LENGTH['id']} characters"
    assert "exceeds the limit" in _refused(json.dumps(_event_body(id="e" * 2_000_000)))


def test_ids_in_event_data_have_the_contract_maximum_length():
    body = _event_body()
    body["data"]["volunteer_id"] = "v" * 65
    with pytest.raises(InvalidEvent) as info:
        decode(json.dumps(body))
    assert "volunteer_id" in info.value.errors["data"]


def test_new_event_refuses_attributes_that_a_consumer_would_refuse():
    agencies, data = EXAMPLES["volunteer.withdrawn"]
    with pytest.raises(InvalidEvent, match="'subject' is longer than 128"):
        new_event(
            "volunteer.withdrawn",
            source="/agencies/TG/registry",
            subject="s" * 129,
            agencies=agencies,
            data=data,
        )


def test_unknown_fields_are_refused():
    body = _event_body()
    body["data"]["phone"] = "+228 90 00 00 00"
    with pytest.raises(InvalidEvent) as info:
        decode(json.dumps(body))
    assert "phone" in info.value.errors["data"]


def test_error_messages_quote_at_most_a_short_excerpt_of_hostile_values():
    reason = _refused(json.dumps(_event_body(time="t" * 100_000)))
    assert "not an RFC 3339 timestamp" in reason and len(reason) < 200
    reason = _refused(json.dumps(_event_body(specversion="9" * 100_000)))
    assert "unsupported specversion" in reason and len(reason) < 200


@pytest.mark.parametrize(
    "body",
    [
        b"[]" * (MAX_BODY_BYTES // 2),
        json.dumps({"s": "[{" * (MAX_BODY_BYTES // 2 - 10)}).encode(),
        json.dumps({"s": '\\"[' * (MAX_BODY_BYTES // 5)}).encode()[:MAX_BODY_BYTES],
        b'"' * MAX_BODY_BYTES,
        b'"' + b"\\" * (MAX_BODY_BYTES - 1),
    ],
    ids=["bracket-pairs", "brackets-in-a-string", "unterminated-escapes", "quotes", "backslashes"],
)
def test_the_depth_scan_of_a_worst_case_body_stays_cheap(body):
    assert len(body) <= MAX_BODY_BYTES
    started = time.perf_counter()
    check_depth(body)
    assert time.perf_counter() - started < 1.0  # 3 to 60 ms here
