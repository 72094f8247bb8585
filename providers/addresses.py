"""Which addresses the hub may call for an admin-typed URL: the one check behind the feed fetcher (safe_fetch) and
every provider call (providers.base), and the allow-lists that open a named host:port past it.

A host is refused if ANY address it resolves to is not public (docs/tiles-safety.md lists the ranges). An allow-list
entry (HUB_FEED_ALLOW_HOSTS, HUB_PROVIDER_ALLOW_HOSTS) opens one port of one host:

- `host:port` opens exactly that port;
- a bare `host` opens the port of the URL the admin configured on that host (a feed's URL: the first request; a
  provider's issuer, API base or auth base), or, where no configured URL names the host, the scheme's default port
  (443 for https, 80 for http).

So a redirect from an allowed host reaches only that same host:port or another entry's, never another port of it.
This module imports nothing from the hub or the other provider modules, so both sides can use it.
"""
from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}

# Ranges the ipaddress predicates do not all name on every Python version: CGNAT and the IPv6 forms that
# carry an IPv4 address a gateway would forward to (NAT64, 6to4, Teredo), IPv4-compatible (::a.b.c.d).
BLOCKED_NETWORKS = tuple(ipaddress.ip_network(net) for net in (
    "0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "198.18.0.0/15", "255.255.255.255/32",
    "::/96", "64:ff9b::/96", "64:ff9b:1::/48", "2002::/16", "2001::/32", "fc00::/7", "fe80::/10", "fec0::/10",
))


def refusal(address: str) -> str | None:
    """Why an IP address may not be called (not public), or None if it may."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # a scoped IPv6 (fe80::1%eth0) is link-local anyway
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return f"{ip} is an IPv4-mapped address ({ip.ipv4_mapped})"
    if isinstance(ip, ipaddress.IPv4Address) and ip == ipaddress.IPv4Address("255.255.255.255"):
        return f"{ip} is the broadcast address"
    for label, flag in (("loopback", ip.is_loopback), ("link-local", ip.is_link_local), ("multicast", ip.is_multicast),
                        ("unspecified", ip.is_unspecified), ("private", ip.is_private), ("reserved", ip.is_reserved)):
        if flag:
            return f"{ip} is a {label} address"
    for network in BLOCKED_NETWORKS:
        if ip.version == network.version and ip in network:
            return f"{ip} is in {network}, which is not public"
    if not ip.is_global:
        return f"{ip} is not a public address"
    return None


def canonical_host(host: str) -> str:
    """A host as allow-lists compare it: lower case, no brackets or trailing dot, an IP literal canonical."""
    host = host.strip().lower().strip("[]").rstrip(".")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


def endpoint(host: str, port: int | None = None) -> str:
    """How an allow-list names a host (`host`) or one port of it (`host:port`, `[v6]:port`)."""
    host = canonical_host(host)
    if port is None:
        return host
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def url_endpoint(url: str) -> tuple[str, int] | None:
    """(host, port) of an http(s) URL, the port filled in from the scheme; None if it is not one."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return canonical_host(parts.hostname), port or DEFAULT_PORTS[scheme]


def resolve(host: str, port: int) -> tuple[str, ...]:
    """Every address the host resolves to (all are checked, so no answer order lets a private one through).

    Raises socket.gaierror (an OSError) or UnicodeError when it does not resolve.
    """
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise socket.gaierror(socket.EAI_NONAME, f"{host} has no address")
    return addresses


@dataclass(frozen=True)
class AddressPolicy:
    """What may be called past the public-address rule: allow-list entries, read against the configured URLs."""

    allow: frozenset[str] = frozenset()  # entries as `endpoint` writes them: host or host:port
    configured: frozenset[tuple[str, int]] = frozenset()  # (host, port) of the URLs the admin typed
    loopback: bool = False  # HUB_INSECURE_LOOPBACK: loopback addresses too (the demo's and the tests' sandboxes)
    setting: str = "HUB_PROVIDER_ALLOW_HOSTS"  # the setting an error tells the admin about

    @classmethod
    def of(cls, allow: Iterable[str], urls: Iterable[str | None], *, loopback: bool = False,
           setting: str = "HUB_PROVIDER_ALLOW_HOSTS") -> AddressPolicy:
        """The policy for an allow-list and the URLs an admin configured (those a bare entry takes its port from)."""
        configured = frozenset(found for found in (url_endpoint(url) for url in urls if url) if found)
        return cls(allow=frozenset(_normalised(entry) for entry in allow), configured=configured,
                   loopback=loopback, setting=setting)

    def allows(self, host: str, port: int, default_port: int) -> bool:
        """Whether an allow-list entry opens host:port (see the module docstring for what a bare host opens)."""
        host = canonical_host(host)
        if endpoint(host, port) in self.allow:
            return True
        if host not in self.allow:
            return False
        ports = {configured_port for configured_host, configured_port in self.configured if configured_host == host}
        return port in ports if ports else port == default_port

    def refusal(self, host: str, port: int, default_port: int, addresses: Iterable[str]) -> str | None:
        """Why host:port, resolved to these addresses, may not be called; None if it may."""
        if self.allows(host, port, default_port):
            return None
        for address in addresses:
            reason = refusal(address)
            if reason and not (self.loopback and _is_loopback(address)):
                return f"{reason} ({self.hint(host, port)})"
        return None

    def hint(self, host: str, port: int) -> str:
        """What the admin can do about a refused host: name it, with its port, in the allow-list setting."""
        return (f"the hub calls only public addresses unless {self.setting} names the server, "
                f"as {endpoint(host, port)}")


def _normalised(entry: str) -> str:
    """An allow-list entry as `endpoint` writes it (hub.config validates them; tests pass them raw)."""
    entry = entry.strip()
    if entry.startswith("[") and "]:" in entry:
        host, _, port = entry[1:].partition("]:")
        return endpoint(host, int(port)) if port.isdigit() else canonical_host(entry)
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        return endpoint(host, int(port)) if port.isdigit() else canonical_host(entry)
    return canonical_host(entry)


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def url_refusal(url: str, policy: AddressPolicy) -> str | None:
    """Why an http(s) URL's host may not be called, resolving it now; None if it may.

    A name that does not resolve (yet) passes: every call resolves and checks it again, so it is refused then if
    it has come to name a private address.
    """
    found = url_endpoint(url)
    if found is None:
        return None
    host, port = found
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError):
        return None
    reason = policy.refusal(host, port, DEFAULT_PORTS[urlsplit(url).scheme.lower()], addresses)
    return not_called(host, reason) if reason else None


def not_called(host: str, reason: str) -> str:
    """The refusal of a provider call to host, without naming an address literal twice."""
    return reason if reason.startswith(f"{canonical_host(host)} ") else f"{host} is not called: {reason}"
