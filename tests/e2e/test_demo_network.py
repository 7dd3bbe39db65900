"""`make run`'s command: the embedded network starts with the pilot loaded and stops on Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import requests

from tests.support.infra import wait_until

VIR = str(Path(sys.executable).with_name("vir"))


def test_the_demo_network_loads_the_pilot_and_matching_proposes_four_plus_two(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("AMQP_URL", "DATABASE_URL")}
    env.update(VIR_VAR_DIR=str(tmp_path), LOG_LEVEL="WARNING")
    proc = subprocess.Popen(
        [VIR, "network"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        tokens_file = tmp_path / "demo-tokens.json"
        wait_until(tokens_file.exists, 60, what="demo tokens written")
        tokens = json.loads(tokens_file.read_text())
        assert set(tokens) == {"TG", "ML"}
        assert all(set(roles) == {"admin", "staff", "partner"} for roles in tokens.values())

        def proposals(port, agency):
            r = requests.get(
                f"http://127.0.0.1:{port}/api/v1/matches?status=proposed&page_size=50",
                headers={"Authorization": f"Bearer {tokens[agency]['staff']}"},
                timeout=5,
            )
            return r.json() if r.status_code == 200 else []

        wait_until(
            lambda: len(proposals(8001, "TG")) == 6 and len(proposals(8002, "ML")) == 6,
            90,
            what="6 proposals",
        )
        sending = sorted(p["sending_agency"] for p in proposals(8001, "TG"))
        assert sending == ["ML", "ML", "TG", "TG", "TG", "TG"]
        partner = requests.get(
            "http://127.0.0.1:8001/api/v1/volunteers",
            headers={"Authorization": f"Bearer {tokens['TG']['partner']}"},
            timeout=5,
        )
        assert partner.status_code == 403
        accounts = json.loads((tmp_path / "demo-accounts.json").read_text())
        browser = requests.Session()
        page = browser.get("http://127.0.0.1:8001/login", timeout=5).text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        signed_in = browser.post(
            "http://127.0.0.1:8001/login",
            data={
                "email": accounts["TG"]["email"],
                "password": accounts["TG"]["password"],
                "csrf_token": csrf,
            },
            timeout=5,
        )
        assert signed_in.status_code == 200 and "Vue d'ensemble" in signed_in.text
        assert 'data-direction="TG-ML"' in signed_in.text
        for port in (8001, 8002, 8010, 8020, 8021, 8022):
            assert (
                requests.get(f"http://127.0.0.1:{port}/health/ready", timeout=5).status_code == 200
            )
    finally:
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output
    assert "stopping..." in output
