"""The rss reader over real HTTP on loopback: feed formats, conditional GETs, hostile XML, broken feeds."""
from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
import requests

from hub.tiles.sanitize import clean_html, plain_text, safe_url
from providers import registry
from providers.base import FeedSource, Permanent, ProviderSettings, Transient
from providers.rss.feed import RSSReader
from tests.live import LiveHub
from tests.tiles.feed_server import FeedServer


def reader(allow: frozenset[str] = frozenset({"localhost"})) -> RSSReader:
    return RSSReader(ProviderSettings(name="rss", client_id="", client_secret="", feed_allow_hosts=allow))


def read(server: FeedServer, path: str, cursor: str | None = None, max_items: int = 20):  # type: ignore[no-untyped-def]
    return reader().fetch(FeedSource(address=server.url(path), max_items=max_items), cursor)


RSS2 = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel><title>News</title><link>https://news.example/</link><description>d</description>
<item><title>Older &amp; wiser</title><link>https://news.example/1</link><guid isPermaLink="false">news-1</guid>
<pubDate>Mon, 06 Jan 2025 09:00:00 +0100</pubDate><description>&lt;p&gt;First&lt;/p&gt;</description>
<dc:creator>Ana</dc:creator></item>
<item><title>Newest</title><link>https://news.example/3</link><guid isPermaLink="false">news-3</guid>
<pubDate>Wed, 08 Jan 2025 09:00:00 GMT</pubDate><description>summary</description>
<content:encoded><![CDATA[<p>Full <b>story</b></p>]]></content:encoded></item>
<item><title>Middle</title><link>https://news.example/2</link><guid isPermaLink="false">news-2</guid>
<pubDate>Tue, 07 Jan 2025 09:00:00 GMT</pubDate></item>
</channel></rss>"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom news</title><id>urn:news</id>
<updated>2025-01-08T10:00:00Z</updated>
<entry><title type="html">&lt;em&gt;Launch&lt;/em&gt; day</title><id>urn:news:1</id>
<link rel="alternate" href="/stories/1"/><author><name>Ben</name></author>
<updated>2025-01-08T10:00:00+02:00</updated><content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">
<p>It is <strong>live</strong>.</p></div></content></entry>
</feed>"""

RSS1 = """<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
 xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="https://news.example/"><title>RDF news</title><link>https://news.example/</link>
