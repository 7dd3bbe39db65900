"""`vir network` with nothing configured: SQLite files and kombu's in-process broker."""

from __future__ import annotations

import pytest
import requests

from services.registry.access import create_token
from shared.auth import Role
from tests.support.infra import wait_until
from tests.support.registry import PILOT_TERMS
from vir import network


@pytest.fixture
def nodes(tmp_path):
    started = network.start(["TG", "ML"], {"VIR_VAR_DIR": str(tmp_path), "LOG_LEVEL": "WARNING"})
    yield {n.name: n for n in started}
    network.stop(started)


def _token(node, agency: str) -> dict[str, str]:
    with node.runtime.sessions.begin() as session:
        return {"Authorization": f"Bearer {create_token(session, agency, Role.STAFF, 'e2e')[1]}"}


def test_an_embedded_network_carries_an_agreement_from_tg_to_ml_and_back(nodes):
    tg, ml = nodes["registry-tg"], nodes["registry-ml"]
    assert (tg.port, ml.port) == (8001, 8002)
    for node in nodes.values():
        assert (
            requests.get(f"http://127.0.0.1:{node.port}/health/ready", timeout=5).status_code == 200
        )
    tg_h, ml_h = _token(tg, "TG"), _token(ml, "ML")
    r = requests.post(
        "http://127.0.0.1:8001/api/v1/agreements",
        json={"partners": ["ML"], **PILOT_TERMS},
        headers=tg_h,
        timeout=5,
    )
    assert r.status_code == 201, r.text
    agreement = r.json()

    def ml_copy():
        return requests.get(
            f"http://127.0.0.1:8002/api/v1/agreements/{agreement['id']}", headers=ml_h, timeout=5
        )

    wait_until(lambda: ml_copy().status_code == 200, 30, what="ML receives the proposal in memory")
    approve = requests.post(
        f"http://127.0.0.1:8002/api/v1/agreements/{agreement['id']}/approve",
        json={"terms_hash": agreement["terms_hash"]},
        headers=ml_h,
        timeout=5,
    )
    assert approve.status_code == 200 and approve.json()["status"] == "active"

    def tg_status():
        return requests.get(
            f"http://127.0.0.1:8001/api/v1/agreements/{agreement['id']}", headers=tg_h, timeout=5
        ).json()["status"]

    wait_until(lambda: tg_status() == "active", 30, what="TG sees the agreement active")
