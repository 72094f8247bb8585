"""RSS and Atom tiles (`rss`): any RSS 0.9x/1.0/2.0 or Atom feed at a URL an admin typed.

Docs: https://feedparser.readthedocs.io/en/latest/ (parsing; "bozo" detection, common elements)
      https://www.rssboard.org/rss-specification, https://www.rfc-editor.org/rfc/rfc4287 (Atom)
      https://www.rfc-editor.org/rfc/rfc9110#section-13.1 (If-None-Match, If-Modified-Since)
The hub's SSRF-safe fetcher fetches (providers.safe_fetch) and feedparser only parses the bytes: feedparser
given a string may fetch a URL or open a file, so it is always handed a BytesIO. Before feedparser sees them
the bytes pass defusedxml, which refuses any entity declaration (billion laughs, quadratic blowup, external
entities such as file:///etc/passwd) and never loads an external DTD; feedparser's strict parser then
meets no entity it could expand. The cursor keeps the feed's ETag and Last-Modified, so a refresh of an
unchanged feed is a 304 with no body.
"""
from __future__ import annotations

import calendar
import hashlib
import io
import json
import xml.sax
import xml.sax.handler
import xml.sax.xmlreader
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import defusedxml
import feedparser
from defusedxml.expatreader import DefusedExpatParser

from providers import safe_fetch
from providers.base import FeedItem, FeedPage, FeedReader, FeedSource, Permanent, ProviderSettings, UnsafeURL

URL_LIMIT = 2000  # tiles.address
ID_LIMIT = 255  # tile_items.remote_id
# feedparser's bozo exceptions that say nothing is wrong with the items: a charset declared one way and
# served another, an XML feed served as text/html. Anything else (not well-formed XML) refuses the feed.
HARMLESS_BOZO = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)


class RSSReader(FeedReader):
    kind = "rss"
    connection_kind = None  # public feeds: no connection, no tokens
    min_refresh_seconds = 60  # conditional GETs are cheap, but a feed is someone else's server
    address_label = "url"

    def __init__(self, settings: ProviderSettings) -> None:
        super().__init__(settings)
        self.name = settings.name or self.kind

    @classmethod
    def check_address(cls, address: str) -> str:
        """An absolute http(s) feed URL with a host and no credentials.

        Where the host may be reached is decided at every fetch, not here: what a name resolves to can change,
        and which hosts may be private (HUB_FEED_ALLOW_HOSTS) is the reader's settings, not the address's.
        """
        url = address.strip()
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 (raises for a port that is not a number)
        except ValueError:
            raise ValueError(f"an rss tile needs a feed URL such as https://example.org/feed.xml, not {address!r}") \
                from None
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ValueError(f"an rss tile needs an absolute http(s) feed URL such as https://example.org/feed.xml, "
                             f"not {address!r}")
        if parts.username is not None or parts.password is not None:
            raise ValueError("an rss feed URL must not carry a user name or password")
        if len(url) > URL_LIMIT or any(ord(ch) < 0x21 or ord(ch) == 0x7f for ch in url):
            raise ValueError(f"an rss feed URL must be at most {URL_LIMIT} characters, without spaces or controls")
        return url

    def fetch(self, source: FeedSource, cursor: str | None) -> FeedPage:
        """The feed's entries, newest first (at most max_items); 304 when unchanged since the cursor's validators."""
        url = self.check_address(source.address)
        state = _state(cursor, url)
        try:
            fetched = safe_fetch.fetch(url, etag=state.get("etag"), last_modified=state.get("last_modified"),
                                       allow_hosts=self.settings.feed_allow_hosts, ca_bundle=self.settings.ca_bundle,
                                       provider=self.name)
        except UnsafeURL as exc:
            raise Permanent(self.name, f"the feed URL is refused: {exc}") from exc
        if fetched.status == 304:
            return FeedPage(items=(), cursor=_cursor(url, state.get("etag"), state.get("last_modified")),
                            not_modified=True)
        parsed = self.parse(fetched.body, fetched.url, fetched.content_type)
        items = sorted((_item(entry) for entry in parsed.entries), key=_newest_first)
        return FeedPage(items=tuple(items[: max(source.max_items, 0)]),
                        cursor=_cursor(url, fetched.etag, fetched.last_modified))

    def parse(self, body: bytes, url: str, content_type: str | None) -> Any:
        """The feed parsed from bytes, or Permanent saying why it is not one (entities, not XML, not a feed)."""
        if not body.strip():
            raise Permanent(self.name, "the feed URL answered with an empty body")
        _defuse(self.name, body)
        headers = {"content-location": url}
        if content_type:
            headers["content-type"] = content_type
        # BytesIO: feedparser treats a str or bytes argument as a URL or a file name when it looks like one.
        parsed = feedparser.parse(io.BytesIO(body), response_headers=headers)
        if parsed.get("bozo") and not isinstance(parsed.get("bozo_exception"), HARMLESS_BOZO):
            raise Permanent(self.name, f"the feed is not well-formed XML: {parsed.get('bozo_exception')}")
        if not parsed.get("version"):
            raise Permanent(self.name, "the URL does not serve an RSS or Atom feed"
                                       f"{' (it serves an HTML page)' if _looks_like_html(body) else ''}")
        return parsed