<description>d</description></channel>
<item rdf:about="https://news.example/a"><title>RDF item</title><link>https://news.example/a</link>
<dc:date>2025-01-05T08:00:00Z</dc:date><dc:creator>Chen</dc:creator></item>
</rdf:RDF>"""

RSS091 = """<?xml version="1.0" encoding="ISO-8859-1"?>
<rss version="0.91"><channel><title>Old news</title><link>https://news.example/</link><description>d</description>
<language>en</language><item><title>Caf\xe9 opens</title><link>https://news.example/cafe</link>
<description>Coffee</description></item></channel></rss>"""


def test_rss2_items_newest_first_with_fields(feed_server: FeedServer) -> None:
    feed_server.feed("/feed", RSS2)
    page = read(feed_server, "/feed")
    assert [item.remote_id for item in page.items] == ["news-3", "news-2", "news-1"]
    newest, _middle, oldest = page.items
    assert newest.html == "<p>Full <b>story</b></p>"  # content:encoded over the summary
    assert newest.published_at == datetime(2025, 1, 8, 9, 0, tzinfo=UTC)
    assert oldest.title == "Older & wiser"
    assert oldest.author == "Ana"
    assert oldest.link == "https://news.example/1"
    assert oldest.published_at == datetime(2025, 1, 6, 8, 0, tzinfo=UTC)  # +0100 normalised to UTC
    assert not page.not_modified


def test_max_items_keeps_the_newest(feed_server: FeedServer) -> None:
    feed_server.feed("/feed", RSS2)
    assert [item.remote_id for item in read(feed_server, "/feed", max_items=2).items] == ["news-3", "news-2"]


def test_atom_entry(feed_server: FeedServer) -> None:
    feed_server.feed("/atom", ATOM, content_type="application/atom+xml")
    (item,) = read(feed_server, "/atom").items
    assert item.remote_id == "urn:news:1"
    assert item.link == feed_server.url("/stories/1")  # relative to the feed's own URL
    assert item.author == "Ben"
    assert item.published_at == datetime(2025, 1, 8, 8, 0, tzinfo=UTC)
    assert "<strong>live</strong>" in (item.html or "")
    assert plain_text(item.title) == "Launch day" and plain_text(item.text) == "It is live."


def test_rss1_and_rss091(feed_server: FeedServer) -> None:
    feed_server.feed("/rdf", RSS1, content_type="application/rdf+xml")
    feed_server.feed("/091", RSS091.encode("iso-8859-1"), content_type="text/xml")
    (rdf,) = read(feed_server, "/rdf").items
    assert (rdf.title, rdf.author, rdf.published_at) == ("RDF item", "Chen",
                                                        datetime(2025, 1, 5, 8, 0, tzinfo=UTC))
    (old,) = read(feed_server, "/091").items
    assert old.title == "Café opens"
    assert old.remote_id == "https://news.example/cafe"  # no guid in RSS 0.91: the link identifies the item


def test_item_without_id_or_link_gets_a_stable_hash(feed_server: FeedServer) -> None:
    feed_server.feed("/feed", "<rss version='2.0'><channel><title>t</title><item><description>only text"
                              "</description></item></channel></rss>")
    first = read(feed_server, "/feed").items[0]
    again = read(feed_server, "/feed").items[0]
    assert len(first.remote_id) == 64 and first.remote_id == again.remote_id
    assert first.text == "only text"


def test_second_fetch_sends_if_none_match_and_gets_not_modified(feed_server: FeedServer) -> None:
    feed_server.feed("/feed", RSS2, etag='"abc"', last_modified="Wed, 08 Jan 2025 09:00:00 GMT")
    first = read(feed_server, "/feed")
    assert json.loads(first.cursor or "{}")["etag"] == '"abc"'
    second = read(feed_server, "/feed", cursor=first.cursor)
    assert second.not_modified and second.items == ()
    sent = feed_server.seen("/feed")[1].headers
    assert sent["if-none-match"] == '"abc"'
    assert sent["if-modified-since"] == "Wed, 08 Jan 2025 09:00:00 GMT"
    assert second.cursor == first.cursor


def test_a_changed_feed_is_read_again(feed_server: FeedServer) -> None:
    feed_server.feed("/feed", RSS2, etag='"v1"')
    first = read(feed_server, "/feed")
    feed_server.feed("/feed", RSS2.replace("Newest", "Newest, corrected"), etag='"v2"')
    second = read(feed_server, "/feed", cursor=first.cursor)
    assert not second.not_modified
    assert second.items[0].title == "Newest, corrected"
    assert json.loads(second.cursor or "{}")["etag"] == '"v2"'


def test_a_cursor_of_another_url_is_not_used(feed_server: FeedServer) -> None:
    feed_server.feed("/feed", RSS2, etag='"abc"')
    stale = json.dumps({"url": "https://elsewhere.example/feed", "etag": '"abc"', "last_modified": None})
    assert not read(feed_server, "/feed", cursor=stale).not_modified
    assert "if-none-match" not in feed_server.seen("/feed")[0].headers


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]>
<rss version="2.0"><channel><title>&lol9;</title><item><title>&lol9;</title></item></channel></rss>"""


def test_billion_laughs_is_refused_quickly(feed_server: FeedServer) -> None:
    feed_server.feed("/bomb", BILLION_LAUGHS)
    started = time.monotonic()
    with pytest.raises(Permanent, match="declares the XML entity 'lol'"):
        read(feed_server, "/bomb")
    assert time.monotonic() - started < 2


