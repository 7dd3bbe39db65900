"""The import's batched validation gives what `VolunteerIn` gives, row by row (no I/O)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from marshmallow import ValidationError

from services.registry.imports import COLUMNS, RowValidator, row_payload
from services.registry.schemas import VolunteerIn


def _row(n: int) -> dict[str, Any]:
    return {
        "first_name": "Ama",
        "last_name": f"Mensah{n}",
        "date_of_birth": f"19{70 + n % 30}-0{1 + n % 9}-1{n % 10}",
        "gender": ("female", "male", "F", "x")[n % 4],
        "nationality": ("TG", "ml", "QQ")[n % 3],
        "identity_number": f"TG-{n:07d}",
        "email": (f"v{n}@example.org", "not an address", "")[n % 3],
        "phone": "+228 90 00 00 00",
        "preferred_language": ("fr", "en", "de")[n % 3],
        "languages": ("fr:native;ee:B2", "fr:native;qq:B2", "fr", "", "en:C1")[n % 5],
        "skills": ("public health;first aid", "", "x" * 81)[n % 3],
        "domains": ("health;education", ";".join(f"d{i}" for i in range(21)), "")[n % 3],
        "education_level": ("master", "", "guru")[n % 3],
        "available_from": ("2017-09-01", "", "2019-01-01")[n % 3],
        "available_until": ("2018-08-31", "2018-01-01", "")[n % 3],
        "preferred_countries": ("ML;NE", "zz", "")[n % 3],
        "consent_given_at": ("2017-06-01T10:00:00Z", "", "01/06/2017")[n % 3],
        "consent_purposes": ("registration;matching", "", "registration;spam")[n % 3],
        "notes": "",
    }


def _outcome(load: Any, payload: dict[str, Any]) -> tuple[str, Any]:
    try:
        return "ok", load(payload)
    except ValidationError as exc:
        return "refused", exc.messages


def test_every_row_is_loaded_or_refused_exactly_as_by_the_schema():
    rows = [_row(n) for n in range(3_000)]
    random.Random(7).shuffle(rows)
    batched, schema = RowValidator(), VolunteerIn()
    outcomes = {"ok": 0, "refused": 0}
    for raw in rows:
        payload = row_payload(raw)
        expected, got = _outcome(schema.load, payload), _outcome(batched.load, payload)
        assert got == expected, raw
        if expected[0] == "refused":  # the same messages, in the same order
            assert list(got[1]) == list(expected[1])
        outcomes[expected[0]] += 1
    # The file mixes good rows and rows with every kind of error.
    assert outcomes["ok"] > 50 and outcomes["refused"] > 1_000


def test_rows_never_share_a_loaded_list_or_dict():
    batched = RowValidator()
    first = batched.load(row_payload(_row(0)))
    second = batched.load(row_payload({**_row(0), "identity_number": "TG-0000099"}))
    assert first["languages"] == second["languages"]
    first["languages"][0]["level"] = "A1"
    first["consent"]["purposes"].append("notifications")
    assert second["languages"][0]["level"] == "native"
    assert second["consent"]["purposes"] == ["registration", "matching"]


@pytest.mark.parametrize("missing", ["languages", "consent_given_at", "skills"])
def test_a_missing_column_is_what_the_schema_makes_of_it(missing):
    raw = {k: v for k, v in _row(0).items() if k != missing and k in COLUMNS}
    payload = row_payload(raw)
    assert _outcome(RowValidator().load, payload) == _outcome(VolunteerIn().load, payload)
