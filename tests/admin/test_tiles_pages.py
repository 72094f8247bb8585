"""Tiles pages over HTTP: access, add with errors beside fields, edit, delete with confirmation, refresh now
(a real worker runs the job), CSRF, and the live preview: sanitized items, nothing stored, no refused fetch."""
from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner
from rq import SimpleWorker
from sqlalchemy import func, select

from hub import redis_conn
from hub.cli import main
from hub.models import AuditEvent, Organisation
from hub.models.tiles import Tile, TileAudience, TileItem
from hub.tiles import scheduler
from tests.admin.conftest import ADA, signed_in
from tests.live import Browser, LiveHub, csrf_token
from tests.tiles.feed_server import FeedServer

HOSTILE_RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Campus</title><link>https://news.example.org/</link><description>d</description>
<item><title>Welcome week</title><link>https://news.example.org/welcome</link><guid>w1</guid>
<pubDate>Tue, 01 Sep 2026 09:00:00 GMT</pubDate>
<description><![CDATA[<p>Hello <b>learners</b></p><script>parent.pwned=1</script><img src="https://tracker.example/p.gif"
onerror="parent.pwned=2"><a href="javascript:parent.pwned=3">bad</a><a href="https://news.example.org/w">more</a>]]>
</description></item>
<item><title>Library hours</title><link>https://news.example.org/library</link><guid>w2</guid>
<pubDate>Wed, 02 Sep 2026 09:00:00 GMT</pubDate><description>Open late on Thursdays</description></item>
</channel></rss>"""


@pytest.fixture
def hub_env(hub_env: dict[str, str]) -> dict[str, str]:
    """The local feed server is reachable as `localhost` (and only by that name) for these tests."""
    return {**hub_env, "HUB_FEED_ALLOW_HOSTS": "localhost"}


def _tiles(hub: LiveHub) -> list[dict]:
    result = CliRunner().invoke(main, ["tile", "list", "--json"], env=hub.env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _org(hub: LiveHub, name: str) -> int:
    with hub.context() as session:
        org = Organisation(name=name)
        session.add(org)
        session.commit()
        return org.id


def _add_form(token: str, **fields: object) -> dict[str, object]:
    return {"csrf_token": token, "kind": "rss", "title": "Campus news", "address": "", "org_id": "",
            "refresh_seconds": "", "max_items": "10", **fields}


def _count(hub: LiveHub, model: type) -> int:
    with hub.context() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_non_admin_gets_403_and_cannot_post(hub: LiveHub) -> None:
    ada = signed_in(hub, ADA)
    for path in ("/admin/tiles", "/admin/tiles/preview"):
        assert ada.get(path).status_code == 403, path
    token = csrf_token(ada.get("/account").text)
    assert ada.post("/admin/tiles", data=_add_form(token, address="https://news.example.org/feed.xml")
                    ).status_code == 403
    assert ada.post("/admin/tiles/preview", data=_add_form(token, address="https://news.example.org/feed.xml")
                    ).status_code == 403
    assert _tiles(hub) == []
    assert Browser(hub).get("/admin/tiles").status_code == 302  # nobody signed in: to the sign-in page


def test_admin_adds_a_tile_that_the_cli_lists_and_edits_and_deletes_it(hub: LiveHub, admin: Browser,
                                                                       feed_server: FeedServer) -> None:
    partners, staff = _org(hub, "Partners Inc"), _org(hub, "Staff")
    url = feed_server.url("/campus.xml")
    page = admin.get("/admin/tiles")
    assert page.status_code == 200 and 'aria-current="page">Tiles<' in page.text
    assert "No tiles yet" in page.text
    # The address field's label follows the kind's reader (address_label), for every kind.
    assert re.search(r'<option value="rss" data-label="Feed URL"', page.text)
    assert re.search(r'<option value="slack:channel" data-label="Channel"', page.text)
    answer = admin.post("/admin/tiles", data=_add_form(csrf_token(page.text), address=url, audience=[str(partners)],
                                                       refresh_seconds="120", max_items="5"))
    assert answer.status_code == 303, answer.text
    [listed] = _tiles(hub)
    assert (listed["kind"], listed["address"], listed["audience"], listed["refresh_seconds"], listed["max_items"]) \
        == ("rss", url, ["Partners Inc"], 120, 5)
    shown = admin.get("/admin/tiles").text
    row = re.search(rf'<tr data-tile="{listed["id"]}" data-stale="no">(.*?)</tr>', shown, re.DOTALL)
    assert row and "Partners Inc" in row.group(1) and "120 s" in row.group(1) and "never" in row.group(1)
    assert f"Tile {listed['id']} added: rss {url}" in shown

    # Edit: a new title and audience, the same address (items and cursor stay).
    tile_id = listed["id"]
    edit = admin.get(f"/admin/tiles/{tile_id}")
    assert edit.status_code == 200 and f'src="/admin/tiles/{tile_id}/fragment"' in edit.text
    saved = admin.post(f"/admin/tiles/{tile_id}", data={
        "csrf_token": csrf_token(edit.text), "kind": "rss", "title": "Campus & library", "address": url,
        "org_id": "", "refresh_seconds": "600", "max_items": "5", "audience": [str(partners), str(staff)],
        "enabled": "on"})
    assert saved.status_code == 303
    [listed] = _tiles(hub)
    assert (listed["title"], listed["refresh_seconds"], sorted(listed["audience"])) == (
        "Campus & library", 600, ["Partners Inc", "Staff"])
    assert f"Tile {tile_id} saved: Campus &amp; library." in admin.get(f"/admin/tiles/{tile_id}").text

    # Delete asks first (a GET changes nothing), then removes tile and audience.
    confirm = admin.get(f"/admin/tiles/{tile_id}/delete")
    assert confirm.status_code == 200 and "cannot be undone" in confirm.text and len(_tiles(hub)) == 1
    gone = admin.post(f"/admin/tiles/{tile_id}/delete", data={"csrf_token": csrf_token(confirm.text)})
    assert gone.status_code == 303 and _tiles(hub) == [] and _count(hub, TileAudience) == 0
    assert "removed." in admin.get("/admin/tiles").text
    with hub.context() as session:
        actions = session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("tile.%"))
                                  .order_by(AuditEvent.id)).all()
        assert actions == ["tile.add", "tile.edit", "tile.remove"]


def test_bad_input_sits_beside_its_field_in_the_forms_words_and_nothing_is_stored(hub: LiveHub,
                                                                                  admin: Browser) -> None:
    token = csrf_token(admin.get("/admin/tiles").text)
    bad_url = admin.post("/admin/tiles", data=_add_form(token, address="ftp://news.example.org/feed"))
    assert bad_url.status_code == 400
    error = re.search(r'id="tile-address-error">([^<]*)<', bad_url.text)
    assert error and "http(s) feed URL" in error.group(1) and "--url" not in error.group(1), error
    assert 'aria-describedby="tile-address-hint tile-address-error" aria-invalid="true"' in bad_url.text
    assert 'value="ftp://news.example.org/feed"' in bad_url.text  # what was typed is kept
    too_often = admin.post("/admin/tiles", data=_add_form(token, address="https://news.example.org/feed.xml",
                                                          refresh_seconds="5"))
    assert too_often.status_code == 400
    assert re.search(r'id="tile-refresh_seconds-error">Refresh interval must be between 60', too_often.text)
    needs_org = admin.post("/admin/tiles", data=_add_form(token, kind="slack:channel", address="#learning"))
    assert needs_org.status_code == 400 and 'id="tile-org_id-error">Organisation is required' in needs_org.text
    assert '<label for="tile-address" id="tile-address-label">Channel</label>' in needs_org.text
    words = admin.post("/admin/tiles", data=_add_form(token, address="https://news.example.org/feed.xml",
                                                      max_items="many", title=""))
    assert words.status_code == 400 and 'id="tile-max_items-error">Max items is a whole number' in words.text
    no_title = admin.post("/admin/tiles", data=_add_form(token, address="https://news.example.org/feed.xml",
                                                         title=" "))
    assert no_title.status_code == 400 and 'id="tile-title-error">Title must not be empty' in no_title.text
    unknown_org = admin.post("/admin/tiles", data=_add_form(token, address="https://news.example.org/feed.xml",
                                                            audience=["999"]))
    assert unknown_org.status_code == 400 and "no organisation with id 999" in unknown_org.text
    assert _tiles(hub) == [] and _count(hub, Tile) == 0
    with hub.context() as session:
        outcomes = session.scalars(select(AuditEvent.outcome).where(AuditEvent.action == "tile.add")).all()
        assert outcomes == ["failure"] * 6


def test_an_edit_with_bad_input_changes_nothing_and_a_new_address_starts_over(hub: LiveHub, admin: Browser,
                                                                              feed_server: FeedServer) -> None:
    feed_server.feed("/campus.xml", HOSTILE_RSS)
    token = csrf_token(admin.get("/admin/tiles").text)
    admin.post("/admin/tiles", data=_add_form(token, address=feed_server.url("/campus.xml")))
    [listed] = _tiles(hub)
    tile_id = listed["id"]
    _run_refresh_job(hub, admin, tile_id)
    assert _count(hub, TileItem) == 2
    form = {"csrf_token": token, "kind": "rss", "title": "Campus", "address": feed_server.url("/campus.xml"),
            "org_id": "", "refresh_seconds": "300", "max_items": "0", "enabled": "on"}
    refused = admin.post(f"/admin/tiles/{tile_id}", data=form)
    assert refused.status_code == 400
    assert 'id="tile-max_items-error">Max items must be between 1 and 100' in refused.text
    assert _tiles(hub)[0]["title"] == "Campus news" and _count(hub, TileItem) == 2
    moved = admin.post(f"/admin/tiles/{tile_id}", data={**form, "max_items": "10",
                                                        "address": feed_server.url("/other.xml")})
    assert moved.status_code == 303
    [listed] = _tiles(hub)
    assert listed["address"].endswith("/other.xml") and listed["fetched_at"] is None
    assert _count(hub, TileItem) == 0  # the old feed's items are not the new feed's
    with hub.context() as session:
        assert session.get(Tile, tile_id).cursor is None
    disabled = admin.post(f"/admin/tiles/{tile_id}", data={k: v for k, v in {**form, "max_items": "10"}.items()
                                                           if k != "enabled"})
    assert disabled.status_code == 303 and _tiles(hub)[0]["enabled"] is False


def _run_refresh_job(hub: LiveHub, admin: Browser, tile_id: int) -> None:
    """Press "Refresh now" and let a real worker run the job it queued."""
    page = admin.get("/admin/tiles")
    answer = admin.post(f"/admin/tiles/{tile_id}/refresh", data={"csrf_token": csrf_token(page.text)})
    assert answer.status_code == 303
    with hub.app.app_context():
        queue = scheduler.queue(redis_conn.get())
        assert scheduler.job_id(tile_id) in queue.job_ids
        SimpleWorker([queue], connection=redis_conn.get()).work(burst=True)


def test_refresh_now_queues_the_job_a_worker_runs(hub: LiveHub, admin: Browser, feed_server: FeedServer) -> None:
    feed_server.feed("/campus.xml", HOSTILE_RSS, etag='"v1"')
    token = csrf_token(admin.get("/admin/tiles").text)
    admin.post("/admin/tiles", data=_add_form(token, address=feed_server.url("/campus.xml")))
    [listed] = _tiles(hub)
    assert feed_server.seen("/campus.xml") == []  # adding fetches nothing; the worker does
    _run_refresh_job(hub, admin, listed["id"])
    assert len(feed_server.seen("/campus.xml")) == 1
    shown = admin.get("/admin/tiles").text
    assert "refresh queued; the worker fetches it in a moment." in shown
    assert re.search(rf'data-tile="{listed["id"]}" data-stale="no">.*?fresh', shown, re.DOTALL)
    fragment = admin.get(f"/admin/tiles/{listed['id']}/fragment")
    assert "Open late on Thursdays" in fragment.text and "<script" not in fragment.text
    assert "sandbox" in fragment.headers["Content-Security-Policy"]
    # The feed breaks: the list shows the tile stale with its error, and keeps its items.
    feed_server.status("/campus.xml", 503)
    _run_refresh_job(hub, admin, listed["id"])
    shown = admin.get("/admin/tiles").text
    row = re.search(rf'<tr data-tile="{listed["id"]}" data-stale="yes">(.*?)</tr>', shown, re.DOTALL)
    assert row and "stale" in row.group(1) and "503" in row.group(1), shown
    assert "Open late on Thursdays" in admin.get(f"/admin/tiles/{listed['id']}/fragment").text


def test_preview_shows_sanitized_items_in_a_scriptless_frame_and_stores_nothing(hub: LiveHub, admin: Browser,
                                                                                feed_server: FeedServer) -> None:
    feed_server.feed("/campus.xml", HOSTILE_RSS)
    token = csrf_token(admin.get("/admin/tiles").text)
    answer = admin.post("/admin/tiles/preview", data=_add_form(token, address=feed_server.url("/campus.xml"),
                                                               max_items="5"))
    assert answer.status_code == 200
    csp = answer.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "sandbox" in csp and "script-src" not in csp
    assert "frame-ancestors 'self'" in csp
    body = answer.text
    assert "Open late on Thursdays" in body and "Hello <b>learners</b>" in body
    assert body.index("Open late") < body.index("learners")  # newest first, as the tile will show them
    assert "<b>learners</b>" in body  # the allow-list keeps harmless markup
    for hostile in ("<script", "onerror", "javascript:", "<img", "tracker.example"):
        assert hostile not in body, hostile
    assert 'href="https://news.example.org/w" rel="noopener noreferrer nofollow"' in body
    assert _count(hub, Tile) == 0 and _count(hub, TileItem) == 0
    assert len(feed_server.seen("/campus.xml")) == 1


def test_preview_never_fetches_a_refused_address(hub: LiveHub, admin: Browser, feed_server: FeedServer) -> None:
    feed_server.feed("/inside.xml", HOSTILE_RSS)
    feed_server.redirect("/hop.xml", feed_server.url("/inside.xml", host="127.0.0.1"))
    token = csrf_token(admin.get("/admin/tiles").text)
    literal = admin.post("/admin/tiles/preview", data=_add_form(
        token, address=feed_server.url("/inside.xml", host="127.0.0.1")))
    assert literal.status_code == 200 and "loopback address" in literal.text and "Hello" not in literal.text
    metadata = admin.post("/admin/tiles/preview", data=_add_form(
        token, address="http://169.254.169.254/latest/meta-data/"))
    assert "not fetched" in metadata.text and "link-local" in metadata.text, metadata.text
    hop = admin.post("/admin/tiles/preview", data=_add_form(token, address=feed_server.url("/hop.xml")))
    assert hop.status_code == 200 and "The source did not give items" in hop.text, hop.text
    assert len(feed_server.seen("/hop.xml")) == 1  # the allowed name was asked; its redirect was not followed
    assert feed_server.seen("/inside.xml") == []
    assert _count(hub, Tile) == 0


def test_preview_of_a_kind_without_its_connection_says_what_to_connect(hub: LiveHub, admin: Browser) -> None:
    org = _org(hub, "Partners Inc")
    token = csrf_token(admin.get("/admin/tiles").text)
    answer = admin.post("/admin/tiles/preview", data=_add_form(token, kind="slack:channel", address="#learning",
                                                               org_id=str(org)))
    assert answer.status_code == 200
    assert "connect slack for organisation &#39;Partners Inc&#39;" in answer.text


def test_every_form_needs_the_csrf_token(hub: LiveHub, admin: Browser, feed_server: FeedServer) -> None:
    feed_server.feed("/campus.xml", HOSTILE_RSS)
    token = csrf_token(admin.get("/admin/tiles").text)
    admin.post("/admin/tiles", data=_add_form(token, address=feed_server.url("/campus.xml")))
    [listed] = _tiles(hub)
    tile_id = listed["id"]
    no_token = {k: v for k, v in _add_form(token, address=feed_server.url("/campus.xml")).items() if k != "csrf_token"}
    for path in ("/admin/tiles", "/admin/tiles/preview", f"/admin/tiles/{tile_id}", f"/admin/tiles/{tile_id}/refresh",
                 f"/admin/tiles/{tile_id}/delete"):
        refused = admin.post(path, data=no_token)
        assert refused.status_code == 400 and "Form expired" in refused.text, path
    assert len(_tiles(hub)) == 1 and _tiles(hub)[0]["title"] == "Campus news"
    assert feed_server.seen("/campus.xml") == []  # the refused preview fetched nothing
    with hub.app.app_context():
        assert scheduler.job_id(tile_id) not in scheduler.queue(redis_conn.get()).job_ids
