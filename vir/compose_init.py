"""`vir compose init`: what docker-compose.yml needs before its first start, made in one command.

Each step is a function of the repository root; a later one (e.g. the event signing keys and the
trust list) is one more entry in STEPS.

1. `.env` from deploy/.env.example: every value starting with `change-me` replaced by a fresh
   random one (URL-safe: passwords sit inside DATABASE_URL and AMQP_URL), every other value kept
   unless overridden (`--set NAME=VALUE`: host ports, base images, allowed webhook hosts).
   An existing `.env` is refused unless forced: its passwords are already in the volumes.
2. The federation certificates of the national brokers (deploy/tls/make-certs.sh; kept when
   they exist).
3. An event signing key per principal (deploy/keys/<principal>.json, mode 0600, never
   overwritten; the one-shot keys-config service installs each into its principal's volume)
   and the network's trust list naming their public halves (deploy/trust/trust-list.json).
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import click

EXAMPLE = Path("deploy") / ".env.example"
PLACEHOLDER = "change-me"
CERTIFICATES = Path("deploy") / "tls" / "out"
# The brokers of docker-compose.yml: country=host name (the SAN of its server certificate).
BROKERS = ("TG=rabbitmq-tg", "ML=rabbitmq-ml")
_TOKEN = re.compile(r"_TOKEN_([A-Z]{2})$")
KEYS = Path("deploy") / "keys"
TRUST_LIST = Path("deploy") / "trust" / "trust-list.json"
# Who signs in docker-compose.yml: each agency (its registry and notifications instance) and
# the network services TG hosts.
PRINCIPALS = ("TG", "ML", "matching", "notifications")


class InitError(Exception):
    """Something the operator must fix (an existing .env, an unknown variable...)."""


@dataclass(frozen=True)
class Request:
    root: Path
    env_file: Path
    overrides: Mapping[str, str] = field(default_factory=dict)
    force: bool = False


def random_value(name: str) -> str:
    """A fresh secret for `name`: node tokens carry their agency's prefix like `vir tokens`'."""
    token = _TOKEN.search(name)
    if token:
        return f"vir_{token[1].lower()}_{secrets.token_urlsafe(32)}"
    return secrets.token_urlsafe(24)


def render_env(example: str, overrides: Mapping[str, str]) -> str:
    """The example's lines, comments kept, with secrets drawn and overrides applied."""
    unknown = set(overrides)
    lines = []
    for line in example.splitlines():
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep or line.lstrip().startswith("#"):
            lines.append(line)
            continue
        if name in overrides:
            value = overrides[name]
            unknown.discard(name)
        elif value.strip().startswith(PLACEHOLDER):
            value = random_value(name)
        lines.append(f"{name}={value}")
    if unknown:
        raise InitError(f"not a variable of {EXAMPLE}: {', '.join(sorted(unknown))}")
    return "\n".join(lines) + "\n"


def write_env(request: Request) -> str:
    if request.env_file.exists() and not request.force:
        raise InitError(
            f"{request.env_file} exists: its passwords are those of the volumes already made. "
            "Use --force to write new ones (then `docker-compose down -v` first)."
        )
    text = render_env((request.root / EXAMPLE).read_text(), request.overrides)
    request.env_file.parent.mkdir(parents=True, exist_ok=True)
    request.env_file.touch(mode=0o600)
    request.env_file.chmod(0o600)  # passwords: the operator's eyes only
    request.env_file.write_text(text)
    return f"wrote {request.env_file} (mode 0600)"


def make_certificates(request: Request) -> str:
    script = request.root / "deploy" / "tls" / "make-certs.sh"
    result = subprocess.run(
        ["bash", str(script), str(request.root / CERTIFICATES), *BROKERS],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise InitError(f"{script} failed: {result.stderr.strip()}")
    return f"federation certificates in {request.root / CERTIFICATES}"


def make_signing_keys(request: Request) -> str:
    from shared.security import (
        create_key_file,
        load_key_file,
        trust_list_document,
        trusted_jwk,
        write_trust_list,
    )

    trust_list = request.root / TRUST_LIST
    listed = json.loads(trust_list.read_text()) if trust_list.exists() else None
    made = []
    entries = []
    for principal in PRINCIPALS:
        path = request.root / KEYS / f"{principal}.json"
        if path.exists():
            key = load_key_file(path)
        else:
            key = create_key_file(path, principal)
            made.append(principal)
        entries.append((principal, trusted_jwk(key, datetime.now(UTC))))
    document = trust_list_document(entries)
    if listed:  # keep what the operator added (other countries, rotated keys), and old dates
        for principal, entry in document["principals"].items():
            keys = listed.setdefault("principals", {}).setdefault(principal, {"keys": []})["keys"]
            if entry["keys"][0]["kid"] not in {k["kid"] for k in keys}:
                keys.append(entry["keys"][0])
        document = listed
    write_trust_list(trust_list, document)
    trust_list.chmod(0o644)  # public keys, read by every container's user
    return (
        f"signing keys in {request.root / KEYS} (new: {', '.join(made) or 'none'}); "
        f"trust list {trust_list}"
    )


STEPS: tuple[Callable[[Request], str], ...] = (write_env, make_certificates, make_signing_keys)


def init(request: Request) -> list[str]:
    """Run every step; returns what each did."""
    return [step(request) for step in STEPS]


@click.group("compose")
def compose_group() -> None:
    """The docker compose network of docker-compose.yml."""


@compose_group.command("init")
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="The repository clone holding docker-compose.yml.",
)
@click.option(
    "--env-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write (default: ROOT/.env, which docker-compose reads by itself).",
)
@click.option(
    "--set",
    "assignments",
    multiple=True,
    metavar="NAME=VALUE",
    help="A value of deploy/.env.example to use instead of its default (repeat).",
)
@click.option("--force", is_flag=True, help="Overwrite an existing env file.")
def compose_init(
    root: Path, env_file: Path | None, assignments: tuple[str, ...], force: bool
) -> None:
    """Write .env with a random password for every user and secret, and make the certificates."""
    overrides = {}
    for assignment in assignments:
        name, sep, value = assignment.partition("=")
        if not sep:
            raise click.UsageError(f"--set takes NAME=VALUE, got {assignment!r}")
        overrides[name.strip()] = value
    request = Request(root, env_file or root / ".env", overrides, force)
    try:
        for done in init(request):
            click.echo(done)
    except InitError as exc:
        raise click.UsageError(str(exc)) from exc
