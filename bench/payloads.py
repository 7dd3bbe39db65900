"""The volunteer the registration benchmarks register (`e2e_latency`, `load`): eligible for the
seeded TG→ML health placements, one distinct identity per number. Standard library only, so the
gevent-patched Locust process can import it."""

from __future__ import annotations

from typing import Any


def volunteer(n: int, series: str) -> dict[str, Any]:
    """Volunteer number `n` of a run; `series` keeps identity numbers apart between benchmarks."""
    return {
        "first_name": "Ama",
        "last_name": f"Mensah{n}",
        "date_of_birth": "1995-04-02",
        "gender": "female",
        "nationality": "TG",
        "identity_number": f"TG-{series}-{n:07d}",
        "email": f"ama{n}@example.org",
        "phone": "+228 90 00 00 00",
        "preferred_language": "fr",
        "consent": {"given_at": "2027-06-01T10:00:00Z", "purposes": ["registration", "matching"]},
        "languages": [{"code": "fr", "level": "native"}],
        "skills": ["public health"],
        "domains": ["health"],
        "education_level": "master",
        "available_from": "2027-09-01",
        "available_until": "2028-08-31",
        "preferred_countries": ["ML"],
    }
