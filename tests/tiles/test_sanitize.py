"""hub.tiles.sanitize against XSS payloads: what survives is inert, what is meant to stay stays."""
from __future__ import annotations

import re

import pytest

from hub.tiles.sanitize import LINK_REL, clean_html, plain_text, safe_url

# Payloads from the OWASP XSS filter evasion cheat sheet and known mutation-XSS reports against sanitizers.
PAYLOADS = [
    '<img src=x onerror=alert(1)>',
    '<IMG SRC="javascript:alert(1);">',
    '<a href="javascript:alert(1)">x</a>',
    '<a href="JaVaScRiPt:alert(1)">x</a>',
    '<a href="  javascript:alert(1)">x</a>',
    '<a href="jav&#x09;ascript:alert(1)">x</a>',
    '<a href="jav&#9;ascript:alert(1)">x</a>',
    '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">x</a>',
    '<a href="&#x6A;avascript&colon;alert(1)">x</a>',
    '<a href="java\nscript:alert(1)">x</a>',
    '<a href="vbscript:msgbox(1)">x</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    '<a href="DATA:text/html,<script>alert(1)</script>">x</a>',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    '<svg><script>alert(1)</script></svg>',
    '<svg onload=alert(1)>',
    '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
    '<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>',
    '<math><mi><a href="javascript:alert(1)">x</a></mi></math>',
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    '<form><math><mtext></form><form><mglyph><style></math><img src onerror=alert(1)>',
    '<p style="background:url(javascript:alert(1))">x</p>',
    '<div style="width: expression(alert(1))">x</div>',
    '<style>@import "javascript:alert(1)";</style>',
    '<script>alert(1)</script>',
    '<scr<script>ipt>alert(1)</script>',
    '<body onload=alert(1)>',
    '<details open ontoggle=alert(1)>',
    '<object data="javascript:alert(1)"></object>',
    '<embed src="javascript:alert(1)">',
    '<base href="javascript:alert(1)//">',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<link rel=stylesheet href="https://evil.example/x.css">',
    '<input onfocus=alert(1) autofocus>',
    '<video><source onerror=alert(1)></video>',
    '<a href="https://ok.example/" onmouseover="alert(1)">x</a>',
    '<template><img src=x onerror=alert(1)></template>',
    '<!--<img src=x onerror=alert(1)>-->',
    '<![CDATA[<img src=x onerror=alert(1)>]]>',
    '<xmp><img src=x onerror=alert(1)></xmp>',
]

ACTIVE = re.compile(r"<\s*(script|img|svg|math|iframe|object|embed|style|base|meta|link|form|input|video|source|"
                    r"template|body|details)\b|\son\w+\s*=|javascript:|vbscript:|data:|srcdoc|expression\(",
                    re.IGNORECASE)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payloads_come_out_inert(payload: str) -> None:
    cleaned = clean_html(payload) or ""
    assert not ACTIVE.search(cleaned), cleaned
    # Nothing but allowed tags with allowed attributes remains.
    for tag, attrs in re.findall(r"<\s*/?\s*([a-zA-Z0-9]+)([^>]*)>", cleaned):
        assert tag in {"p", "br", "a", "strong", "em", "b", "i", "ul", "ol", "li", "blockquote", "code", "pre",
                       "h3", "h4"}
        names = set(re.findall(r"([a-zA-Z-:]+)=", attrs))
        assert names <= ({"href", "rel"} if tag == "a" else set()), cleaned


def test_clean_html_is_stable_when_cleaned_again() -> None:
    """mXSS shows as output that changes (or turns active) when a browser parses it again."""
    for payload in PAYLOADS:
        once = clean_html(payload)
        assert clean_html(once) == once


def test_allowed_markup_survives() -> None:
    html = ('<p>Read <strong>this</strong> and <em>that</em>:</p><ul><li><code>x = 1</code></li></ul>'
            '<blockquote>quoted</blockquote><h3>Head</h3>')
    assert clean_html(html) == html


