"""`hub demo`'s tiles: one of every kind seeded against the sandboxes with the connections its reader needs; after
one scheduler pass and a real worker, every demo tile has items, and the demo LMS homepage embeds them all."""
from __future__ import annotations

import re

import pytest
from rq import SimpleWorker
from sqlalchemy import func, select

from hub import demo, redis_conn
from hub.demo import tls
from hub.models import Connection
from hub.models.tiles import Tile, TileItem
from hub.tiles import scheduler, store
from tests.live import LiveHub


@pytest.fixture
def hub_env(hub_env: dict[str, str], tls_files: tls.TLSFiles) -> dict[str, str]:
    """As the demo runs: the sandbox CA trusted (msal wants https), the hub's own host open to the feed fetcher."""
    return {**hub_env, "HUB_CA_BUNDLE": str(tls_files.ca), "HUB_FEED_ALLOW_HOSTS": "127.0.0.1"}


def _refresh_due(live: LiveHub) -> int:
    """What the demo's worker does: a scheduler pass, then the refresh jobs on the tiles queue."""
    with live.context() as session:
        queue = scheduler.queue(redis_conn.get())
        made = scheduler.run_pass(session, queue)
        SimpleWorker([queue], connection=redis_conn.get()).work(burst=True)
        return made


def test_demo_seeds_a_tile_of_every_kind_and_one_refresh_pass_fills_them(live: LiveHub, tls_url: str) -> None:
    demo.seed(live.app, {"*": live.url, "microsoft": tls_url})
    with live.context() as session:
        tiles = list(session.scalars(select(Tile).order_by(Tile.id)))
        assert sorted(t.kind for t in tiles) == sorted(store.tile_kinds())  # every registered kind, once
        assert all(store.audience_of(session, t.id) == [] for t in tiles)  # for all users: any LMS page shows them
        kinds = set(session.scalars(select(Connection.kind).where(Connection.user_id.is_(None))))
        assert {"x", "yammer", "slack"} <= kinds
    assert _refresh_due(live) == len(tiles)
    with live.context() as session:
        for tile in session.scalars(select(Tile)):
            count = session.scalar(select(func.count()).select_from(TileItem).where(TileItem.tile_id == tile.id))
            assert tile.last_error is None and count, (tile.kind, tile.last_error)
        # The RSS sandbox's hostile story reached the database sanitized.
        html = " ".join(session.scalars(select(TileItem.html).where(TileItem.html.is_not(None))))
        assert "<script" not in html and "onclick" not in html and "<img" not in html

    # A restart seeds again: no second tile of a kind, fresh tokens, every tile due and refreshed once more.
    demo.seed(live.app, {"*": live.url, "microsoft": tls_url})
    with live.context() as session:
        assert session.scalar(select(func.count()).select_from(Tile)) == len(tiles)
    assert _refresh_due(live) == len(tiles)
    with live.context() as session:
        assert all(t.last_error is None for t in session.scalars(select(Tile)))

    page = live.app.test_client().get("/demo/lms/home")
    assert page.status_code == 200
    assert '<script src="/embed.js" async></script>' in page.text
    assert sorted(map(int, re.findall(r'<hub-tile tile="(\d+)"', page.text))) == sorted(t.id for t in tiles)
    assert 'href="/demo/lms/home"' in live.app.test_client().get("/demo/lms").text