def test_quadratic_blowup_is_refused(feed_server: FeedServer) -> None:
    body = (f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "{"x" * 50000}">]>'
            f'<rss version="2.0"><channel><title>{"&a;" * 20000}</title></channel></rss>')
    feed_server.feed("/quad", body)
    with pytest.raises(Permanent, match="entity declarations are refused"):
        read(feed_server, "/quad")


def test_external_entity_is_refused_and_never_read(feed_server: FeedServer) -> None:
    feed_server.feed("/xxe", '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
                             '<rss version="2.0"><channel><title>t</title><item><title>&xxe;</title>'
                             '<description>&xxe;</description></item></channel></rss>')
    with pytest.raises(Permanent) as refused:
        read(feed_server, "/xxe")
    assert "root:" not in str(refused.value)
    assert "entity" in str(refused.value)


def test_parameter_entity_dtd_is_never_fetched(feed_server: FeedServer) -> None:
    feed_server.feed("/evil.dtd", '<!ENTITY % all "<!ENTITY stolen SYSTEM \'file:///etc/passwd\'>">%all;',
                     content_type="application/xml-dtd")
    feed_server.feed("/pe", f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY % dtd SYSTEM '
                            f'"{feed_server.url("/evil.dtd")}"> %dtd;]><rss version="2.0"><channel><title>t'
                            f'</title><item><title>&stolen;</title></item></channel></rss>')
    with pytest.raises(Permanent):
        read(feed_server, "/pe")
    assert not feed_server.seen("/evil.dtd")


def test_external_dtd_and_stylesheet_are_not_fetched(feed_server: FeedServer) -> None:
    """A DOCTYPE naming a DTD (as RSS 0.91 feeds do) parses, and neither the DTD nor a stylesheet is requested."""
    feed_server.feed("/rss.dtd", "<!ELEMENT rss ANY>", content_type="application/xml-dtd")
    feed_server.feed("/style.xsl", "<xsl/>", content_type="text/xsl")
    stylesheet = feed_server.url("/style.xsl")
    feed_server.feed("/feed", f'<?xml version="1.0"?><?xml-stylesheet type="text/xsl" href="{stylesheet}"?>'
                              f'<!DOCTYPE rss SYSTEM "{feed_server.url("/rss.dtd")}"><rss version="0.91"><channel>'
                              '<title>t</title><link>https://news.example/</link><description>d</description>'
                              '<item><title>ok</title><link>https://news.example/ok</link></item></channel></rss>')
    (item,) = read(feed_server, "/feed").items
    assert item.text == "ok"
    assert [request.path for request in feed_server.requests] == ["/feed"]


