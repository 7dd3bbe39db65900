"""`vir compose init`: a .env with every variable docker-compose.yml needs, a fresh URL-safe
secret for each password, overrides for ports and base images, and the broker certificates."""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from vir.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """What `vir compose init` reads of a clone, in a folder of its own."""
    for name in ("docker-compose.yml", "deploy/.env.example", "deploy/tls/make-certs.sh"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, tmp_path / name)
    return tmp_path


def _init(clone: Path, *args: str):
    return CliRunner().invoke(main, ["compose", "init", "--root", str(clone), *args])


def _env(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k: v for k, v in pairs if not k.startswith("#")}


def test_init_sets_every_variable_compose_needs_with_distinct_url_safe_secrets(clone):
    result = _init(clone)
    assert result.exit_code == 0, result.output
    env = _env(clone / ".env")
    compose = (clone / "docker-compose.yml").read_text()
    needed = set(re.findall(r"(?<!\$)\$\{([A-Za-z0-9_]+)", compose))
    assert needed <= set(env), needed - set(env)
    assert not [k for k, v in env.items() if "change-me" in v]
    secrets = {k: v for k, v in env.items() if re.search(r"PASSWORD|SECRET|TOKEN", k)}
    assert len(secrets) >= 20
    for name, value in secrets.items():
        assert re.fullmatch(r"[A-Za-z0-9_-]{24,}", value), name
    assert len(set(secrets.values())) == len(secrets)
    assert env["NOTIFY_REGISTRY_TOKEN_TG"].startswith("vir_tg_")
    # Not secrets: today's defaults.
    assert env["REGISTRY_TG_PORT"] == "8001" and env["POSTGRES_USER"] == "vir"
    assert env["APP_BASE_IMAGE"] == "python:3.11-slim-bookworm"
    assert stat.S_IMODE((clone / ".env").stat().st_mode) == 0o600
    for cc in ("tg", "ml"):
        for f in ("ca.pem", "server.pem", "server.key", "client.pem", "client.key"):
            assert (clone / "deploy/tls/out" / cc / f).stat().st_size > 0


def test_two_inits_draw_different_secrets(clone, tmp_path_factory):
    other = tmp_path_factory.mktemp("other") / ".env"
    assert _init(clone).exit_code == 0
    assert _init(clone, "--env-file", str(other)).exit_code == 0
    first, second = _env(clone / ".env"), _env(other)
    assert first["POSTGRES_TG_PASSWORD"] != second["POSTGRES_TG_PASSWORD"]
    assert first["REGISTRY_ML_PORT"] == second["REGISTRY_ML_PORT"]


def test_init_refuses_to_overwrite_an_existing_env_unless_forced(clone):
    assert _init(clone).exit_code == 0
    before = (clone / ".env").read_text()
    refused = _init(clone)
    assert refused.exit_code != 0 and "--force" in refused.output
    assert (clone / ".env").read_text() == before
    assert _init(clone, "--force").exit_code == 0
    assert (clone / ".env").read_text() != before


def test_set_overrides_ports_and_base_images_and_refuses_unknown_names(clone):
    result = _init(
        clone, "--set", "REGISTRY_TG_PORT=18001", "--set", "APP_BASE_IMAGE=vir-base:bookworm"
    )
    assert result.exit_code == 0, result.output
    env = _env(clone / ".env")
    assert (env["REGISTRY_TG_PORT"], env["APP_BASE_IMAGE"]) == ("18001", "vir-base:bookworm")
    refused = _init(clone, "--force", "--set", "NO_SUCH_VARIABLE=1")
    assert refused.exit_code != 0 and "NO_SUCH_VARIABLE" in refused.output


@pytest.mark.skipif(
    shutil.which("docker-compose") is None, reason="docker-compose is not installed"
)
def test_docker_compose_accepts_the_compose_file_with_the_written_env(clone):
    assert _init(clone).exit_code == 0
    for context in ("deploy/rabbitmq", "deploy/postgres"):  # `config` checks they exist
        (clone / context).mkdir()
    result = subprocess.run(
        ["docker-compose", "--env-file", str(clone / ".env"), "config", "-q"],
        cwd=clone,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_init_makes_a_key_per_principal_and_a_trust_list_naming_them_kept_on_reinit(clone):
    from shared.security import load_key_file, load_trust_list

    assert _init(clone).exit_code == 0
    keys = {
        p: clone / "deploy/keys" / f"{p}.json" for p in ("TG", "ML", "matching", "notifications")
    }
    kids = {p: load_key_file(path).kid for p, path in keys.items()}
    for path in keys.values():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    trust_list = clone / "deploy/trust/trust-list.json"
    assert stat.S_IMODE(trust_list.stat().st_mode) == 0o644  # public halves, read in containers
    document = load_trust_list(trust_list)
    for principal, kid in kids.items():
        trusted = document.get(kid)
        assert trusted is not None and trusted.principal == principal
    assert '"d"' not in trust_list.read_text()  # no private half
    assert _init(clone, "--force").exit_code == 0
    assert {p: load_key_file(path).kid for p, path in keys.items()} == kids
