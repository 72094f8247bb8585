"""A tile embedded with /embed.js on an LMS page of another origin, in Debian's chromium.

The hub listens on 127.0.0.1:<port>; the LMS pages come from a second server on localhost:<other port> (another
origin, the one HUB_LMS_ORIGINS allows) and a third one that is not allowed.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import update

from hub.models.tiles import TileItem
from tests.browser.conftest import Pages, screenshot
from tests.live import LiveHub
from tests.tiles.test_api import XSS, add_tile, bump


class LmsSite:
    """A stand-in LMS web server: it serves whatever pages the test gives it, as an LMS theme would."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = site.pages.get(self.path.split("?")[0])
                data = (body or "not found").encode()
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def lms() -> Iterator[LmsSite]:
    site = LmsSite()
    yield site
    site.close()


@pytest.fixture
def other_site() -> Iterator[LmsSite]:
    site = LmsSite()
    yield site
    site.close()


@pytest.fixture
def hub_env(hub_env: dict[str, str], lms: LmsSite) -> dict[str, str]:
    """The test hub allows the LMS page's origin (localhost, not the hub's 127.0.0.1) and nothing else."""
    return {**hub_env, "HUB_LMS_ORIGINS": f"http://localhost:{lms.port}"}


def lms_page(hub_url: str, tile_id: int, heading: str = "Welcome back") -> str:
    """A Moodle-ish homepage with the two lines an admin pastes: the script tag and the element."""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>LMS home</title>
