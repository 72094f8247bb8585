"""providers.safe_fetch over real HTTP on loopback: what it fetches, what it refuses, and where it stops."""
from __future__ import annotations

import socket
import threading
import time
import tracemalloc
from collections.abc import Iterator
from email.utils import formatdate

import pytest
from flask import Flask
from werkzeug.serving import make_server

from hub.demo import tls
from providers.addresses import refusal
from providers.base import Permanent, RateLimited, Transient, UnsafeURL
from providers.safe_fetch import Limits, fetch
from tests.tiles.feed_server import FeedServer

LOCAL = frozenset({"localhost"})  # the feed server's name is allowed; its address spelled out is not
RSS = "<rss version='2.0'><channel><title>t</title></channel></rss>"


def test_fetches_a_feed_with_its_validators(feed_server: FeedServer) -> None:
    feed_server.feed("/feed", RSS, etag='"v1"', last_modified="Wed, 01 Jan 2025 10:00:00 GMT")
    got = fetch(feed_server.url("/feed"), allow_hosts=LOCAL)
    assert (got.status, got.body, got.etag, got.last_modified) == (200, RSS.encode(), '"v1"',
                                                                   "Wed, 01 Jan 2025 10:00:00 GMT")
    assert got.content_type == "application/rss+xml; charset=utf-8"
    assert got.url == feed_server.url("/feed")
    sent = feed_server.seen("/feed")[0].headers
    assert sent["host"] == f"localhost:{feed_server.port}"  # the name, though the connection went to the address
    assert "if-none-match" not in sent


def test_conditional_get_round_trip(feed_server: FeedServer) -> None:
    feed_server.feed("/feed", RSS, etag='"v1"')
    first = fetch(feed_server.url("/feed"), allow_hosts=LOCAL)
    second = fetch(feed_server.url("/feed"), etag=first.etag, allow_hosts=LOCAL)
    assert (second.status, second.body) == (304, b"")
    assert feed_server.seen("/feed")[1].headers["if-none-match"] == '"v1"'


def test_last_modified_round_trip(feed_server: FeedServer) -> None:
    stamp = "Wed, 01 Jan 2025 10:00:00 GMT"
    feed_server.feed("/feed", RSS, last_modified=stamp)
    first = fetch(feed_server.url("/feed"), allow_hosts=LOCAL)
    second = fetch(feed_server.url("/feed"), last_modified=first.last_modified, allow_hosts=LOCAL)
    assert second.status == 304
    assert feed_server.seen("/feed")[1].headers["if-modified-since"] == stamp


@pytest.mark.parametrize("hops", [1, 2, 3])
def test_follows_up_to_three_redirects(feed_server: FeedServer, hops: int) -> None:
    feed_server.feed("/feed", RSS)
    for hop in range(hops):
        feed_server.redirect(f"/r{hop}", f"/r{hop + 1}" if hop + 1 < hops else "/feed", status=(301, 302, 307)[hop])
    got = fetch(feed_server.url("/r0"), allow_hosts=LOCAL)
    assert got.body == RSS.encode()
    assert got.url == feed_server.url("/feed")


def test_refuses_a_fourth_redirect(feed_server: FeedServer) -> None:
    feed_server.feed("/feed", RSS)
    for hop in range(4):
        feed_server.redirect(f"/r{hop}", f"/r{hop + 1}" if hop < 3 else "/feed")
    with pytest.raises(Permanent, match="more than 3 times"):
        fetch(feed_server.url("/r0"), allow_hosts=LOCAL)
    assert not feed_server.seen("/feed")


@pytest.mark.parametrize("host", ["127.0.0.1", "2130706433", "0x7f.1", "017700000001", "[::ffff:127.0.0.1]",
                                  "127.1"])
def test_redirect_to_loopback_spellings_is_refused(feed_server: FeedServer, host: str) -> None:
    feed_server.feed("/secret", "internal")
    feed_server.redirect("/feed", f"http://{host}:{feed_server.port}/secret")
    with pytest.raises(UnsafeURL, match="is not fetched"):
        fetch(feed_server.url("/feed"), allow_hosts=LOCAL)
    assert not feed_server.seen("/secret")  # refused before connecting


