"""A local news site for the demo and tests: sample RSS 2.0, RSS 1.0, RSS 0.91 and Atom feeds on loopback.

Each feed answers with a strong ETag and a Last-Modified date and honours If-None-Match / If-Modified-Since
with 304, as a well-behaved feed server does (RFC 9110 section 13.1), so a tile refresh of an unchanged feed
transfers no body. `publish()` adds a story (the next fetch sees a new ETag); `faults` lets tests make the
next answers misbehave. One item carries markup the hub must neutralise (a script, an image, an onclick),
so the demo shows the sanitizer at work.
"""
from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from xml.sax.saxutils import escape

from flask import Blueprint, Response, request, url_for

from providers.posting_sandbox import PostingFaults, posts_page

SITE = "Northwind Learning News"


@dataclass(frozen=True)
class Story:
    id: int
    title: str
    html: str
    author: str
    published: datetime


SEED = (
    ("New course: Safety at Work 2.0", "<p>The refreshed <strong>Safety at Work</strong> course is live, with "
     "three new modules.</p>", "Ana Ruiz"),
    ("Partner webinar on Thursday", "<p>Join the <em>partner enablement</em> webinar: "
     "<a href=\"https://example.org/webinar\">register here</a>.</p>", "Ben Okafor"),
    ("Badges now show on LinkedIn", "<p>Share a badge in one click.</p><img src=\"https://tracker.example/p.gif\">"
     "<script>document.title='pwned'</script><p onclick=\"alert(1)\">Nothing here runs in a tile.</p>",
     "Chen Wei"),
)


