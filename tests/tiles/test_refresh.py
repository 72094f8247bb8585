"""Refreshing a tile through real readers over HTTP on loopback: a local JSON feed (tests.tiles.world) and the
Slack sandbox. Sanitized storage, incremental cursors, stale-on-error, 429 resets, one refresher per tile."""
from __future__ import annotations

import json
import threading
from datetime import timedelta

from sqlalchemy import select

from hub import db
from hub.models import Connection, Tile, TileItem
from hub.sharing.outbox import aware, utcnow
from hub.tiles import reading, store
from hub.tiles.refresh import Outcome, refresh_tile
from tests.live import LiveHub
from tests.tiles.world import JsonFeed, Orgs


def add_tile(live: LiveHub, kind: str, address: str, **fields: object) -> int:
    with live.context() as session:
        tile = store.create_tile(session, kind=kind, title="News", address=address, **fields)  # type: ignore[arg-type]
        session.commit()
        return tile.id


def tile_of(live: LiveHub, tile_id: int) -> tuple[Tile, list[TileItem]]:
    with live.context() as session:
        tile = session.get(Tile, tile_id)
        items = list(session.scalars(select(TileItem).where(TileItem.tile_id == tile_id)
                                     .order_by(TileItem.published_at.desc())))
        return tile, items


def refresh(live: LiveHub, tile_id: int):  # type: ignore[no-untyped-def]
    with live.app.app_context():
        return refresh_tile(db.session(), tile_id)


def test_refresh_stores_sanitized_items_and_the_cursor(live: LiveHub, feed: JsonFeed, json_kind: str) -> None:
    feed.add(1, "first <b>plain</b>", html='<p onclick="steal()">Hi <a href="javascript:alert(1)">x</a>'
                                            '<img src="https://tracker.example/p.gif"><script>alert(2)</script></p>',
             author="Ada\x00 <i>L</i>", avatar="javascript:alert(3)", link="https://news.example/1",
             title="<script>alert(5)</script>Launch <em>day</em>")
    feed.add(2, "second", link="data:text/html,<script>alert(4)</script>", avatar="https://cdn.example/a.png")
    tile_id = add_tile(live, json_kind, feed.url)
    before = utcnow()
    result = refresh(live, tile_id)
    assert (result.outcome, result.added) == (Outcome.REFRESHED, 2)
    tile, items = tile_of(live, tile_id)
    assert [i.remote_id for i in items] == ["2", "1"]
    second, first = items
    assert "script" not in (first.html or "") and "onclick" not in (first.html or "")
    assert "javascript:" not in (first.html or "") and "<img" not in (first.html or "")
    assert first.text == "first plain" and first.author and "<" not in first.author and "\x00" not in first.author
    assert first.title == "Launch day" and second.title is None  # a headline is plain text too
    assert first.avatar_url is None and first.link == "https://news.example/1"
    assert second.link is None and second.avatar_url == "https://cdn.example/a.png"
    assert tile.cursor == "2" and tile.version == 1 and tile.last_error is None
    assert aware(tile.fetched_at) >= before
    assert abs((aware(tile.next_refresh_at) - aware(tile.fetched_at)) - timedelta(seconds=300)) < timedelta(seconds=1)


def test_second_refresh_is_incremental_and_trims_to_max_items(live: LiveHub, feed: JsonFeed, json_kind: str) -> None:
    for n in (1, 2):
        feed.add(n, f"item {n}")
    tile_id = add_tile(live, json_kind, feed.url, max_items=3)
    refresh(live, tile_id)
    assert "since_id" not in feed.requests[0]
    quiet = refresh(live, tile_id)
    assert quiet.outcome == Outcome.NOT_MODIFIED and feed.requests[1]["since_id"] == ["2"]
    assert tile_of(live, tile_id)[0].version == 1  # nothing changed: the serving ETag stays
    for n in (3, 4, 5):
        feed.add(n, f"item {n}")
    result = refresh(live, tile_id)
    assert feed.requests[2]["since_id"] == ["2"] and result.added == 3
    tile, items = tile_of(live, tile_id)
    assert [i.remote_id for i in items] == ["5", "4", "3"] and tile.cursor == "5" and tile.version == 2


