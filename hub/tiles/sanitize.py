"""Untrusted feed content made safe to store and show: item HTML, plain text and URLs (docs/tiles-safety.md).

Every tile item of every kind passes through here before it is stored, so the serving side can put
`html` into a page as it is. The HTML side is nh3 (ammonia, an html5ever parser that re-serializes its
own tree, so mutation XSS through the browser's re-parse does not survive) with a small allow-list:
text formatting, lists, quotes, code and links, nothing active, no images (a hot-linked image would
reach a third party with the viewer's address and cookies), no style/class/id.
"""
from __future__ import annotations

import html as html_entities
import re
from urllib.parse import urlsplit

import nh3

TAGS = frozenset({"p", "br", "a", "strong", "em", "b", "i", "ul", "ol", "li", "blockquote", "code", "pre",
                  "h3", "h4"})
LINK_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "noopener noreferrer nofollow"
# Removed with everything inside them (other tags outside TAGS lose the tag and keep their text): their content
# is code, styling or a second document, never text a reader should see.
DROPPED_WITH_CONTENT = frozenset({"script", "style", "noscript", "template", "iframe", "frame", "frameset",
                                  "object", "embed", "applet", "svg", "math", "textarea", "select", "title",
                                  "xmp", "noembed", "noframes", "plaintext", "head"})
URL_LIMIT = 2000  # the width of tile_items.link / avatar_url

_CONTROL = re.compile(r"[\x00-\x20\x7f-\x9f\\]")  # controls, space and backslash never belong in a URL we keep
_TAG = re.compile(r"<[^>]*>")  # only ever applied to nh3's own output, where a text "<" is always &lt;
_SPACE = re.compile(r"\s+")

_html_cleaner = nh3.Cleaner(
    tags=set(TAGS),
    clean_content_tags=set(DROPPED_WITH_CONTENT),
    attributes={"a": {"href"}, "*": set()},  # "*" empty: ammonia otherwise keeps title and lang everywhere
    url_schemes=set(LINK_SCHEMES),
    url_relative="deny",  # relative to the hub's page they would point into the hub; feeds give absolute links
    link_rel=LINK_REL,
    strip_comments=True,
)
# For plain text: block boundaries kept as bare tags (later turned into spaces), everything else unwrapped.
_text_cleaner = nh3.Cleaner(
    tags={"p", "br", "li", "div", "blockquote", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "td", "th"},
    clean_content_tags=set(DROPPED_WITH_CONTENT),
    attributes={"*": set()},  # bare tags, so _TAG never meets an attribute value holding ">"
    link_rel=None,
    strip_comments=True,
)


def clean_html(html: str | None) -> str | None:
    """Item HTML reduced to the allow-list, links http/https/mailto with rel="noopener noreferrer nofollow".

    None (or markup that leaves nothing) becomes None, so the tile shows the plain text instead.
    """
    if not html:
        return None
    cleaned = _html_cleaner.clean(html).strip()
    return cleaned or None


def plain_text(value: str | None, limit: int = 1000) -> str:
    """Text with markup removed, entities decoded and whitespace collapsed, cut to `limit` characters.

    The result is text, not HTML: whoever shows it escapes it (Jinja's autoescape, textContent).
    """
    if not value:
        return ""
    unwrapped = _TAG.sub(" ", _text_cleaner.clean(value))
    text = _SPACE.sub(" ", html_entities.unescape(unwrapped)).strip()
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 1, 0)]
    space = cut.rfind(" ")
    if space > limit * 0.6:  # cut at a word when one ends near the limit
        cut = cut[:space]
    return cut.rstrip() + "…"


def safe_url(url: str | None) -> str | None:
    """The URL if it is absolute http(s) with a host and nothing a browser would read differently, else None.

    Refuses javascript:/data:/vbscript: however spelled (they have no http(s) scheme), protocol-relative
    `//host`, control characters and whitespace inside (browsers drop them, so `java\\tscript:` would run),
    backslashes (browsers read them as slashes), credentials (`https://trusted@evil`), and URLs over 2,000
    characters.
    """
    if not url:
        return None
    url = url.strip(" \t\r\n\f")
    if not url or len(url) > URL_LIMIT or _CONTROL.search(url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port  # a port that is not a number raises here
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return None
    if port == 0:
        return None
    return url
