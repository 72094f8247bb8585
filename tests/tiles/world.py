"""Fixtures for the tile core tests: the live hub, two organisations, and a local JSON feed with its reader.

`JsonFeed` is a small HTTP server on 127.0.0.1 that stands in for an external provider's API (not a mock of
the hub): it serves items newer than `since_id`, counts every request, and fails on demand the way providers
do (429 with Retry-After, 5xx, 404, a slow answer). `LocalJsonReader` is a real FeedReader for it, registered
in providers.registry.READERS as kind "test:json" for the test, so the hub reaches it the way it reaches any
reader: registry, settings, refresh, sanitize, store.
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from hub.models import Organisation
from providers import registry
from providers.base import FeedItem, FeedPage, FeedReader, FeedSource, Permanent, RateLimited, Transient
from providers.publishing import retry_after
from tests.live import LiveHub

KIND = "test:json"


@dataclass
class JsonFeed:
    """Items by id (higher is newer); `fail` makes the next answers a status (429 carries Retry-After)."""

    items: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, list[str]]] = field(default_factory=list)
    fail: int | None = None
    retry_after: int = 120
    delay: float = 0.0
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/feed"

    def add(self, remote_id: int, text: str, **extra: Any) -> None:
        published = datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp() + remote_id * 60
        self.items.append({"id": str(remote_id), "text": text, "published": published, **extra})

    def answer(self, query: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes]:
        self.requests.append(query)
        if self.delay:
            time.sleep(self.delay)
        if self.fail is not None:
            headers = {"Retry-After": str(self.retry_after)} if self.fail == 429 else {}
            return self.fail, headers, b'{"error": "failing on purpose"}'
        since = int((query.get("since_id") or ["0"])[0])
        limit = int((query.get("limit") or ["20"])[0])
        newer = sorted((i for i in self.items if int(i["id"]) > since), key=lambda i: -int(i["id"]))[:limit]
        return 200, {"Content-Type": "application/json"}, json.dumps({"data": newer}).encode()


class LocalJsonReader(FeedReader):
    """A FeedReader for JsonFeed: since_id in the cursor, errors mapped as providers.base says."""

    kind = KIND
    connection_kind = None
    min_refresh_seconds = 60
    address_label = "url"

    @classmethod
    def check_address(cls, address: str) -> str:
        parts = urlsplit(address)
        if parts.scheme != "http" or parts.hostname != "127.0.0.1":
            raise ValueError("a test:json tile reads http://127.0.0.1 only")
        return address

    def fetch(self, source: FeedSource, cursor: str | None) -> FeedPage:
        params = {"limit": source.max_items, **({"since_id": cursor} if cursor else {})}
        try:
            response = requests.get(source.address, params=params, timeout=(2, 5))
        except requests.RequestException as exc:
            raise Transient(KIND, f"the feed did not answer: {type(exc).__name__}") from exc
        if response.status_code == 429:
            raise RateLimited(KIND, "feed rate limit", retry_after=retry_after(response.headers))
        if response.status_code >= 500:
            raise Transient(KIND, f"the feed failed ({response.status_code})")
        if response.status_code >= 400:
            raise Permanent(KIND, f"the feed refused the request ({response.status_code})")
        data = response.json()["data"]
        if not data:
            return FeedPage(items=(), cursor=cursor, not_modified=True)
        items = tuple(FeedItem(remote_id=d["id"], text=d["text"], html=d.get("html"), title=d.get("title"),
                               author=d.get("author"),
                               avatar_url=d.get("avatar"), link=d.get("link"),
                               published_at=datetime.fromtimestamp(d["published"], tz=timezone.utc))
                      for d in data)
        return FeedPage(items=items, cursor=max((d["id"] for d in data), key=int))


@pytest.fixture
def feed() -> Iterator[JsonFeed]:
    state = JsonFeed()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            status, headers, body = state.answer(parse_qs(urlsplit(self.path).query))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_port
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def json_kind(monkeypatch: pytest.MonkeyPatch) -> str:
    """Register LocalJsonReader as tile kind "test:json" for one test."""
    monkeypatch.setitem(registry.READERS, KIND, "tests.tiles.world:LocalJsonReader")
    return KIND


@dataclass
class Orgs:
    partners: int
    staff: int


@pytest.fixture
def orgs(live: LiveHub) -> Orgs:
    with live.context() as session:
        partners, staff = Organisation(name="Partners Inc"), Organisation(name="Staff")
        session.add_all([partners, staff])
        session.commit()
        return Orgs(partners.id, staff.id)
