"""The REST API and the dashboard list the same volunteers for the same filters: both build their
query with services/registry/queries.py (a few hundred volunteers, several filters, every page)."""

from __future__ import annotations

import json
import re
from urllib.parse import urlencode

import pytest

from services.registry import handlers
from services.registry.dependencies import dependencies
from tests.integration.registry.test_dashboard_people import add_volunteers, signed_in

pytestmark = pytest.mark.integration

COUNT = 300
SKILLS = (["teaching"], ["Public Health", "first aid"], ["public health"], ["accounting"], [])
DOMAINS = (["education"], ["health"], ["health", "education"], [])
LANGUAGES = (
    [{"code": "fr", "level": "native"}],
    [{"code": "fr", "level": "C1"}, {"code": "ee", "level": "native"}],
    [{"code": "en", "level": "B2"}, {"code": "bm", "level": "native"}],
)
ROW = re.compile(r'<th scope="row"><a href="/volunteers/([^"/]+)">')


def _api_ids(tg, filters: dict[str, str]) -> list[str]:
    ids: list[str] = []
    page = 1
    while True:
        query = urlencode({**filters, "page": page, "page_size": 100})
        answer = tg.call("GET", f"/api/v1/volunteers?{query}")
        assert answer.status_code == 200, answer.json
        ids += [v["id"] for v in answer.json]
        if page >= json.loads(answer.headers["X-Pagination"])["total_pages"]:
            return ids
        page += 1


def _dashboard_ids(client, filters: dict[str, str]) -> list[str]:
    """Every page of the list: a page asked beyond the last shows the last one again."""
    ids: list[str] = []
    page, previous = 1, None
    while True:
        html = client.get(f"/volunteers?{urlencode({**filters, 'page': page})}").text
        found = ROW.findall(html)
        if found == previous or not found:
            return ids
        ids += found
        if len(found) < 25:
            return ids
        page, previous = page + 1, found


def test_the_api_and_the_dashboard_list_the_same_volunteers_for_the_same_filters(tg):
    ids = add_volunteers(
        tg,
        COUNT,
        first_name=lambda n: f"Afi{n}" if n % 4 else f"Kossi Afi{n}",
        skills=lambda n: SKILLS[n % len(SKILLS)],
        domains=lambda n: DOMAINS[n % len(DOMAINS)],
        languages=lambda n: LANGUAGES[n % len(LANGUAGES)],
    )
    with tg.runtime.sessions.begin() as session:
        for volunteer_id in ids[::7]:
            handlers.withdraw_volunteer(
                session, dependencies(tg.runtime).node, volunteer_id, "personal", None
            )
    client = signed_in(tg)
    cases = [
        {},
        {"q": "afi1"},
        {"q": "kossi dossou02"},
        {"skill": "teaching"},
        {"skill": "PUBLIC HEALTH"},
        {"domain": "education"},
        {"language": "ee"},
        {"status": "withdrawn"},
        {"skill": "public health", "language": "bm", "q": "afi"},
        {"skill": "nobody has this"},
    ]
    sizes = {}
    for filters in cases:
        api, dashboard = _api_ids(tg, filters), _dashboard_ids(client, filters)
        assert api == dashboard, filters
        sizes[json.dumps(filters)] = len(api)
    # the filters select what they say (not everyone, not no one, but on purpose)
    assert sizes["{}"] == COUNT
    assert sizes[json.dumps({"status": "withdrawn"})] == len(ids[::7])
    assert sizes[json.dumps({"skill": "PUBLIC HEALTH"})] == 2 * COUNT // len(SKILLS)
    assert sizes[json.dumps({"language": "ee"})] == COUNT // len(LANGUAGES)
    assert sizes[json.dumps({"skill": "nobody has this"})] == 0
    assert 0 < sizes[json.dumps({"q": "kossi dossou02"})] < 25
