"""Fetching a URL an admin typed without letting it reach inside the hub's network (docs/tiles-safety.md).

Each hop (the URL, then every redirect, at most `Limits.max_redirects`) is checked from scratch: http(s)
only, no credentials; the host is resolved here once and refused if ANY address it resolves to is not
public (loopback, RFC 1918, link-local incl. 169.254.169.254, CGNAT, ULA, IPv4-mapped/compatible and
6to4/Teredo/NAT64 forms, 0/8, multicast, broadcast, reserved, unspecified); then the connection goes to
that checked address (pinned: nothing resolves the name again, so DNS rebinding between check and
connect cannot happen), with the original Host header and, for https, SNI and certificate verification
against the host name. Decimal/octal/hex spellings of an address (2130706433, 0x7f.1) are caught
because the resolver's answer is what is checked (providers.addresses holds that check, shared with every provider
call). An `allow_hosts` entry may resolve anywhere, on the port it opens: `host:port` that port, a bare host the
port of the URL asked for (the first request), so a redirect cannot move to another port of it; the demo and the
tests serve feeds on loopback.

Caps: a connect and a read timeout per socket operation, and a total deadline over the whole fetch
(resolving aside), enforced by a watchdog that shuts the socket down, since a server dribbling one
byte per second never trips a read timeout; a size cap counted on the body after decompression.

Why not a library: advocate is unmaintained since 2020; requests-hardened (kept by Saleor) filters
connected addresses but allows loopback for every host or none, not named hosts, and has no total
deadline or decompressed-size cap. So this is written on urllib3 (>= 2.7, whose streaming decoder
decompresses only what is asked for), overriding the one place its connections open a socket.
"""
from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urljoin, urlsplit

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.util.ssl_match_hostname import CertificateError

from providers.addresses import DEFAULT_PORTS, AddressPolicy, resolve
from providers.base import Permanent, RateLimited, Transient, UnsafeURL
from providers.publishing import retry_after

USER_AGENT = "SocialHub-FeedFetcher/1.0"
ACCEPT = ("application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, application/xml;q=0.9, "
          "text/xml;q=0.9, */*;q=0.1")
REDIRECTS = frozenset({301, 302, 303, 307, 308})
CHUNK = 64 * 1024
# What a connection, a TLS handshake or a response can fail with, once a socket is involved.
C = TypeVar("C", bound=HTTPConnection)
_FAILURES = (Urllib3Error, OSError, http.client.HTTPException, CertificateError)


@dataclass(frozen=True)
class Limits:
    """The caps of one fetch; tests shrink them to keep hostile servers quick."""

    max_bytes: int = 2 * 1024 * 1024  # after decompression: a feed is text, 2 MiB is hundreds of items
    connect_timeout: float = 5.0
    read_timeout: float = 10.0  # per socket read
    total_timeout: float = 20.0  # the whole fetch, every redirect included
    max_redirects: int = 3


@dataclass(frozen=True)
class Fetched:
    """A fetched body (status 200) or a 304 Not Modified (empty body), with the validators for next time."""

    status: int
    body: bytes
    url: str  # the final URL, after redirects
    etag: str | None
    last_modified: str | None
    content_type: str | None