def test_a_failing_source_keeps_its_items_and_shows_the_error(live: LiveHub, feed: JsonFeed, json_kind: str) -> None:
    feed.add(1, "kept")
    tile_id = add_tile(live, json_kind, feed.url, refresh_seconds=120)
    refresh(live, tile_id)
    feed.fail = 503
    result = refresh(live, tile_id)
    tile, items = tile_of(live, tile_id)
    assert result.outcome == Outcome.FAILED and [i.text for i in items] == ["kept"]
    assert tile.stale and tile.last_error == "the feed failed (503)" and tile.version == 2
    wait = (aware(tile.next_refresh_at) - utcnow()).total_seconds()
    assert 100 <= wait <= 133  # the tile's interval with jitter: a failing source is never asked more often
    first_error_at = tile.error_at
    again = refresh(live, tile_id)  # the same error again: nothing the API shows changed
    tile, _ = tile_of(live, tile_id)
    assert again.outcome == Outcome.FAILED and tile.version == 2 and tile.error_at == first_error_at
    feed.fail = 404
    refresh(live, tile_id)
    tile, items = tile_of(live, tile_id)
    assert tile.last_error == "the feed refused the request (404)" and tile.version == 3 and len(items) == 1
    feed.fail = None
    feed.add(2, "back")
    assert refresh(live, tile_id).outcome == Outcome.REFRESHED
    tile, items = tile_of(live, tile_id)
    assert not tile.stale and tile.error_at is None and tile.version == 4 and len(items) == 2


def test_rate_limited_waits_until_the_reset_the_provider_named(live: LiveHub, feed: JsonFeed,
                                                              json_kind: str) -> None:
    feed.add(1, "kept")
    tile_id = add_tile(live, json_kind, feed.url)
    refresh(live, tile_id)
    feed.fail, feed.retry_after = 429, 1800
    result = refresh(live, tile_id)
    tile, items = tile_of(live, tile_id)
    assert result.outcome == Outcome.RATE_LIMITED and len(items) == 1 and "rate limit" in (tile.last_error or "")
    wait = (aware(tile.next_refresh_at) - utcnow()).total_seconds()
    assert 1795 <= wait <= 1800


def test_two_refreshes_of_one_tile_at_once_fetch_once(live: LiveHub, feed: JsonFeed, json_kind: str) -> None:
    feed.add(1, "one")
    feed.delay = 0.6
    tile_id = add_tile(live, json_kind, feed.url)
    outcomes: list[Outcome] = []
    threads = [threading.Thread(target=lambda: outcomes.append(refresh(live, tile_id).outcome)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == sorted([Outcome.REFRESHED, Outcome.BUSY]) and len(feed.requests) == 1
    assert len(tile_of(live, tile_id)[1]) == 1


def test_one_failing_tile_leaves_the_others_alone(live: LiveHub, feed: JsonFeed, json_kind: str) -> None:
    feed.add(1, "fine")
    good = add_tile(live, json_kind, feed.url)
    bad = add_tile(live, json_kind, "http://127.0.0.1:9/closed")  # nothing listens on the discard port
    assert refresh(live, bad).outcome == Outcome.FAILED
    assert refresh(live, good).outcome == Outcome.REFRESHED
    assert tile_of(live, bad)[0].last_error.startswith("the feed did not answer")
    assert not tile_of(live, good)[0].stale


def connect_slack(live: LiveHub, org_id: int, token: str) -> None:
    vault = live.app.extensions["vault"]
    with live.context() as session:
        row = Connection(kind="slack", org_id=org_id, remote_id="T0PARTNER", tokens_sealed="")
        session.add(row)
        session.flush()
        row.tokens_sealed = vault.seal(json.dumps({"access_token": token}), row.seal_context)
        session.commit()


def test_slack_channel_end_to_end_through_the_sandbox(live: LiveHub, orgs: Orgs) -> None:
    sandbox = live.sandboxes["slack"]
    tile_id = add_tile(live, "slack:channel", "#learning", org_id=orgs.partners)
    missing = refresh(live, tile_id)
    assert missing.outcome == Outcome.FAILED
    assert missing.error.startswith("connect slack for organisation 'Partners Inc'")  # type: ignore[union-attr]
    assert tile_of(live, tile_id)[0].stale
    connect_slack(live, orgs.partners, sandbox.install_bot())
    assert refresh(live, tile_id).outcome == Outcome.REFRESHED
    tile, items = tile_of(live, tile_id)
    assert not tile.stale and len(items) == 2 and items[0].author == "Sam"
    assert items[0].link and items[0].link.startswith("https://")
    assert "oldest" not in [args for m, args in sandbox.reads if m == "conversations.history"][-1]
    ts = sandbox.post_as("learning", "New cohort <script>alert(1)</script> starts")
    result = refresh(live, tile_id)
    assert result.added == 1
    assert [args for m, args in sandbox.reads if m == "conversations.history"][-1]["oldest"] == items[0].remote_id
    tile, items = tile_of(live, tile_id)
    assert items[0].remote_id == ts and "<script>" not in items[0].text and len(items) == 3


def test_reader_settings_point_at_the_sandbox_and_carry_the_allowed_feed_hosts(hub_env: dict[str, str]) -> None:
    from hub.app import create_app

    app = create_app({**hub_env, "HUB_BASE_URL": "http://127.0.0.1:5999", "HUB_FEED_ALLOW_HOSTS": "feeds.test"})
    with app.app_context():
        settings = reading.settings_for(db.session(), "slack:channel")
    assert settings.api_base == "http://127.0.0.1:5999/sandbox/slack"
    assert settings.feed_allow_hosts == frozenset({"feeds.test"})
