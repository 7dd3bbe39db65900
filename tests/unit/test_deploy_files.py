"""The deployment files are valid and consistent: docker-compose accepts the compose file with the
example environment; two national brokers, each loading its country's definitions with the
passwords of .env; every process logs in to its own country's broker with its own user; e-mails go
to the mail catcher; restart policies, health checks, local-only ports; no guest anywhere."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import yaml

from shared.messaging import broker_passwords, federation

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / "deploy" / ".env.example"
RABBITMQ = ROOT / "deploy" / "rabbitmq"
APP_IMAGE = "vir-exchange:local"
BROKER_IMAGE = "vir-rabbitmq:local"
NETWORK_COUNTRY = "TG"  # the broker generated with --hosts-network-services
# What each broker-config service passes to `vir topology national` (as the committed files).
NATIONAL = {
    "TG": {"VIR_BROKER_PEERS": "ML=rabbitmq-ml", "VIR_BROKER_NETWORK_SERVICES": "true"},
    "ML": {"VIR_BROKER_PEERS": "TG=rabbitmq-tg", "VIR_BROKER_NETWORK_SERVICES": "false"},
}
SERVICE_KINDS = {"registry": 2, "matching": 1, "notifications": 3}  # API nodes of each service

docker_compose = pytest.mark.skipif(
    shutil.which("docker-compose") is None, reason="docker-compose is not installed"
)


def _example_env() -> dict[str, str]:
    env = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            env[name.strip()] = value.strip()
    return env


def _interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's variable substitution, for when docker-compose itself is not installed."""
    if isinstance(value, dict):
        return {k: _interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, env) for v in value]
    if isinstance(value, str):
        value = re.sub(r"(?<!\$)\$\{([A-Za-z0-9_]+)(?:[:?-][^}]*)?\}", lambda m: env[m[1]], value)
        return value.replace("$$", "$")
    return value


