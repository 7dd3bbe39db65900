"""Which URLs may receive webhooks: a URL is parsed once, by the parser that fetches it
(urllib3), and refused when its host resolves to a private, loopback, link-local, multicast,
reserved or unspecified address (so a partner cannot make this service call into the operator's
own network), unless the operator allows that host, address or network in
`WEBHOOK_ALLOWED_HOSTS`. Checked when a subscription is made (subscriptions.py) and again at
send time (adapters/webhook.py)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

from urllib3.exceptions import LocationParseError
from urllib3.util import Url
from urllib3.util import parse_url as _parse

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class AddressRefused(ValueError):
    """The URL may not receive webhooks (scheme, or an address inside a private network)."""


class UnresolvableHost(ValueError):
    """The URL's host name does not resolve (now: DNS may answer later)."""


def _allow_list(allowed_hosts: Iterable[str]) -> tuple[frozenset[str], tuple[Network, ...]]:
    """Split the operator's entries into host names and networks (an address is a /32 or /128)."""
    names: set[str] = set()
    networks: list[Network] = []
    for entry in allowed_hosts:
        entry = entry.strip().lower()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
        except ValueError:
            names.add(entry.rstrip("."))
    return frozenset(names), tuple(networks)


def _ip(value: str) -> IPAddress:
    address = ipaddress.ip_address(value.split("%", 1)[0])  # drop an IPv6 zone (fe80::1%eth0)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return address


def is_public(address: IPAddress) -> bool:
    """Whether an address is on the public internet (not private, loopback, link-local, multicast,
    reserved, unspecified, shared/CGNAT or documentation space)."""
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def _host_allowed(host: str, names: frozenset[str], networks: tuple[Network, ...]) -> bool:
    host = host.lower().rstrip(".")
    if host in names:
        return True
    try:
        address = _ip(host)
    except ValueError:
        return False
    return any(address in network for network in networks)


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (DNS may give several; each must be acceptable)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnresolvableHost(f"the host {host} does not resolve: {exc}") from exc
    return list(dict.fromkeys(_ip(str(info[4][0])) for info in infos))


def check_address(host: str, address: str | IPAddress, allowed_hosts: Iterable[str]) -> None:
    """Refuse `address` (one `host` resolved or connected to) unless public or allowed."""
    names, networks = _allow_list(allowed_hosts)
    if _host_allowed(host, names, networks):
        return
    ip = _ip(str(address))
    if is_public(ip) or any(ip in network for network in networks):
        return
    raise AddressRefused(
        f"{host} resolves to {ip}, a private, loopback or reserved address; webhooks only go to "
        "public addresses unless the operator allows this host (WEBHOOK_ALLOWED_HOSTS)"
    )


def parse_url(url: str) -> Url:
    """Parse a webhook URL with the parser that fetches it (urllib3's, which requests uses).

    Checking one parse and fetching another lets a URL mean two hosts:
    `https://127.0.0.1:9150\\@8.8.8.8/` is 8.8.8.8 to `urllib.parse` and 127.0.0.1 to urllib3.
    So there is one parse, and what it cannot read one way only is refused: user-info,
    backslashes, whitespace and control characters."""
    raw = url.strip()
    if "\\" in raw:
        raise AddressRefused("a webhook URL may not contain a backslash")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in raw):
        raise AddressRefused("a webhook URL may not contain spaces or control characters")
    try:
        parts = _parse(raw)
    except LocationParseError as exc:
        raise AddressRefused(f"not a valid URL: {exc}") from exc
    if parts.auth is not None:
        raise AddressRefused(
            "a webhook URL may not carry a user name or password; the signature authenticates"
        )
    if parts.scheme not in ("https", "http") or not parts.host:
        raise AddressRefused("must be an absolute https:// URL, e.g. https://example.org/webhooks")
    return parts


def check_url(url: str, allowed_hosts: Iterable[str]) -> str:
    """Refuse (ValueError with a clear message) a URL that may not receive webhooks; return it
    as parsed, the only form stored and fetched.

    https only (http only for a host the operator allows); the host must resolve, and none of
    its addresses may be private, loopback, link-local, multicast, reserved or unspecified unless
    the host, or a network holding the address, is in the operator's allow-list.
    Raises AddressRefused or UnresolvableHost (both ValueError)."""
    allowed_hosts = tuple(allowed_hosts)
    parts = parse_url(url)
    host = (parts.host or "").strip("[]")
    names, networks = _allow_list(allowed_hosts)
    if parts.scheme == "http" and not _host_allowed(host, names, networks):
        raise AddressRefused(
            "must use https:// (plain http is only accepted for hosts the operator allows)"
        )
    for address in resolve(host, parts.port or (443 if parts.scheme == "https" else 80)):
        check_address(host, address, allowed_hosts)
    return str(parts.url)