@pytest.mark.parametrize("location", ["http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:6379/",
                                      "http://[::1]/", "http://10.0.0.1/", "file:///etc/passwd",
                                      "gopher://127.0.0.1:6379/_INFO"])
def test_redirect_to_internal_targets_is_refused(feed_server: FeedServer, location: str) -> None:
    feed_server.redirect("/feed", location)
    with pytest.raises(UnsafeURL):
        fetch(feed_server.url("/feed"), allow_hosts=LOCAL)


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/", "http://127.255.255.254/", "http://0.0.0.0/", "http://0/", "http://10.1.2.3/",
    "http://172.16.0.1/", "http://192.168.1.1/", "http://169.254.169.254/", "http://100.64.0.1/",
    "http://100.127.255.254/", "http://224.0.0.1/", "http://239.255.255.250/", "http://255.255.255.255/",
    "http://240.0.0.1/", "http://192.0.0.8/", "http://198.18.0.1/", "http://[::1]/", "http://[::]/",
    "http://[fc00::1]/", "http://[fd12:3456::1]/", "http://[fe80::1]/", "http://[ff02::1]/",
    "http://[::ffff:127.0.0.1]/", "http://[::ffff:169.254.169.254]/", "http://[::127.0.0.1]/",
    "http://[64:ff9b::a9fe:a9fe]/", "http://[2002:7f00:1::]/", "http://2852039166/", "http://0xa9.0xfe.0xa9.0xfe/",
    "https://127.0.0.1/",
])
def test_non_public_addresses_are_refused(url: str) -> None:
    with pytest.raises(UnsafeURL, match="is not fetched"):
        fetch(url)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/feed", "gopher://example.org/",
                                 "javascript:alert(1)", "data:text/xml,<rss/>", "/relative/feed", "//example.org/x",
                                 "http://user:secret@example.org/feed", "http:///feed", "http://example.org:99999/"])
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(UnsafeURL):
        fetch(url)


def test_the_address_literal_is_refused_though_its_name_is_allowed(feed_server: FeedServer) -> None:
    feed_server.feed("/feed", RSS)
    with pytest.raises(UnsafeURL):
        fetch(feed_server.url("/feed", host="127.0.0.1"), allow_hosts=LOCAL)
    assert fetch(feed_server.url("/feed", host="127.0.0.1"), allow_hosts=frozenset({"127.0.0.1"})).status == 200


def test_a_bare_allowed_host_opens_only_the_port_of_the_url_asked_for(feed_server: FeedServer,
                                                                    other_feed_server: FeedServer) -> None:
    """A redirect from an allowed host to another port of it (Redis, an admin console) is checked as any other."""
    other_feed_server.feed("/feed", RSS)
    feed_server.redirect("/feed", other_feed_server.url("/feed"))
    hint = f"HUB_FEED_ALLOW_HOSTS names the server, as localhost:{other_feed_server.port}"
    with pytest.raises(UnsafeURL, match=hint):
        fetch(feed_server.url("/feed"), allow_hosts=LOCAL)
    assert other_feed_server.requests == []
    # The first URL's own port is open: the admin typed it. A bare host names no other port.
    assert fetch(other_feed_server.url("/feed"), allow_hosts=LOCAL).status == 200