def test_links_keep_http_and_mailto_and_get_rel() -> None:
    cleaned = clean_html('<a href="https://news.example/a?b=1&amp;c=2" rel="opener" target="_blank">a</a>'
                         '<a href="mailto:team@example.org">m</a>')
    assert cleaned == (f'<a href="https://news.example/a?b=1&amp;c=2" rel="{LINK_REL}">a</a>'
                       f'<a href="mailto:team@example.org" rel="{LINK_REL}">m</a>')


@pytest.mark.parametrize("href", ["/logout", "../x", "//evil.example/x", "ftp://files.example/x",
                                  "tel:123", "javascript:alert(1)"])
def test_other_links_lose_their_href(href: str) -> None:
    assert clean_html(f'<a href="{href}">x</a>') == f'<a rel="{LINK_REL}">x</a>'


def test_images_are_dropped_not_hot_linked() -> None:
    cleaned = clean_html('<p>before<img src="https://tracker.example/pixel.gif" alt="pixel">after</p>'
                         '<picture><source srcset="https://tracker.example/a.webp"></picture>')
    assert cleaned == "<p>beforeafter</p>"


def test_style_class_id_are_removed() -> None:
    assert clean_html('<p style="color:red" class="big" id="main" title="t">x</p>') == "<p>x</p>"


def test_scripts_and_styles_lose_their_content_other_tags_keep_text() -> None:
    assert clean_html("<div><span>kept</span><script>gone()</script><style>p{}</style></div>") == "kept"


def test_empty_results_are_none() -> None:
    assert clean_html(None) is None
    assert clean_html("") is None
    assert clean_html("<img src=x><script>x</script>") is None


def test_plain_text_removes_markup_decodes_entities_collapses_space() -> None:
    text = plain_text("<p>Fish &amp; chips</p>\n\n<p>at&nbsp;<b>noon</b></p><script>alert(1)</script>"
                      "&lt;not a tag&gt;")
    assert text == "Fish & chips at noon <not a tag>"  # a no-break space is whitespace too
    assert plain_text("a<br>b") == "a b"
    assert plain_text(None) == ""


def test_plain_text_is_capped_at_a_word() -> None:
    text = plain_text("lorem ipsum " * 200, limit=100)
    assert len(text) <= 100
    assert text.endswith(("ipsum…", "lorem…"))
    assert plain_text("x" * 50, limit=10) == "x" * 9 + "…"


@pytest.mark.parametrize("url", ["https://news.example/a?b=1#c", "http://news.example:8080/", "HTTPS://News.Example/"])
def test_safe_url_keeps_absolute_http(url: str) -> None:
    assert safe_url(url) == url


@pytest.mark.parametrize("url", [
    None, "", "javascript:alert(1)", "JAVASCRIPT:alert(1)", " javascript:alert(1)", "java\tscript:alert(1)",
    "javascript&#58;alert(1)", "data:text/html,<script>alert(1)</script>", "vbscript:msgbox(1)",
    "//evil.example/x", "/relative", "relative/path", "ftp://files.example/x", "mailto:a@b.example",
    "https://", "https:///path", "https:\\\\evil.example", "https://evil.example\\@good.example/",
    "https://good.example@evil.example/", "https://user:pass@evil.example/", "https://evil.example:99999/",
    "https://evil.example:0/", "https://ex ample.example/", "https://example.org/\x00", "https://example.org/\u0085",
    "https://example.org/" + "a" * 2000,
])
def test_safe_url_refuses(url: str | None) -> None:
    assert safe_url(url) is None


def test_safe_url_strips_surrounding_whitespace() -> None:
    assert safe_url("  https://news.example/a \n") == "https://news.example/a"


def test_plain_text_ignores_attribute_values() -> None:
    assert plain_text('<p title="a > b" lang="en">text</p>') == "text"