@pytest.mark.parametrize(("body", "message"), [
    (RSS2[: len(RSS2) // 2], "not well-formed XML"),
    ("<!doctype html><html><head><title>Home</title></head><body><p>Welcome<br></body></html>", "HTML page"),
    ('<html xmlns="http://www.w3.org/1999/xhtml"><head><title>x</title></head><body/></html>', "HTML page"),
    ('{"items": []}', "not well-formed XML"),
    ("<note><to>a</to></note>", "does not serve an RSS or Atom feed"),
    ("   ", "empty body"),
])
def test_broken_feeds_are_permanent_with_a_clear_message(feed_server: FeedServer, body: str, message: str) -> None:
    feed_server.feed("/broken", body, content_type="text/html")
    with pytest.raises(Permanent, match=message):
        read(feed_server, "/broken")


def test_hostile_items_come_out_sanitized(feed_server: FeedServer) -> None:
    feed_server.feed("/xss", """<rss version="2.0"><channel><title>t</title>
<item><title>&lt;img src=x onerror=alert(1)&gt;Hello</title><link>javascript:alert(1)</link><guid>x1</guid>
<description><![CDATA[<p onclick="alert(1)">Hi <a href="javascript:alert(1)">click</a><script>alert(1)</script>
<img src="https://tracker.example/p.gif"><svg><script>alert(1)</script></svg>
<a href="https://ok.example/">ok</a><iframe srcdoc="<script>alert(1)</script>"></iframe></p>]]></description>
</item></channel></rss>""")
    (item,) = read(feed_server, "/xss").items
    html = clean_html(item.html) or ""
    for bad in ("<script", "onclick", "onerror", "javascript:", "<img", "<svg", "<iframe", "srcdoc"):
        assert bad not in html
    assert '<a href="https://ok.example/" rel="noopener noreferrer nofollow">ok</a>' in html
    assert plain_text(item.title) == "Hello"
    assert safe_url(item.link) is None


def test_redirect_to_an_internal_address_is_permanent(feed_server: FeedServer) -> None:
    feed_server.feed("/internal", RSS2)
    feed_server.redirect("/feed", f"http://127.0.0.1:{feed_server.port}/internal")
    with pytest.raises(Permanent, match="refused: 127.0.0.1 is not fetched: 127.0.0.1 is a loopback address"):
        read(feed_server, "/feed")
    assert not feed_server.seen("/internal")


def test_a_name_not_allowed_is_refused(feed_server: FeedServer) -> None:
    feed_server.feed("/feed", RSS2)
    with pytest.raises(Permanent, match="loopback"):
        reader(allow=frozenset()).fetch(FeedSource(address=feed_server.url("/feed")), None)
    for literal in ("http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/feed", "http://[::1]/feed"):
        with pytest.raises(Permanent, match="the feed URL is refused"):
            reader().fetch(FeedSource(address=literal), None)
    assert not feed_server.requests


@pytest.mark.parametrize("address", ["https://news.example/feed.xml", " http://news.example:8080/rss?x=1 "])
def test_check_address_accepts_feed_urls(address: str) -> None:
    assert RSSReader.check_address(address) == address.strip()


@pytest.mark.parametrize(("address", "message"), [
    ("news.example/feed", "absolute http"), ("/feed.xml", "absolute http"), ("ftp://news.example/f", "absolute http"),
    ("file:///etc/passwd", "absolute http"), ("javascript:alert(1)", "absolute http"),
    ("https://user:pw@news.example/feed", "user name or password"), ("https://news.example/a b", "without spaces"),
    ("https://news.example:notaport/", "feed URL such as"), ("https://news.example/" + "a" * 2000, "at most"),
])
def test_check_address_refuses(address: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RSSReader.check_address(address)


def test_registered_under_rss() -> None:
    assert registry.reader_class("rss") is RSSReader
    assert (RSSReader.kind, RSSReader.connection_kind, RSSReader.address_label) == ("rss", None, "url")


def test_sandbox_feeds_through_the_live_hub(live: LiveHub) -> None:
    """The demo's feed server, mounted in the hub: every format reads, conditional GETs answer 304, news shows."""
    sandbox = live.app.extensions["posting_sandboxes"]["rss"]
    rss = reader(allow=frozenset({"127.0.0.1"}))
    pages = {}
    for path in ("/news.rss", "/news.rdf", "/news-091.rss", "/news.atom"):
        source = FeedSource(address=f"{live.url}/sandbox/rss{path}", max_items=10)
        first = rss.fetch(source, None)
        assert len(first.items) == 3, path
        assert rss.fetch(source, first.cursor).not_modified, path
        pages[path] = (source, first)
    assert sandbox.not_modified == 4
    source, first = pages["/news.atom"]
    assert first.items[0].title == "Badges now show on LinkedIn"
    assert first.items[0].author == "Chen Wei"
    assert "<script" not in (clean_html(first.items[0].html) or "")
    sandbox.publish("Fresh off the press", "<p>New!</p>")
    fresh = rss.fetch(source, first.cursor)
    assert not fresh.not_modified
    assert fresh.items[0].title == "Fresh off the press"
    assert requests.get(f"{live.url}/sandbox/rss/", timeout=5).status_code == 200


def test_sandbox_fault_is_mapped(live: LiveHub) -> None:
    sandbox = live.app.extensions["posting_sandboxes"]["rss"]
    sandbox.faults.push(503)
    with pytest.raises(Transient, match="503"):
        reader(allow=frozenset({"127.0.0.1"})).fetch(
            FeedSource(address=f"{live.url}/sandbox/rss/news.rss"), None)
