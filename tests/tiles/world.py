"""What the tile core tests share (their fixtures are in tests/tiles/conftest.py): a local JSON feed and its reader.

`JsonFeed` is a small HTTP server on 127.0.0.1 that stands in for an external provider's API (not a mock of
the hub): it serves items newer than `since_id`, counts every request, and fails on demand the way providers
do (429 with Retry-After, 5xx, 404, a slow answer). `LocalJsonReader` is a real FeedReader for it, registered
in providers.registry.READERS as kind "test:json" for the test, so the hub reaches it the way it reaches any
reader: registry, settings, refresh, sanitize, store.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from providers.base import FeedItem, FeedPage, FeedReader, FeedSource, Permanent, RateLimited, Transient
from providers.publishing import retry_after

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
        published = datetime(2026, 1, 1, tzinfo=UTC).timestamp() + remote_id * 60
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
                               published_at=datetime.fromtimestamp(d["published"], tz=UTC))
                      for d in data)
        return FeedPage(items=items, cursor=max((d["id"] for d in data), key=int))


@dataclass
class Orgs:
    partners: int
    staff: int
