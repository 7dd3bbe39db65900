"""The deployment files are valid: docker-compose accepts the compose file with the example
environment, and the example environment names every variable the compose file requires."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(
    shutil.which("docker-compose") is None, reason="docker-compose is not installed"
)
def test_docker_compose_accepts_the_compose_file_with_the_example_environment():
    result = subprocess.run(
        [
            "docker-compose",
            "--env-file",
            "deploy/.env.example",
            "-f",
            "docker-compose.yml",
            "config",
            "-q",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_every_required_variable_is_in_the_example_environment():
    compose = (ROOT / "docker-compose.yml").read_text()
    required = set(re.findall(r"\$\{([A-Z_]+):\?", compose))
    example = {
        line.split("=", 1)[0]
        for line in (ROOT / "deploy/.env.example").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    }
    assert required and required <= example, required - example
    assert "guest" not in compose


def test_every_service_migrates_before_serving_and_every_api_has_a_worker():
    compose = (ROOT / "docker-compose.yml").read_text()
    for service in ("registry", "matching", "notifications"):
        assert f"vir db upgrade {service} && exec vir serve {service}" in compose
    assert compose.count('command: ["worker", "registry"]') == 2
    assert compose.count('command: ["worker", "notifications"]') == 3
    assert 'command: ["worker", "matching"]' in compose