def fetch(url: str, *, etag: str | None = None, last_modified: str | None = None,
          allow_hosts: frozenset[str] = frozenset(), limits: Limits = Limits(),
          ca_bundle: str | None = None, provider: str = "rss") -> Fetched:
    """GET a URL safely: checked and pinned at every hop, conditional, capped in time and size.

    Raises UnsafeURL for a refused scheme or address (at any hop), RateLimited for 429, Transient for 5xx,
    timeouts and connection failures, Permanent for other 4xx, too many redirects or a body over the cap.
    """
    deadline = time.monotonic() + limits.total_timeout
    # A bare allowed host opens the port of this first URL only: a redirect to another port of it is checked as any.
    policy = AddressPolicy.of(allow_hosts, [url], setting="HUB_FEED_ALLOW_HOSTS")
    headers = {"User-Agent": USER_AGENT, "Accept": ACCEPT, "Accept-Encoding": "gzip, deflate",
               "Connection": "close"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    for _hop in range(limits.max_redirects + 1):
        target = _Target.of(url, policy, provider)
        with _Exchange(target, headers, limits, deadline, provider, ca_bundle) as exchange:
            response = exchange.response
            if response.status in REDIRECTS and response.headers.get("Location"):
                url = urljoin(url, response.headers["Location"])  # checked from scratch on the next hop
                continue
            return exchange.result(url)
    raise Permanent(provider, f"the feed redirected more than {limits.max_redirects} times")


@dataclass(frozen=True)
class _Target:
    """One hop's URL, split, with the addresses it may connect to (already checked)."""

    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]

    @classmethod
    def of(cls, url: str, policy: AddressPolicy, provider: str) -> _Target:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise UnsafeURL(f"{url!r} is not a valid URL: {exc}") from exc
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise UnsafeURL(f"only http and https feeds can be fetched, not {scheme or 'a relative URL'!r}")
        if not parts.hostname:
            raise UnsafeURL(f"{url!r} has no host")
        if parts.username is not None or parts.password is not None:
            raise UnsafeURL("feed URLs with credentials in them are not fetched")
        host = parts.hostname.rstrip(".")
        port = port or DEFAULT_PORTS[scheme]
        addresses = _resolve(host, port, provider)
        reason = policy.refusal(host, port, DEFAULT_PORTS[scheme], addresses)
        if reason:
            raise UnsafeURL(f"{host} is not fetched: {reason}")
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(scheme, host, port, path, addresses)

    @property
    def host_header(self) -> str:
        name = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return name if self.port == default else f"{name}:{self.port}"


def _resolve(host: str, port: int, provider: str) -> tuple[str, ...]:
    """Every address the host name resolves to: all are checked, so no answer order lets a private one through."""
    try:
        return resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise Transient(provider, f"{host} does not resolve: {exc}") from exc


