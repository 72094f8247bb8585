"""The tiles admin in a real browser: add an rss tile after its live preview (in a sandboxed frame where the
feed's script never runs), see it listed; and the demo LMS homepage showing a tile of every kind. axe on each."""
from __future__ import annotations

from typing import Any

import pytest
from rq import SimpleWorker

from hub import demo, redis_conn
from hub.demo import tls
from hub.tiles import scheduler
from tests.browser.conftest import (
    ADMIN_SUB,
    DESKTOP,
    PHONE,
    SCREENSHOTS,
    Pages,
    no_horizontal_overflow,
    screenshot,
    sign_in,
)
from tests.live import LiveHub


@pytest.fixture
def hub_env(hub_env: dict[str, str], tls_files: tls.TLSFiles) -> dict[str, str]:
    """The sandbox CA trusted (msal wants https); the RSS sandbox is the hub itself on 127.0.0.1, a host the feed
    fetcher may reach (as in the demo)."""
    return {**hub_env, "HUB_CA_BUNDLE": str(tls_files.ca), "HUB_FEED_ALLOW_HOSTS": "127.0.0.1"}


def _watch_dialogs(page: Any) -> list[str]:
    seen: list[str] = []
    page.on("dialog", lambda dialog: (seen.append(dialog.message), dialog.dismiss()))
    return seen


def test_admin_previews_an_rss_tile_then_adds_it(live: LiveHub, pages: Pages, axe: Any) -> None:
    live.add_provider("google")
    admin = pages.new()
    dialogs = _watch_dialogs(admin)
    sign_in(admin, live, ADMIN_SUB)
    admin.goto(live.url + "/admin/tiles")
    nav = admin.get_by_role("navigation", name="Admin sections")
    assert nav.locator('a[aria-current="page"]').inner_text() == "Tiles"
    axe(admin, "the tiles page")

    # The address field is labelled by what the chosen kind reads.
    admin.get_by_label("Kind").select_option("slack:channel")
    assert admin.locator("#tile-address-label").inner_text() == "Channel"
    admin.get_by_label("Kind").select_option("rss")
    assert admin.locator("#tile-address-label").inner_text() == "Feed URL"
    admin.get_by_label("Title").fill("Northwind news")
    admin.get_by_label("Feed URL").fill(live.url + "/sandbox/rss/news.rss")
    admin.get_by_role("button", name="Preview").click()

    # The preview renders in its frame; the page itself did not navigate, and nothing was stored.
    frame = admin.frame_locator("iframe[name=tile-preview]")
    frame.locator(".hub-tile__item").first.wait_for()
    assert admin.url == live.url + "/admin/tiles"
    assert frame.locator(".hub-tile__item").count() == 3
    assert "Nothing here runs in a tile." in frame.locator("main").inner_text()
    assert frame.locator("script, img, [onclick]").count() == 0
    assert admin.evaluate("() => document.title") != "pwned" and dialogs == []
    assert "No tiles yet" in admin.locator("main").inner_text()
    admin.locator("section.card", has=admin.locator("#h-add-tile")).screenshot(
        path=str(SCREENSHOTS / "admin-tiles-preview.png"), animations="disabled")

    admin.get_by_role("button", name="Add tile").click()
    admin.wait_for_load_state()
    assert "added: rss" in admin.locator(".flashes").inner_text()
    row = admin.locator("#tiles-table tbody tr")
    assert row.count() == 1 and "Northwind news" in row.inner_text() and "All users" in row.inner_text()

    # A bad address comes back beside its field, in the form's words; axe on the form with errors.
    admin.get_by_label("Title").fill("Broken")
    admin.get_by_label("Feed URL").fill("ftp://example.org/feed")
    admin.get_by_role("button", name="Add tile").click()
    admin.wait_for_load_state()
    assert "http(s) feed URL" in admin.locator("#tile-address-error").inner_text()
    assert admin.locator("#tiles-table tbody tr").count() == 1
    axe(admin, "the tile form with errors", prepare=lambda twin: (
        twin.get_by_label("Title").fill("Broken"), twin.get_by_label("Feed URL").fill("ftp://example.org/feed"),
        twin.get_by_role("button", name="Add tile").click(), twin.wait_for_load_state()))

    # Refresh now queues the job; a worker runs it; the edit page frames what LMS pages show.
    admin.get_by_role("button", name="Refresh now Northwind news").click()
    admin.wait_for_load_state()
    assert "refresh queued" in admin.locator(".flashes").inner_text()
    with live.app.app_context():
        SimpleWorker([scheduler.queue(redis_conn.get())], connection=redis_conn.get()).work(burst=True)
    admin.get_by_role("link", name="Northwind news", exact=True).click()
    admin.wait_for_load_state()
    shown = admin.frame_locator("iframe[name=tile-preview]")
    assert shown.locator(".hub-tile__item").count() == 3
    axe(admin, "the tile edit page")
    for viewport in (PHONE, DESKTOP):
        admin.set_viewport_size(viewport)
        width, inner = no_horizontal_overflow(admin)
        assert width <= inner, f"the tile page overflows at {viewport['width']}px ({width} > {inner})"
    screenshot(admin, "admin-tile")


def test_demo_lms_homepage_shows_a_tile_of_every_kind(live: LiveHub, tls_url: str, pages: Pages,
                                                       axe: Any) -> None:
    demo.seed(live.app, {"*": live.url, "microsoft": tls_url})
    with live.context() as session:
        queue = scheduler.queue(redis_conn.get())
        assert scheduler.run_pass(session, queue) == 6
        SimpleWorker([queue], connection=redis_conn.get()).work(burst=True)
    page = pages.new()
    dialogs = _watch_dialogs(page)
    page.goto(live.url + "/demo/lms/home")
    tiles = page.locator("hub-tile")
    assert tiles.count() == 6
    page.wait_for_function("() => [...document.querySelectorAll('hub-tile')].every(t => t.dataset.state === 'ready')")
    for kind in ("x:search", "x:user", "yammer:group", "slack:channel", "sharepoint:news", "rss"):
        tile = page.locator(f'hub-tile[data-kind="{kind}"]')
        assert tile.locator("li.item").count() >= 1, kind
    assert page.locator('hub-tile[data-kind="rss"]').locator("script, img").count() == 0
    assert page.evaluate("() => document.title") != "pwned" and dialogs == []
    axe(page, "the demo LMS homepage")
    for viewport in (PHONE, DESKTOP):
        page.set_viewport_size(viewport)
        width, inner = no_horizontal_overflow(page)
        assert width <= inner, f"/demo/lms/home overflows at {viewport['width']}px ({width} > {inner})"
        screenshot(page, "demo-lms-home-phone" if viewport is PHONE else "demo-lms-home", full_page=True)