@cache
def _config() -> dict[str, Any]:
    """The compose file as docker-compose resolves it with the example environment: `config`'s
    output, or the file loaded and interpolated here when docker-compose is not installed."""
    if shutil.which("docker-compose"):
        result = subprocess.run(
            ["docker-compose", "--env-file", str(ENV_EXAMPLE), "-f", str(COMPOSE), "config"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        return yaml.safe_load(result.stdout)
    raw = yaml.safe_load(COMPOSE.read_text())
    return _interpolate({k: v for k, v in raw.items() if not k.startswith("x-")}, _example_env())


def _services() -> dict[str, dict[str, Any]]:
    return _config()["services"]


def _app_services() -> dict[str, dict[str, Any]]:
    """The service processes (API, relay, consumers): the app image, not a helper."""
    return {
        name: s
        for name, s in _services().items()
        if s["image"] == APP_IMAGE
        and not name.startswith(("broker-config-", "keys-config"))
        and name != "mailcatcher"
    }


def _country(service: dict[str, Any]) -> str:
    return service["environment"].get("AGENCY_CODE") or NETWORK_COUNTRY


def _deployed_definitions(country: str) -> dict[str, Any]:
    return json.loads((RABBITMQ / country.lower() / "definitions.json").read_text())


def _broker_passwords(country: str) -> dict[str, str]:
    """user -> password, as broker-config-<cc> hands them to `vir topology national`."""
    text = _services()[f"broker-config-{country.lower()}"]["environment"]["VIR_BROKER_PASSWORDS"]
    return broker_passwords.parse_passwords(text)


def _volumes(service: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(source, target, rw|ro) of each mount, short or long syntax."""
    out = set()
    for v in service.get("volumes", []):
        if isinstance(v, dict):
            out.add((v["source"], v["target"], "ro" if v.get("read_only") else "rw"))
        else:
            source, target, *mode = v.split(":")
            out.add((source, target, mode[0] if mode else "rw"))
    return out


def _command(service: dict[str, Any]) -> str:
    return " ".join(service.get("entrypoint") or []) + " " + " ".join(service.get("command") or [])


@docker_compose
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


def test_every_variable_of_the_compose_file_is_in_the_example_environment():
    compose = COMPOSE.read_text()
    used = set(re.findall(r"(?<!\$)\$\{([A-Za-z0-9_]+)", compose))
    required = set(re.findall(r"(?<!\$)\$\{([A-Za-z0-9_]+):\?", compose))
    example = _example_env()
    assert required and required <= set(example), required - set(example)
    assert used <= set(example), used - set(example)
    assert "guest" not in compose.lower()
    assert "guest" not in ENV_EXAMPLE.read_text().lower()


def test_two_national_brokers_each_with_its_own_node_name_data_and_definitions():
    services = _services()
    brokers = {name for name, s in services.items() if s["image"] == BROKER_IMAGE}
    assert brokers == {"rabbitmq-tg", "rabbitmq-ml"}
    for country in NATIONAL:
        cc = country.lower()
        broker = services[f"rabbitmq-{cc}"]
        assert broker["hostname"] == f"rabbitmq-{cc}"  # node name, and the peers' --peer host
        env = broker.get("environment", {})
        assert env.get("VIR_BROKER_MODE") == "national"
        assert not any(k.startswith("RABBITMQ_DEFAULT_") for k in env)
        assert _volumes(broker) == {
            (f"rabbitmq-{cc}-data", "/var/lib/rabbitmq", "rw"),
            (f"broker-config-{cc}", "/etc/vir-broker", "ro"),
        }
        assert broker["depends_on"] == {
            f"broker-config-{cc}": {"condition": "service_completed_successfully"}
        }
        assert "healthcheck" in broker


def test_each_broker_config_service_generates_its_countrys_definitions_with_every_password():
    raw = yaml.safe_load(COMPOSE.read_text())["services"]
    for country, args in NATIONAL.items():
        cc = country.lower()
        name = f"broker-config-{cc}"
        service = _services()[name]
        env = service["environment"]
        assert env["VIR_BROKER_COUNTRY"] == country
        assert {k: env[k] for k in args} == args
        assert service["image"] == APP_IMAGE and service["restart"] == "no"
        # Every user that logs in with a password, none other (vir refuses both mistakes).
        assert sorted(_broker_passwords(country)) == sorted(
            broker_passwords.password_users(_deployed_definitions(country))
        )
        # Each from its own variable: BROKER_<CC>_<USER>_PASSWORD.
        for line in raw[name]["environment"]["VIR_BROKER_PASSWORDS"].splitlines():
            user, _, value = line.partition("=")
            variable = f"BROKER_{country}_{user.upper().replace('-', '_')}_PASSWORD"
            assert value.startswith("${" + variable + ":?"), line
        mounts = _volumes(service)
        tls = [(source, mode) for source, target, mode in mounts if target == "/run/vir/tls"]
        assert len(tls) == 1 and tls[0][1] == "ro"
        assert Path(tls[0][0]).parts[-4:] == ("deploy", "tls", "out", cc)
        assert (f"broker-config-{cc}", "/etc/vir-broker", "rw") in mounts


def test_each_process_logs_in_to_its_own_countrys_broker_with_its_own_user():
    users_seen: dict[str, set[str]] = {country: set() for country in NATIONAL}
    for name, service in _app_services().items():
        env = service["environment"]
        assert "AMQP_URL" in env, name
        url = urlsplit(env["AMQP_URL"])
        country = _country(service)
        assert "guest" not in env["AMQP_URL"].lower(), name
        assert (url.scheme, url.hostname, url.port, url.path) == (
            "amqp",
            f"rabbitmq-{country.lower()}",
            5672,
            "/vir",
        ), name
        assert env["AMQP_DECLARE_TOPOLOGY"] == "false", name
        user, password = unquote(url.username or ""), unquote(url.password or "")
        assert password == _broker_passwords(country).get(user), (name, user)
        # The API and the relay publish nothing but the outbox: the relay's user; the
        # consumers (and their jobs) their consumer user.
        consumes = service["command"][0] == "consume"
        assert user.startswith("relay-") != consumes, (name, user)
        assert user != federation.OPERATOR_USER
        users_seen[country].add(user)
        if "vir serve" in _command(service):  # the API waits for its broker, the others for it
            assert service["depends_on"][f"rabbitmq-{country.lower()}"] == {
                "condition": "service_healthy"
            }
    for country, seen in users_seen.items():
        service_users = set(_broker_passwords(country)) - {federation.OPERATOR_USER}
        assert seen == service_users, country


def test_every_api_migrates_before_serving_and_has_one_relay_and_one_consumer():
    services = _app_services()
    apis = {n: s for n, s in services.items() if "exec vir serve" in _command(s)}
    assert {
        kind: sum(f"serve {kind} " in _command(s) for s in apis.values()) for kind in SERVICE_KINDS
    } == SERVICE_KINDS
    for name, api in apis.items():
        kind = next(k for k in SERVICE_KINDS if f"vir serve {k} " in _command(api))
        # Migrations first; a registry then stores its notifications' node token; then serve.
        steps = _command(api).split(" -c ", 1)[1].split(" && ")
        assert steps[0] == f"vir db upgrade {kind}" and steps[-1].startswith(
            f"exec vir serve {kind} "
        )
        if kind == "registry":
            assert steps[1:-1] == [
                f"vir tokens create --role node --name notifications-{_country(api).lower()}"
                " --from-env VIR_NODE_TOKEN"
            ]
        else:
            assert len(steps) == 2, name
        database = api["environment"]["DATABASE_URL"]
        for verb in ("relay", "consume"):
            helpers = [
                s
                for s in services.values()
                if s["command"][:2] == [verb, kind] and s["environment"]["DATABASE_URL"] == database
            ]
            assert len(helpers) == 1, (name, verb)
            assert helpers[0]["depends_on"][name] == {"condition": "service_healthy"}
            if verb == "consume":  # its readiness says whether its consumer runs
                assert helpers[0]["command"][2:] == ["--health-port", "9000"], name
                assert "9000/health/ready" in str(helpers[0]["healthcheck"]["test"]), name
    assert len(services) == 3 * len(apis)


def test_notifications_send_their_e_mails_to_the_mail_catcher():
    services = _services()
    catcher = services["mailcatcher"]
    command = _command(catcher)
    assert "-m aiosmtpd" in command and "-c aiosmtpd.handlers.Mailbox /var/lib/vir/mail" in command
    assert re.search(r"-l 0\.0\.0\.0:1025\b", command)
    assert _volumes(catcher) == {("mail", "/var/lib/vir", "rw")}
    assert "healthcheck" in catcher and "ports" not in catcher
    notifications = {n: s for n, s in _app_services().items() if n.startswith("notifications")}
    assert len(notifications) == 9
    for name, service in notifications.items():
        env = service["environment"]
        assert (env["SMTP_HOST"], env["SMTP_PORT"]) == ("mailcatcher", "1025"), name
        # No mail directory: only the signing key and the trust list are mounted.
        assert "MAIL_DIR" not in env, name
        assert {t for _, t, _ in _volumes(service)} == {"/var/lib/vir/keys", "/etc/vir/trust"}
        if service["command"][0] == "consume":  # the dispatcher sends the e-mails
            assert service["depends_on"]["mailcatcher"] == {"condition": "service_healthy"}
    # The app image installs the main dependencies only.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert any(d.startswith("aiosmtpd==") for d in project["dependencies"])


def test_each_service_signs_with_its_principals_key_and_reads_the_trust_list():
    for name, service in _app_services().items():
        principal = next(
            p
            for p, prefixes in {
                "tg": ("registry-tg", "notifications-tg"),
                "ml": ("registry-ml", "notifications-ml"),
                "matching": ("matching",),
                "notifications": ("notifications",),
            }.items()
            if name.startswith(prefixes)
        )
        mounts = {(Path(source).name, target, mode) for source, target, mode in _volumes(service)}
        assert mounts == {
            (f"keys-{principal}", "/var/lib/vir/keys", "rw"),
            ("trust", "/etc/vir/trust", "ro"),
        }, name
        assert service["environment"]["TRUST_LIST_FILE"] == "/etc/vir/trust/trust-list.json"
        assert "SIGNING_KEY_FILE" not in service["environment"]  # one file per principal


def test_restart_policies_health_checks_and_local_only_ports():
    for name, service in _services().items():
        assert service.get("restart") in ("unless-stopped", "no"), name
        if service["restart"] == "no":
            assert name.startswith(("broker-config-", "keys-config")), (
                name
            )  # one-shot: broker-config-<cc>, keys-config
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)
        if service.get("ports") or "vir serve" in _command(service):
            assert "healthcheck" in service, name


def test_the_broker_image_logs_peers_in_by_certificate_and_hands_files_to_its_fixed_uid():
    dockerfile = (RABBITMQ / "Dockerfile").read_text()
    for plugin in ("rabbitmq_federation", "rabbitmq_auth_mechanism_ssl"):
        assert re.search(rf"rabbitmq-plugins enable[^\n]*(?:\\\n[^\n]*)*\b{plugin}\b", dockerfile)
    uid = re.search(r"ARG RABBITMQ_UID=(\d+)", dockerfile)[1]
    for country in NATIONAL:
        assert (
            _services()[f"broker-config-{country.lower()}"]["environment"]["VIR_BROKER_UID"] == uid
        )
    # The national rabbitmq.conf reads what the entrypoint links in from the config volume, and
    # the definitions' federation upstreams use the same certificates.
    conf = (RABBITMQ / "rabbitmq.conf").read_text()
    entrypoint = (RABBITMQ / "entrypoint.sh").read_text()
    assert "load_definitions = /etc/rabbitmq/definitions.json" in conf
    assert f"ssl_options.keyfile = {federation.TLS_DIR}/server.key" in conf
    assert '"$dir/definitions.json" /etc/rabbitmq/definitions.json' in entrypoint
    assert f'"$dir/tls" {federation.TLS_DIR}' in entrypoint


def test_a_national_broker_refuses_to_start_without_its_config_and_needs_no_default_user(
    tmp_path,
):
    env = {"PATH": os.environ["PATH"], "VIR_BROKER_MODE": "national"}
    env["VIR_BROKER_CONFIG_DIR"] = str(tmp_path)
    result = subprocess.run(
        ["sh", str(RABBITMQ / "entrypoint.sh"), "true"], env=env, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert f"{tmp_path}/definitions.json is missing" in result.stderr
    assert "RABBITMQ_DEFAULT" not in result.stderr
    env["VIR_BROKER_MODE"] = "other"
    result = subprocess.run(
        ["sh", str(RABBITMQ / "entrypoint.sh"), "true"], env=env, capture_output=True, text=True
    )
    assert result.returncode == 2


@pytest.mark.skipif(
    not (Path(sys.executable).parent / "vir").exists() or not shutil.which("install"),
    reason="needs the vir command next to this Python and coreutils' install",
)
def test_the_broker_config_script_writes_hashed_definitions_and_certificates_for_the_broker(
    tmp_path,
):
    tls, out = tmp_path / "tls", tmp_path / "out"
    tls.mkdir()
    out.mkdir()
    for f in ("ca.pem", "server.pem", "server.key", "client.pem", "client.key"):
        (tls / f).write_text(f"-----{f}-----\n")
    passwords = _broker_passwords("ML")
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "VIR_BROKER_COUNTRY": "ML",
        **NATIONAL["ML"],
        "VIR_BROKER_PASSWORDS": "".join(f"{u}={p}\n" for u, p in passwords.items()),
        "VIR_BROKER_CONFIG_DIR": str(out),
        "VIR_BROKER_TLS_SOURCE": str(tls),
        "VIR_BROKER_UID": str(os.getuid()),
        "VIR_BROKER_GID": str(os.getgid()),
    }
    script = str(RABBITMQ / "broker-config.sh")
    result = subprocess.run(["sh", script], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr

    written = json.loads((out / "definitions.json").read_text())
    assert stat.S_IMODE((out / "definitions.json").stat().st_mode) == 0o600
    expected = _deployed_definitions("ML")
    assert {k: v for k, v in written.items() if k != "users"} == {
        k: v for k, v in expected.items() if k != "users"
    }
    for user in written["users"]:
        if user["name"].startswith("federation-"):
            assert user["password_hash"] == ""  # certificate only
            continue
        raw = base64.b64decode(user["password_hash"])
        salt = raw[:4]
        assert raw[4:] == hashlib.sha256(salt + passwords[user["name"]].encode()).digest()
    for f, mode in (("ca.pem", 0o644), ("server.key", 0o600), ("client.key", 0o600)):
        assert (out / "tls" / f).read_text() == (tls / f).read_text()
        assert stat.S_IMODE((out / "tls" / f).stat().st_mode) == mode
    assert not (out / "definitions.json.new").exists()

    (tls / "client.key").unlink()
    result = subprocess.run(["sh", script], env=env, capture_output=True, text=True)
    assert result.returncode == 1 and "make-certs.sh" in result.stderr


def test_each_registry_stores_the_node_token_its_notifications_instance_reads_with():
    services = _services()
    for country in NATIONAL:
        cc = country.lower()
        registry, notifications = services[f"registry-{cc}"], services[f"notifications-{cc}"]
        token = notifications["environment"]["NOTIFY_REGISTRY_TOKEN"]
        assert registry["environment"]["VIR_NODE_TOKEN"] == token
        assert notifications["environment"][
            "NOTIFY_REGISTRY_URL"
        ] == f"http://registry-{cc}:800" + ("1" if country == "TG" else "2")


def test_each_country_keeps_its_data_in_its_own_postgresql_server():
    services = _services()
    servers = {n for n, s in services.items() if s["image"] == "vir-postgres:local"}
    assert servers == {"postgres-tg", "postgres-ml"}
    for name, service in _app_services().items():
        country = _country(service).lower()
        url = urlsplit(service["environment"]["DATABASE_URL"])
        assert url.hostname == f"postgres-{country}", name
        database = url.path.lstrip("/")
        server = services[f"postgres-{country}"]
        assert database in server["environment"]["POSTGRES_DATABASES"].split(), name
        assert unquote(url.password or "") == server["environment"]["POSTGRES_PASSWORD"], name
    assert _volumes(services["postgres-tg"]) == {
        ("postgres-tg-data", "/var/lib/postgresql/data", "rw")
    }
    assert (
        services["postgres-tg"]["environment"]["POSTGRES_PASSWORD"]
        != services["postgres-ml"]["environment"]["POSTGRES_PASSWORD"]
    )


def test_containers_are_capped_and_app_ones_run_unprivileged_on_a_read_only_root():
    for name, service in _services().items():
        limits = service.get("deploy", {}).get("resources", {}).get("limits", {})
        if service["restart"] == "unless-stopped":
            assert limits.get("memory") and limits.get("cpus"), name
        if service["image"] in (APP_IMAGE, "vir-postgres:local"):
            assert service.get("read_only") is True, name
        if service["image"] == APP_IMAGE and not name.startswith(("broker-config-", "keys-config")):
            assert "user" not in service, name  # the image's user: vir
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "\nUSER vir\n" in dockerfile


def test_every_published_port_comes_from_the_environment_with_todays_default():
    raw = yaml.safe_load(COMPOSE.read_text())["services"]
    example = _example_env()
    published = {}
    for name, service in raw.items():
        for port in service.get("ports", []):
            host = re.fullmatch(r"127\.0\.0\.1:\$\{([A-Z0-9_]+):-(\d+)\}:(\d+)", port)
            assert host, (name, port)
            assert example[host[1]] == host[2], (name, port)
            published[host[1]] = host[2]
    assert len(set(published.values())) == len(published) == 8


@pytest.mark.parametrize(
    "dockerfile", ["deploy/Dockerfile", "deploy/postgres/Dockerfile", "deploy/rabbitmq/Dockerfile"]
)
def test_images_start_from_a_base_image_given_as_build_argument_official_by_default(dockerfile):
    text = (ROOT / dockerfile).read_text()
    default = re.search(r"^ARG BASE_IMAGE=(\S+)$", text, re.M)[1]
    assert re.search(r"^FROM \$\{BASE_IMAGE\}$", text, re.M)
    assert default in ("python:3.11-slim-bookworm", "debian:bookworm-slim")
    assert "vir-base" not in re.findall(r"^FROM .*$", text, re.M)[0]