def test_a_host_and_port_entry_opens_exactly_that_port(feed_server: FeedServer, other_feed_server: FeedServer) -> None:
    other_feed_server.feed("/feed", RSS)
    feed_server.redirect("/feed", other_feed_server.url("/feed"))
    both = frozenset({f"localhost:{feed_server.port}", f"LocalHost:{other_feed_server.port}"})
    got = fetch(feed_server.url("/feed"), allow_hosts=both)
    assert (got.status, got.url) == (200, other_feed_server.url("/feed"))
    with pytest.raises(UnsafeURL):  # the first URL's port, but not the redirect's
        fetch(feed_server.url("/feed"), allow_hosts=frozenset({f"localhost:{feed_server.port}"}))
    with pytest.raises(UnsafeURL):  # an entry with a port opens no other port, not even the first URL's
        fetch(feed_server.url("/feed"), allow_hosts=frozenset({f"localhost:{other_feed_server.port}"}))


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, list[str]]]:
    """An attacker's DNS: names under .test answer what the test says, once per entry, in order."""
    answers: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        if isinstance(host, str) and host.endswith(".test"):
            queue = answers[host]
            chosen = queue.pop(0) if len(queue) > 1 else queue[0]
            return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                    for a in chosen.split(",")]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield answers


def test_any_private_answer_refuses_the_host(resolver: dict[str, list[str]]) -> None:
    resolver["mixed.test"] = ["93.184.215.14,10.0.0.7"]
    with pytest.raises(UnsafeURL, match="10.0.0.7 is a private address"):
        fetch("http://mixed.test/feed")


def test_connects_to_the_checked_address_without_resolving_again(feed_server: FeedServer,
                                                                 resolver: dict[str, list[str]]) -> None:
    """DNS rebinding: a second lookup would get another address; there is none, so the fetch reaches the first."""
    feed_server.feed("/feed", RSS)
    resolver["rebind.test"] = ["127.0.0.1", "192.0.2.1"]  # 192.0.2.1 (TEST-NET) would not answer
    got = fetch(f"http://rebind.test:{feed_server.port}/feed", allow_hosts=frozenset({"rebind.test"}))
    assert got.body == RSS.encode()
    assert resolver["rebind.test"] == ["192.0.2.1"]  # exactly one lookup was used
    assert feed_server.seen("/feed")[0].headers["host"] == f"rebind.test:{feed_server.port}"


def test_every_scheduled_fetch_checks_again(feed_server: FeedServer, resolver: dict[str, list[str]]) -> None:
    """A name that resolved to a public address at the first fetch and to a private one at the next is refused."""
    feed_server.feed("/feed", RSS)
    resolver["flip.test"] = ["127.0.0.1", "10.0.0.9"]
    assert fetch(f"http://flip.test:{feed_server.port}/feed", allow_hosts=frozenset({"flip.test"})).status == 200
    with pytest.raises(UnsafeURL, match="10.0.0.9"):
        fetch(f"http://flip.test:{feed_server.port}/feed")


def test_gzip_bomb_is_cut_after_decompression_without_inflating_it(feed_server: FeedServer) -> None:
    feed_server.gzip_bomb("/bomb", 64 * 1024 * 1024)  # 64 MiB of zeros, about 64 KiB on the wire
    tracemalloc.start()
    try:
        with pytest.raises(Permanent, match="larger than 1,048,576 bytes"):
            fetch(feed_server.url("/bomb"), allow_hosts=LOCAL, limits=Limits(max_bytes=1024 * 1024))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024


def test_endless_body_is_cut_at_the_size_cap(feed_server: FeedServer) -> None:
    feed_server.endless("/endless")
    started = time.monotonic()
    with pytest.raises(Permanent, match="larger than"):
        fetch(feed_server.url("/endless"), allow_hosts=LOCAL, limits=Limits(max_bytes=512 * 1024))
    assert time.monotonic() - started < 5


def test_announced_length_over_the_cap_is_refused_before_reading(feed_server: FeedServer) -> None:
    feed_server.feed("/big", "x" * 5000)
    with pytest.raises(Permanent, match="larger than 4,000 bytes"):
        fetch(feed_server.url("/big"), allow_hosts=LOCAL, limits=Limits(max_bytes=4000))


@pytest.mark.parametrize("headers_too", [False, True])
def test_slowloris_is_cut_at_the_total_deadline(feed_server: FeedServer, headers_too: bool) -> None:
    feed_server.dribble("/slow", interval=0.1, headers_too=headers_too)  # every read succeeds, well within 5 s
    started = time.monotonic()
    with pytest.raises(Transient, match="longer than 1 s in total"):
        fetch(feed_server.url("/slow"), allow_hosts=LOCAL, limits=Limits(read_timeout=5, total_timeout=1))
    assert time.monotonic() - started < 2.5