<style>body {{ font-family: Georgia, serif; max-width: 40rem; margin: 2rem auto; }}</style></head>
<body><header><a id="skip" href="#courses">My courses</a></header>
<main><h1>{heading}</h1>
<script src="{hub_url}/embed.js" async></script>
<hub-tile tile="{tile_id}"></hub-tile>
<h2 id="courses">Courses</h2><p><a href="#c1">Security Basics</a></p>
</main></body></html>"""


def watch_for_scripts(page: Any) -> list[str]:
    dialogs: list[str] = []

    def dismiss(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    return dialogs


def open_lms_home(live: LiveHub, lms: LmsSite, pages: Pages, tile_id: int) -> tuple[Any, list[str]]:
    """The LMS homepage with the tile, in a fresh browser page, once the widget is ready; and the dialogs it opens."""
    lms.pages["/"] = lms_page(live.url, tile_id)
    page = pages.new()
    dialogs = watch_for_scripts(page)
    page.goto(f"http://localhost:{lms.port}/")
    page.wait_for_selector('hub-tile[data-state="ready"]')
    return page, dialogs


def test_tile_renders_on_another_origin_keyboard_reachable_and_no_injected_script_runs(
        live: LiveHub, lms: LmsSite, pages: Pages, axe: Any) -> None:
    tile_id = add_tile(live, "Campus news", html=XSS + '<img src=x onerror="alert(1)">', items=3)
    page, dialogs = open_lms_home(live, lms, pages, tile_id)
    tile = page.locator("hub-tile")
    assert tile.get_by_role("heading", level=2).inner_text() == "Campus news"
    items = tile.locator("li.item")
    assert items.count() == 3
    assert items.nth(0).locator(".author").inner_text() == "Author 0"
    # A headline sits one level below the tile's heading, as text (its markup shown, not parsed).
    assert items.nth(0).get_by_role("heading", level=3).inner_text() == "Headline 0 <i>&</i>"
    assert items.nth(1).get_by_role("heading").count() == 0
    assert "Hello learners" in items.nth(0).locator(".body").inner_text()
    # The sanitized markup came through as markup (bold stays bold), and nothing active did.
    assert items.nth(0).locator(".body b").inner_text() == "learners"
    assert tile.locator("script, img, svg, iframe").count() == 0
    hrefs = tile.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert all(h is None or h.startswith("https://") for h in hrefs), hrefs  # javascript: lost its href
    assert hrefs.count(None) == 3 and len(hrefs) == 9
    rels = tile.locator("a").evaluate_all("links => links.map(a => a.rel)")
    assert all(r == "noopener noreferrer nofollow" for r in rels)
    assert page.evaluate("() => window.pwned") is None
    assert dialogs == []

    # Keyboard: from the page's own link, Tab goes into the tile's links, with a visible focus ring.
    page.focus("#skip")
    page.keyboard.press("Tab")
    focused = page.evaluate("""() => {
        const inner = document.activeElement.shadowRoot && document.activeElement.shadowRoot.activeElement;
        return inner && [document.activeElement.tagName, inner.tagName, inner.getAttribute('href'),
                         getComputedStyle(inner).outlineStyle];
    }""")
    assert focused == ["HUB-TILE", "A", "https://example.org/post", "solid"]
    assert tile.locator("[aria-live=polite]").count() == 1
    axe(page, "an LMS page with an embedded tile")
    screenshot(page, "tile-embedded")


def test_the_widget_rebuilds_even_unsanitized_html_without_running_it(
        live: LiveHub, lms: LmsSite, pages: Pages) -> None:
    tile_id = add_tile(live, "Hostile", items=1)
    hostile = ('<p>kept text</p><img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'
               '<a href="javascript:window.pwned=3" id="js">click</a><iframe srcdoc="<script>parent.pwned=4</script>">'
               '</iframe><svg onload="window.pwned=5"></svg><math><mtext><table><mglyph><style><img src=x '
               'onerror="window.pwned=6">')
    with live.context() as session:  # as if the sanitizer had let it all through: the widget is the last line
        session.execute(update(TileItem).where(TileItem.tile_id == tile_id).values(html=hostile))
        session.commit()
    bump(live, tile_id)
    page, dialogs = open_lms_home(live, lms, pages, tile_id)
    body = page.locator("hub-tile li.item .body")
    assert "kept text" in body.inner_text()
    assert body.locator("img, script, iframe, svg, math, style").count() == 0
    assert body.locator("a").get_attribute("href") is None
    body.locator("a").click()
    page.wait_for_timeout(300)
    assert page.evaluate("() => window.pwned") is None
    assert dialogs == []


def test_stale_tile_says_so_in_text(live: LiveHub, lms: LmsSite, pages: Pages) -> None:
    tile_id = add_tile(live, "Yammer: All company")
    bump(live, tile_id, last_error="yammer: 503")
    lms.pages["/"] = lms_page(live.url, tile_id)
    page = pages.new(reduced_motion="reduce")
    page.goto(f"http://localhost:{lms.port}/")
    page.wait_for_selector('hub-tile[data-state="stale"]')
    status = page.locator("hub-tile [aria-live=polite]")
    assert "not answering" in status.inner_text()
    assert page.locator("hub-tile li.item").count() == 2  # the last good items


def test_not_allowed_origin_cannot_read_the_tile_and_the_fragment_frames_only_on_allowed_ones(
        live: LiveHub, lms: LmsSite, other_site: LmsSite, pages: Pages) -> None:
    tile_id = add_tile(live, "Campus news")
    other_site.pages["/"] = lms_page(live.url, tile_id)
    page = pages.new()
    page.goto(f"http://localhost:{other_site.port}/")
    page.wait_for_selector('hub-tile[data-state="error"]')
    assert page.locator("hub-tile li.item").count() == 0

    frame_page = f"""<!doctype html><html lang="en"><head><title>LMS</title></head><body><main>
<iframe src="{live.url}/tiles/{tile_id}" title="Campus news" sandbox="allow-popups allow-popups-to-escape-sandbox">
</iframe></main></body></html>"""
    lms.pages["/framed"] = other_site.pages["/framed"] = frame_page
    allowed = pages.new()
    allowed.goto(f"http://localhost:{lms.port}/framed")
    heading = allowed.frame_locator("iframe").locator("h1")
    assert heading.inner_text() == "Campus news"
    refused = pages.new()
    refused.goto(f"http://localhost:{other_site.port}/framed")
    refused.wait_for_timeout(500)
    assert all("Campus news" not in frame.content() for frame in refused.frames[1:] if frame.url.startswith("http"))
    # chromium names the refusal; it is the hub's CSP working, not a page breaking it.
    assert any("frame-ancestors" in message for message in pages.csp_errors), pages.csp_errors
    pages.csp_errors.clear()