class RssSandbox:
    # The page people read (the demo LMS links it): path under /sandbox/<kind>, network, what it shows.
    posts_view = ("/", "RSS feeds", "Sample news feeds")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.stories: list[Story] = []
        self.requests = 0  # feed requests answered, 304s included
        self.not_modified = 0
        self.faults = PostingFaults()
        start = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
        for offset, (title, html, author) in enumerate(SEED):
            self.publish(title, html, author, published=start + timedelta(days=offset))
        bp = Blueprint("sandbox_rss", __name__)
        bp.add_url_rule("/", "index", self.index)
        bp.add_url_rule("/news.rss", "rss2", self.rss2)
        bp.add_url_rule("/news.rdf", "rss1", self.rss1)
        bp.add_url_rule("/news-091.rss", "rss091", self.rss091)
        bp.add_url_rule("/news.atom", "atom", self.atom)
        self.blueprint = bp

    def publish(self, title: str, html: str, author: str = "Newsroom", published: datetime | None = None) -> Story:
        """Add a story; every feed changes (new ETag, new Last-Modified)."""
        with self._lock:
            newest = self.stories[-1].published if self.stories else None
            when = published or max(datetime.now(UTC).replace(microsecond=0),
                                    (newest + timedelta(seconds=1)) if newest else datetime.min.replace(
                                        tzinfo=UTC))
            story = Story(len(self.stories) + 1, title, html, author, when)
            self.stories.append(story)
            return story

    def index(self) -> str:
        """The stories as a page, newest first, with links to each feed (the demo links here)."""
        feeds = [(name, url_for(f"sandbox_rss.{endpoint}"))
                 for name, endpoint in (("RSS 2.0", "rss2"), ("RSS 1.0", "rss1"), ("RSS 0.91", "rss091"),
                                        ("Atom", "atom"))]
        posts = [(f"{s.title}", f"{s.author} · {s.published:%Y-%m-%d %H:%M} UTC") for s in reversed(self.stories)]
        links = [(f"{name}: {path}", "feed URL") for name, path in feeds]
        return posts_page(f"RSS sandbox: {SITE}", "#ee802f", [("Feeds", links), ("Stories", posts)])

    def rss2(self) -> Any:
        items = "".join(
            f"<item><title>{escape(s.title)}</title><link>{self._link(s)}</link>"
            f"<guid isPermaLink=\"false\">northwind-{s.id}</guid><dc:creator>{escape(s.author)}</dc:creator>"
            f"<pubDate>{format_datetime(s.published, usegmt=True)}</pubDate>"
            f"<description>{escape(s.html)}</description></item>" for s in reversed(self.stories))
        return self._answer(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><rss version=\"2.0\" "
            "xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><channel>"
            f"<title>{SITE}</title><link>{self._home()}</link><description>Company news</description>"
            f"{items}</channel></rss>", "application/rss+xml; charset=utf-8")

    def rss1(self) -> Any:
        items = "".join(
            f"<item rdf:about=\"{self._link(s)}\"><title>{escape(s.title)}</title><link>{self._link(s)}</link>"
            f"<description>{escape(s.html)}</description><dc:creator>{escape(s.author)}</dc:creator>"
            f"<dc:date>{s.published.isoformat()}</dc:date></item>" for s in reversed(self.stories))
        return self._answer(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><rdf:RDF "
            "xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\" xmlns=\"http://purl.org/rss/1.0/\" "
            "xmlns:dc=\"http://purl.org/dc/elements/1.1/\">"
            f"<channel rdf:about=\"{self._home()}\"><title>{SITE}</title><link>{self._home()}</link>"
            f"<description>Company news</description></channel>{items}</rdf:RDF>", "application/rdf+xml")

    def rss091(self) -> Any:
        # RSS 0.91 items have no guid, author or date: the reader falls back to the link as the item's id.
        items = "".join(f"<item><title>{escape(s.title)}</title><link>{self._link(s)}</link>"
                        f"<description>{escape(s.html)}</description></item>" for s in reversed(self.stories))
        return self._answer(
            "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><!DOCTYPE rss PUBLIC "
            "\"-//Netscape Communications//DTD RSS 0.91//EN\" \"http://my.netscape.com/publish/formats/rss-0.91.dtd\">"
            f"<rss version=\"0.91\"><channel><title>{SITE}</title><link>{self._home()}</link>"
            f"<description>Company news</description><language>en</language>{items}</channel></rss>",
            "application/rss+xml")

    def atom(self) -> Any:
        entries = "".join(
            f"<entry><title>{escape(s.title)}</title><id>urn:northwind:story:{s.id}</id>"
            f"<link rel=\"alternate\" href=\"{self._link(s)}\"/><author><name>{escape(s.author)}</name></author>"
            f"<updated>{s.published.isoformat()}</updated><published>{s.published.isoformat()}</published>"
            f"<content type=\"html\">{escape(s.html)}</content></entry>" for s in reversed(self.stories))
        updated = (self.stories[-1].published if self.stories else datetime.now(UTC)).isoformat()
        return self._answer(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><feed xmlns=\"http://www.w3.org/2005/Atom\">"
            f"<title>{SITE}</title><id>urn:northwind:news</id><updated>{updated}</updated>"
            f"<link rel=\"alternate\" href=\"{self._home()}\"/>{entries}</feed>", "application/atom+xml")

    def _answer(self, body: str, content_type: str) -> Any:
        """The feed, or 304 when the client's validators still match; a canned fault first if a test set one."""
        with self._lock:
            self.requests += 1
        canned = self.faults.pop()
        if canned:
            return canned
        data = body.encode("iso-8859-1" if "ISO-8859-1" in body[:60] else "utf-8")
        etag = f"\"{hashlib.sha256(data).hexdigest()[:20]}\""
        modified = self.stories[-1].published if self.stories else datetime(2025, 1, 1, tzinfo=UTC)
        headers = {"ETag": etag, "Last-Modified": format_datetime(modified, usegmt=True),
                   "Cache-Control": "no-cache"}
        if _not_modified(etag, modified):
            with self._lock:
                self.not_modified += 1
            return Response(status=304, headers=headers)
        return Response(data, content_type=content_type, headers=headers)

    def _home(self) -> str:
        return escape(url_for("sandbox_rss.index", _external=True))

    def _link(self, story: Story) -> str:
        return escape(f"https://news.northwind.example/stories/{story.id}")


def _not_modified(etag: str, modified: datetime) -> bool:
    """RFC 9110 13.2.2: If-None-Match decides when present; If-Modified-Since only without it."""
    offered = request.headers.get("If-None-Match")
    if offered is not None:
        return etag in [tag.strip() for tag in offered.split(",")] or offered.strip() == "*"
    since = request.headers.get("If-Modified-Since")
    if since:
        try:
            return modified <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False


def create_sandbox() -> RssSandbox:
    return RssSandbox()