class _Watchdog:
    """Shuts a socket down at the deadline, waking a read stuck on a server that dribbles bytes."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.fired = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sock = sock
            self._timer = threading.Timer(max(self.deadline - time.monotonic(), 0.0), self._fire)
            self._timer.daemon = True
            self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            if self._sock is not None:
                with contextlib.suppress(OSError):  # already closed by the reader: nothing left to interrupt
                    self._sock.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._sock = None


def _pinned(base: type[C]) -> type[C]:
    """A urllib3 connection class that connects to a checked address instead of resolving its host name."""

    # The base is chosen at run time (urllib3's HTTP or HTTPS connection), which mypy cannot subclass.
    class Pinned(base):  # type: ignore[valid-type,misc]
        addresses: tuple[str, ...] = ()
        watchdog: _Watchdog | None = None
        connect_timeout: float = 5.0
        read_timeout: float = 10.0

        def _new_conn(self) -> socket.socket:
            last: OSError | None = None
            for address in self.addresses:
                family = socket.AF_INET6 if ":" in address else socket.AF_INET
                sock = socket.socket(family, socket.SOCK_STREAM)
                sock.settimeout(self.connect_timeout)
                try:
                    sock.connect((address, self.port))
                except OSError as exc:
                    sock.close()
                    last = exc
                    continue
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.settimeout(self.read_timeout)  # per read from here on, the TLS handshake included
                if self.watchdog is not None:
                    self.watchdog.watch(sock)
                return sock
            raise last or OSError("no address to connect to")

    return Pinned


_PinnedHTTP = _pinned(HTTPConnection)
_PinnedHTTPS = _pinned(HTTPSConnection)


class _Exchange:
    """One request and its response on a fresh pinned connection, closed (and its watchdog stopped) on exit."""

    def __init__(self, target: _Target, headers: Mapping[str, str], limits: Limits, deadline: float,
                 provider: str, ca_bundle: str | None) -> None:
        self.target, self.headers, self.limits, self.provider = target, headers, limits, provider
        self.watchdog = _Watchdog(deadline)
        self.ca_bundle = ca_bundle
        self.conn: HTTPConnection | None = None
        self._response: urllib3.BaseHTTPResponse | None = None

    @property
    def response(self) -> urllib3.BaseHTTPResponse:
        assert self._response is not None, "inside the with block"
        return self._response

    def __enter__(self) -> _Exchange:
        target, limits = self.target, self.limits
        remaining = self.watchdog.deadline - time.monotonic()
        if remaining <= 0:
            raise Transient(self.provider, f"the feed took longer than {limits.total_timeout:g} s in total")
        connect_timeout = min(limits.connect_timeout, remaining)
        read_timeout = min(limits.read_timeout, remaining)
        # urllib3 puts a connection's `timeout` on its socket before each request and response: the read timeout.
        if target.scheme == "https":
            conn: HTTPConnection = _PinnedHTTPS(target.host, target.port, timeout=read_timeout,
                                                cert_reqs="CERT_REQUIRED", server_hostname=target.host,
                                                assert_hostname=target.host, ca_certs=self.ca_bundle)
        else:
            conn = _PinnedHTTP(target.host, target.port, timeout=read_timeout)
        # Pinned's own attributes: the class is typed as its urllib3 base (see _pinned).
        conn.addresses = target.addresses  # type: ignore[attr-defined]
        conn.watchdog = self.watchdog  # type: ignore[attr-defined]
        conn.connect_timeout = connect_timeout  # type: ignore[attr-defined]
        conn.read_timeout = read_timeout  # type: ignore[attr-defined]
        self.conn = conn
        try:
            conn.request("GET", target.path, headers={**self.headers, "Host": target.host_header},
                         preload_content=False, decode_content=True)
            self._response = conn.getresponse()
        except _FAILURES as exc:
            self.close()
            raise self.failure(exc) from exc
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.watchdog.stop()
        if self.conn is not None:
            self.conn.close()

    def failure(self, exc: BaseException) -> Exception:
        if self.watchdog.fired:
            return Transient(self.provider, f"the feed took longer than {self.limits.total_timeout:g} s in total")
        if isinstance(exc, (socket.timeout, urllib3.exceptions.TimeoutError)):
            return Transient(self.provider, f"{self.target.host} timed out")
        if isinstance(exc, (CertificateError, ssl.SSLError)):
            return Transient(self.provider, f"{self.target.host} failed the TLS check: {exc}")
        return Transient(self.provider, f"{self.target.host} did not answer: {type(exc).__name__}")

    def result(self, url: str) -> Fetched:
        """The response mapped onto Fetched or the provider errors."""
        response, name = self.response, self.provider
        status = response.status
        if status == 304 or 200 <= status < 300:
            body = b"" if status == 304 else self.read()
            return Fetched(status=304 if status == 304 else 200, body=body, url=url,
                           etag=response.headers.get("ETag"), last_modified=response.headers.get("Last-Modified"),
                           content_type=response.headers.get("Content-Type"))
        if status == 429:
            raise RateLimited(name, f"{self.target.host} rate limit (429)", retry_after=retry_after(response.headers))
        if status >= 500 or status == 408:
            raise Transient(name, f"{self.target.host} failed ({status})")
        if status in REDIRECTS:
            raise Permanent(name, f"{self.target.host} redirected ({status}) without a Location")
        raise Permanent(name, f"{self.target.host} refused the feed ({status})")

    def read(self) -> bytes:
        """The body, decompressed, refused as soon as it passes the cap."""
        response = self.response
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and not response.headers.get("Content-Encoding") and int(length) > self.limits.max_bytes:
            raise self.too_big()
        body = bytearray()
        try:
            while chunk := response.read(min(CHUNK, self.limits.max_bytes + 1 - len(body))):
                body += chunk
                if len(body) > self.limits.max_bytes:
                    raise self.too_big()
        except _FAILURES as exc:
            raise self.failure(exc) from exc
        if self.watchdog.fired:  # a shutdown socket reads as a clean end of a truncated body
            raise self.failure(TimeoutError())
        return bytes(body)

    def too_big(self) -> Permanent:
        return Permanent(self.provider, f"the feed is larger than {self.limits.max_bytes:,} bytes "
                                        "(counted after decompression)")

