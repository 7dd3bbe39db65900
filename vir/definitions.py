"""`vir asyncapi` and `vir topology`: the documents the network is built from, the AsyncAPI
description of the events and the RabbitMQ definitions of each broker."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from shared.messaging import topology


@click.command("asyncapi")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
def asyncapi(output: Path | None) -> None:
    """Print (or write) the AsyncAPI 3.0 document of the event contract."""
    from shared.events.asyncapi import document

    text = json.dumps(document(), indent=2, ensure_ascii=False) + "\n"
    if output:
        output.write_text(text)
    else:
        sys.stdout.write(text)


@click.group("topology")
def topology_group() -> None:
    """RabbitMQ exchanges, queues, retry and dead-letter queues."""


@topology_group.command("export")
@click.option("--agencies", default="TG,ML", show_default=True, help="Agency codes of the network.")
@click.option("--vhost", default="/", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
def topology_export(agencies: str, vhost: str, output: Path | None) -> None:
    """Print (or write) RabbitMQ definitions for a network of AGENCIES."""
    codes = [a.strip().upper() for a in agencies.split(",") if a.strip()]
    text = (
        json.dumps(topology.definitions(topology.network_consumers(codes), vhost), indent=2) + "\n"
    )
    if output:
        output.write_text(text)
    else:
        sys.stdout.write(text)


@topology_group.command("national")
@click.option("--country", required=True, help="The country of this national broker, e.g. TG.")
@click.option(
    "--peer",
    "peers",
    multiple=True,
    metavar="COUNTRY=HOST[:PORT]",
    help="A peer broker federated with this one, e.g. ML=rabbitmq-ml (repeat per peer).",
)
@click.option(
    "--hosts-network-services",
    is_flag=True,
    help="This broker also serves matching and the network notifications.",
)
@click.option("--vhost", default="vir", show_default=True)
@click.option("--tls-dir", default="/etc/rabbitmq/tls", show_default=True)
@click.option(
    "--passwords-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="user=password lines: write salted hashes (install time; the output holds secrets).",
)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
def topology_national(
    country: str,
    peers: tuple[str, ...],
    hosts_network_services: bool,
    vhost: str,
    tls_dir: str,
    passwords_file: Path | None,
    output: Path | None,
) -> None:
    """Print (or write) the RabbitMQ definitions of COUNTRY's national broker: users, vhost,
    permissions, topology, federation upstreams to its peers and the federation policy."""
    import os

    from shared.messaging import broker_passwords, federation

    try:
        defs = federation.national_definitions(
            country,
            [federation.parse_peer(p) for p in peers],
            network_services=hosts_network_services,
            vhost=vhost,
            tls_dir=tls_dir,
        )
        if passwords_file is not None:
            passwords = broker_passwords.parse_passwords(passwords_file.read_text())
            defs = broker_passwords.with_passwords(defs, passwords)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    text = json.dumps(defs, indent=2) + "\n"
    if output is None:
        sys.stdout.write(text)
    elif passwords_file is not None:  # holds password hashes: readable by its owner only
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
    else:
        output.write_text(text)