def test_total_deadline_covers_redirects(feed_server: FeedServer) -> None:
    feed_server.redirect("/r0", "/slow")
    feed_server.dribble("/slow", interval=0.1)
    with pytest.raises(Transient, match="in total"):
        fetch(feed_server.url("/r0"), allow_hosts=LOCAL, limits=Limits(read_timeout=5, total_timeout=0.8))


def test_a_silent_server_trips_the_read_timeout() -> None:
    listener = socket.create_server(("127.0.0.1", 0))  # accepts (the kernel's backlog) and never answers
    try:
        started = time.monotonic()
        with pytest.raises(Transient, match="timed out"):
            fetch(f"http://localhost:{listener.getsockname()[1]}/", allow_hosts=LOCAL,
                  limits=Limits(read_timeout=0.3, total_timeout=5))
        assert time.monotonic() - started < 2
    finally:
        listener.close()


def test_connection_refused_is_transient() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, never listening: nothing accepts on it
        with pytest.raises(Transient, match="did not answer"):
            fetch(f"http://localhost:{port}/", allow_hosts=LOCAL)


def test_rate_limit_names_the_reset(feed_server: FeedServer) -> None:
    feed_server.status("/seconds", 429, {"Retry-After": "120"})
    feed_server.status("/date", 429, {"Retry-After": formatdate(time.time() + 600, usegmt=True)})
    with pytest.raises(RateLimited) as seconds:
        fetch(feed_server.url("/seconds"), allow_hosts=LOCAL)
    assert seconds.value.retry_after == 120
    with pytest.raises(RateLimited) as date:
        fetch(feed_server.url("/date"), allow_hosts=LOCAL)
    assert 590 <= date.value.retry_after <= 600


@pytest.mark.parametrize(("status", "error"), [(500, Transient), (503, Transient), (404, Permanent),
                                               (410, Permanent), (401, Permanent), (302, Permanent)])
def test_statuses_map_onto_errors(feed_server: FeedServer, status: int, error: type[Exception]) -> None:
    feed_server.status("/s", status)
    with pytest.raises(error, match=f"\\({status}\\)"):
        fetch(feed_server.url("/s"), allow_hosts=LOCAL)


def test_refusal_names_the_reason() -> None:
    assert refusal("93.184.215.14") is None
    assert refusal("2606:4700:4700::1111") is None
    assert refusal("169.254.169.254") == "169.254.169.254 is a link-local address"
    assert refusal("100.64.0.1") == "100.64.0.1 is in 100.64.0.0/10, which is not public"
    assert refusal("::ffff:10.0.0.1") == "::ffff:a00:1 is an IPv4-mapped address (10.0.0.1)"


@pytest.fixture
def https_feed(tls_files: tls.TLSFiles) -> Iterator[int]:
    app = Flask("https_feed")
    app.add_url_rule("/feed", "feed", lambda: (RSS, 200, {"Content-Type": "application/rss+xml"}))
    server = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=(str(tls_files.cert), str(tls_files.key)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()


def test_https_verifies_the_certificate_against_the_host_name(https_feed: int, tls_files: tls.TLSFiles,
                                                              resolver: dict[str, list[str]]) -> None:
    got = fetch(f"https://localhost:{https_feed}/feed", allow_hosts=LOCAL, ca_bundle=str(tls_files.ca))
    assert got.body == RSS.encode()
    # The same pinned address under a name the certificate does not cover: verified against the name, refused.
    resolver["other.test"] = ["127.0.0.1"]
    with pytest.raises(Transient):
        fetch(f"https://other.test:{https_feed}/feed", allow_hosts=frozenset({"other.test"}),
              ca_bundle=str(tls_files.ca))
    # An unknown CA is refused too.
    with pytest.raises(Transient):
        fetch(f"https://localhost:{https_feed}/feed", allow_hosts=LOCAL)