def _defuse(name: str, body: bytes) -> None:
    """Refuse entity declarations and external references before any parser that could expand them sees the bytes."""
    # A DOCTYPE naming an external DTD is allowed (RSS 0.91 feeds carry Netscape's) but never loaded: the
    # external entity features are off, and every entity declaration, internal or external, is refused.
    parser = DefusedExpatParser(forbid_dtd=False, forbid_entities=True, forbid_external=False)
    parser.setFeature(xml.sax.handler.feature_external_ges, False)
    parser.setFeature(xml.sax.handler.feature_external_pes, False)
    parser.setContentHandler(xml.sax.handler.ContentHandler())
    source = xml.sax.xmlreader.InputSource()
    source.setByteStream(io.BytesIO(body))
    try:
        parser.parse(source)
    except defusedxml.EntitiesForbidden as exc:
        raise Permanent(name, f"the feed declares the XML entity {exc.name!r}: entity declarations are refused "
                              "(entity expansion bombs, external entities)") from exc
    except defusedxml.DefusedXmlException as exc:
        raise Permanent(name, f"the feed is refused: {exc}") from exc
    except xml.sax.SAXParseException as exc:
        if _looks_like_html(body):
            raise Permanent(name, "the URL does not serve an RSS or Atom feed (it serves an HTML page)") from exc
        raise Permanent(name, f"the feed is not well-formed XML: {exc.getMessage()} at line {exc.getLineNumber()}, "
                              f"column {exc.getColumnNumber()}") from exc


def _looks_like_html(body: bytes) -> bool:
    head = body[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<html" in head[:256]


def _item(entry: Any) -> FeedItem:
    title = str(entry.get("title") or "").strip()
    body = _body(entry)
    link = str(entry.get("link") or "").strip() or None
    remote_id = str(entry.get("id") or "").strip() or link
    if not remote_id or len(remote_id) > ID_LIMIT:
        remote_id = hashlib.sha256("\x1f".join((remote_id or "", title, body or "")).encode()).hexdigest()
    return FeedItem(remote_id=remote_id, title=title or None, text=body or title,
                    html=body if body and body != title else None,
                    author=str(entry.get("author") or "").strip() or None, link=link,
                    published_at=_published(entry))


def _body(entry: Any) -> str | None:
    """The entry's full content where the feed gives one (Atom content, content:encoded), else its summary."""
    for content in entry.get("content") or ():
        if content.get("value"):
            return str(content["value"])
    summary = entry.get("summary")
    return str(summary) if summary else None


def _published(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:  # feedparser normalises every date format it knows to a UTC struct_time
            return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    return None


def _newest_first(item: FeedItem) -> tuple[bool, float]:
    return (item.published_at is None, -(item.published_at.timestamp() if item.published_at else 0.0))


def _state(cursor: str | None, url: str) -> dict[str, Any]:
    """The cursor's validators, only if they were the same URL's (an edited tile starts afresh)."""
    if not cursor:
        return {}
    try:
        state = json.loads(cursor)
    except ValueError:
        return {}
    return state if isinstance(state, dict) and state.get("url") == url else {}


def _cursor(url: str, etag: str | None, last_modified: str | None) -> str:
    return json.dumps({"url": url, "etag": etag, "last_modified": last_modified}, sort_keys=True)
