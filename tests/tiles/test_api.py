"""The tile API and fragment: audiences, 404s, ETag/304, Cache-Control, CORS, CSP, stale, and the Redis cache path.

Items are written as the refresh step writes them: through hub.tiles.sanitize, then the version bumped.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import update

from hub import clock, db, redis_conn
from hub.auth import sessions
from hub.models import Organisation, User
from hub.models.tiles import Tile, TileAudience, TileItem
from hub.tiles import cache, sanitize
from tests.clock import movable_clock
from tests.live import LiveHub

LMS = "https://lms.example.edu"  # the test environment's HUB_LMS_ORIGINS
XSS = ('<p>Hello <b>learners</b></p><img src=x onerror="window.pwned=1"><script>window.pwned=1</script>'
       '<a href="javascript:window.pwned=1">bad</a><a href="https://example.org/post">good</a>'
       '<svg><script>window.pwned=1</script></svg>')


def add_tile(live: LiveHub, title: str = "Campus news", *, orgs: tuple[int, ...] = (), items: int = 2,
             html: str | None = None, kind: str = "rss", avatar: str | None = None) -> int:
    """A tile with `items` items stored as the refresh step stores them (sanitized, version bumped)."""
    now = datetime.now(UTC).replace(microsecond=0)
    with live.context() as session:
        tile = Tile(kind=kind, title=title, address="https://news.example.org/feed.xml", version=1, fetched_at=now)
        session.add(tile)
        session.flush()
        session.add_all(TileAudience(tile_id=tile.id, org_id=org) for org in orgs)
        for n in range(items):
            session.add(TileItem(
                tile_id=tile.id, remote_id=f"item-{n}", text=sanitize.plain_text(f"Item {n} <b>text</b>"),
                title=f"Headline {n} <i>&</i>" if n == 0 else None,
                html=sanitize.clean_html(html) if html else None, author=f"Author {n}",
                avatar_url=sanitize.safe_url(avatar), link=sanitize.safe_url(f"https://news.example.org/{n}"),
                published_at=now - timedelta(minutes=n)))
        session.commit()
        return tile.id


def add_org_user(live: LiveHub, org_name: str, email: str) -> tuple[int, int]:
    with live.context() as session:
        org = Organisation(name=org_name)
        session.add(org)
        session.flush()
        user = User(email=email, email_verified=True, name=email.split("@")[0], org_id=org.id)
        session.add(user)
        session.commit()
        return org.id, user.id


def signed_in(live: LiveHub, user_id: int) -> FlaskClient:
    """A client holding a real hub session for the user (the cookie sign_in would have set)."""
    client = live.app.test_client()
    with live.context() as session:
        secret = sessions.start_session(session, session.get(User, user_id), clock.now())
        session.commit()
    with client.session_transaction() as flask_session:
        flask_session[sessions.SESSION_ID_KEY] = secret
        flask_session["uid"] = user_id
        flask_session["epoch"] = 0
    return client


def bump(live: LiveHub, tile_id: int, **values: Any) -> None:
    """What the refresh step does when items or the stale flag change: update and bump the version."""
    with live.context() as session:
        session.execute(update(Tile).where(Tile.id == tile_id).values(version=Tile.version + 1, **values))
        session.commit()


@pytest.fixture
def client(live: LiveHub) -> Iterator[FlaskClient]:
    yield live.app.test_client()


def test_public_tile_serves_sanitized_items_with_etag_and_public_caching(live: LiveHub, client: FlaskClient) -> None:
    tile_id = add_tile(live, html=XSS, items=3)
    answer = client.get(f"/api/tiles/{tile_id}")
    assert answer.status_code == 200
    data = answer.get_json()
    assert data["title"] == "Campus news" and data["stale"] is False and data["updated"].endswith("Z")
    assert [item["id"] for item in data["items"]] == ["item-0", "item-1", "item-2"]  # newest first
    first = data["items"][0]
    assert first["text"] == "Item 0 text" and first["author"] == "Author 0"
    assert first["title"] == "Headline 0 <i>&</i>" and data["items"][1]["title"] is None  # JSON: text, not markup
    assert first["link"] == "https://news.example.org/0" and first["published"].endswith("Z")
    assert "script" not in first["html"] and "onerror" not in first["html"] and "javascript:" not in first["html"]
    assert 'href="https://example.org/post"' in first["html"] and "<b>learners</b>" in first["html"]
    assert answer.headers["Cache-Control"] == "public, max-age=30, stale-while-revalidate=300"
    etag = answer.headers["ETag"]
    assert etag.startswith(f'"tile-{tile_id}-1-')
    again = client.get(f"/api/tiles/{tile_id}", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == etag
    assert client.get(f"/api/tiles/{tile_id}", headers={"If-None-Match": '"tile-x"'}).status_code == 200


def test_org_tile_only_for_its_organisation_and_404_like_an_unknown_id(live: LiveHub, client: FlaskClient) -> None:
    org_a, ada = add_org_user(live, "Partner A", "ada@a.example")
    _, bob = add_org_user(live, "Partner B", "bob@b.example")
    public_id = add_tile(live, "For everyone")
    org_tile = add_tile(live, "Partner A news", orgs=(org_a,))
    unknown = client.get("/api/tiles/999999")
    anonymous = client.get(f"/api/tiles/{org_tile}")
    other = signed_in(live, bob).get(f"/api/tiles/{org_tile}")
    assert unknown.status_code == anonymous.status_code == other.status_code == 404
    assert unknown.data == anonymous.data == other.data
    # An ETag guessed for someone else's tile is no way to learn it exists.
    etag = f'"tile-{org_tile}-1-x"'
    assert client.get(f"/api/tiles/{org_tile}", headers={"If-None-Match": etag}).status_code == 404
    assert client.get(f"/tiles/{org_tile}").status_code == 404

    member = signed_in(live, ada)
    mine = member.get(f"/api/tiles/{org_tile}")
    assert mine.status_code == 200 and mine.get_json()["title"] == "Partner A news"
    assert mine.headers["Cache-Control"].startswith("private, ")
    assert "Cookie" in mine.headers["Vary"] and "Origin" in mine.headers["Vary"]
    assert member.get(f"/tiles/{org_tile}").status_code == 200

    listed = {t["id"] for t in member.get("/api/tiles").get_json()["tiles"]}
    assert listed == {public_id, org_tile}
    assert {t["id"] for t in signed_in(live, bob).get("/api/tiles").get_json()["tiles"]} == {public_id}
    anonymous_list = client.get("/api/tiles").get_json()["tiles"]
    assert [t["id"] for t in anonymous_list] == [public_id]
    assert anonymous_list[0]["items_url"] == f"{live.url}/api/tiles/{public_id}"
    assert anonymous_list[0]["fragment_url"] == f"{live.url}/tiles/{public_id}"


def test_public_tile_answer_is_private_when_the_request_carries_a_session(live: LiveHub) -> None:
    _, ada = add_org_user(live, "Partner A", "ada@a.example")
    tile_id = add_tile(live)
    answer = signed_in(live, ada).get(f"/api/tiles/{tile_id}")
    assert answer.status_code == 200 and answer.headers["Cache-Control"].startswith("private, ")


def test_cors_only_for_allowed_lms_origins(live: LiveHub, client: FlaskClient) -> None:
    tile_id = add_tile(live)
    allowed = client.get(f"/api/tiles/{tile_id}", headers={"Origin": LMS})
    assert allowed.headers["Access-Control-Allow-Origin"] == LMS
    assert allowed.headers["Access-Control-Allow-Credentials"] == "true"
    assert "Origin" in allowed.headers["Vary"]
    denied = client.get(f"/api/tiles/{tile_id}", headers={"Origin": "https://evil.example"})
    assert denied.status_code == 200  # a non-browser can read a public tile anyway; a browser page cannot
    assert "Access-Control-Allow-Origin" not in denied.headers
    assert "Access-Control-Allow-Credentials" not in denied.headers
    assert "Origin" in denied.headers["Vary"]
    preflight = client.options(f"/api/tiles/{tile_id}", headers={
        "Origin": LMS, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "if-none-match"})
    assert preflight.headers["Access-Control-Allow-Origin"] == LMS
    assert preflight.headers["Access-Control-Allow-Methods"] == "GET"
    missing = client.get("/api/tiles/424242", headers={"Origin": LMS})
    assert missing.status_code == 404 and missing.headers["Access-Control-Allow-Origin"] == LMS


def test_fragment_has_no_script_and_is_framed_only_by_lms_origins(live: LiveHub, client: FlaskClient) -> None:
    tile_id = add_tile(live, title='<script>window.pwned=1</script>News', html=XSS)
    answer = client.get(f"/tiles/{tile_id}")
    assert answer.status_code == 200 and answer.mimetype == "text/html"
    csp = answer.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert f"frame-ancestors 'self' {LMS}" in csp
    assert "X-Frame-Options" not in answer.headers
    page = answer.get_data(as_text=True)
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;News" in page
    assert "<script" not in page and "onerror" not in page and "javascript:" not in page
    assert 'href="https://news.example.org/0"' in page
    assert '<h2 class="hub-tile__item-title">Headline 0 &lt;i&gt;&amp;&lt;/i&gt;</h2>' in page  # escaped
    assert client.get(f"/tiles/{tile_id}", headers={"If-None-Match": answer.headers["ETag"]}).status_code == 304
    # Pages other than fragments still refuse every frame.
    assert client.get("/login").headers["X-Frame-Options"] == "DENY"


def test_stale_flag_after_a_failed_refresh(live: LiveHub, client: FlaskClient) -> None:
    tile_id = add_tile(live)
    before = client.get(f"/api/tiles/{tile_id}")
    bump(live, tile_id, last_error="rss: 503 from news.example.org", error_at=datetime.now(UTC))
    with live.app.app_context():
        cache.warm(tile_id)
    after = client.get(f"/api/tiles/{tile_id}", headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200 and after.headers["ETag"] != before.headers["ETag"]
    data = after.get_json()
    assert data["stale"] is True and len(data["items"]) == 2  # the last good items are still served
    assert "error" not in data  # the error is for admins, not for LMS pages
    assert "not answering" in client.get(f"/tiles/{tile_id}").get_data(as_text=True)


def test_served_from_redis_until_the_version_moves(live: LiveHub, client: FlaskClient) -> None:
    tile_id = add_tile(live)
    assert client.get(f"/api/tiles/{tile_id}").get_json()["items"][0]["text"] == "Item 0 text"
    with live.context() as session:  # the row changes without a version bump: the cache must not notice
        session.execute(update(TileItem).where(TileItem.tile_id == tile_id, TileItem.remote_id == "item-0")
                        .values(text="Changed underneath"))
        session.commit()
    assert client.get(f"/api/tiles/{tile_id}").get_json()["items"][0]["text"] == "Item 0 text"
    with live.app.app_context():  # even with the pointer gone, the version's payload is reused
        cache.forget(tile_id)
    assert client.get(f"/api/tiles/{tile_id}").get_json()["items"][0]["text"] == "Item 0 text"

    bump(live, tile_id)
    with live.app.app_context():
        cache.warm(tile_id)  # what the refresh step calls after its commit
    rebuilt = client.get(f"/api/tiles/{tile_id}")
    assert rebuilt.get_json()["items"][0]["text"] == "Changed underneath"
    assert rebuilt.headers["ETag"].startswith(f'"tile-{tile_id}-2-')


def test_a_bump_without_warm_shows_once_the_pointer_expires(live: LiveHub, client: FlaskClient) -> None:
    tile_id = add_tile(live)
    client.get(f"/api/tiles/{tile_id}")
    bump(live, tile_id, title="Renamed")
    assert client.get(f"/api/tiles/{tile_id}").get_json()["title"] == "Campus news"
    with live.app.app_context():
        ttl = redis_conn.get().ttl(cache.pointer_key(tile_id))
        assert 0 < ttl <= cache.POINTER_TTL
        cache.forget(tile_id)  # what POINTER_TTL (and the process's one-second copy) do by themselves
    assert client.get(f"/api/tiles/{tile_id}").get_json()["title"] == "Renamed"


def test_the_pointer_never_moves_back_to_an_older_version(live: LiveHub) -> None:
    tile_id = add_tile(live)
    bump(live, tile_id)
    with live.app.app_context():
        cache.warm(tile_id)
        cache._set_pointer(tile_id, 1, {"d": "old", "orgs": None}, b"{}")  # a slow builder that read version 1
        entry = cache.lookup(tile_id)
    assert entry is not None and entry.version == 2


def test_disabled_or_deleted_tile_is_gone(live: LiveHub, client: FlaskClient) -> None:
    tile_id = add_tile(live)
    assert client.get(f"/api/tiles/{tile_id}").status_code == 200
    with live.context() as session:
        session.execute(update(Tile).where(Tile.id == tile_id).values(enabled=False))
        session.commit()
    with live.app.app_context():
        cache.warm(tile_id)
        # Another web process (not warmed by this refresh) sees it within POINTER_TTL + LOCAL_TTL.
        assert redis_conn.get().get(cache.pointer_key(tile_id)).startswith(b"-1|")
    assert client.get(f"/api/tiles/{tile_id}").status_code == 404
    assert client.get("/api/tiles").get_json()["tiles"] == []


def test_avatars_are_hub_urls_and_the_route_only_reads_redis(live: LiveHub, client: FlaskClient) -> None:
    tile_id = add_tile(live, avatar="https://pbs.example.com/a.png", items=1)
    item = client.get(f"/api/tiles/{tile_id}").get_json()["items"][0]
    assert item["avatar"].startswith(f"{live.url}/tiles/avatars/")
    assert "pbs.example.com" not in item["avatar"]
    key = item["avatar"].rsplit("/", 1)[1]
    assert client.get(f"/tiles/avatars/{key}").status_code == 404  # not fetched: never fetched on request
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    with live.app.app_context():
        redis_conn.get().set(f"tiles:avatar:{key}", b"image/png\n" + png)
    served = client.get(f"/tiles/avatars/{key}")
    assert served.status_code == 200 and served.data == png and served.mimetype == "image/png"
    assert served.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert client.get("/tiles/avatars/../../etc").status_code == 404


def test_embed_script_is_served_cacheable(client: FlaskClient) -> None:
    answer = client.get("/embed.js")
    assert answer.status_code == 200 and answer.mimetype == "text/javascript"
    assert answer.headers["Cache-Control"] == "public, max-age=300"
    assert b'customElements.define("hub-tile"' in answer.data
    assert b".innerHTML" not in answer.data and b"insertAdjacentHTML" not in answer.data


class _ImageHost:
    """An avatar host on loopback (named in HUB_FEED_ALLOW_HOSTS): one PNG, one SVG, one PNG that lies."""

    PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    FILES = {"/a.png": ("image/png", PNG), "/b.svg": ("image/svg+xml", b"<svg onload='x()'/>"),
             "/c.png": ("image/png", b"<html>not an image</html>")}

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        files = self.FILES
        self.hits: list[str] = []
        hits = self.hits

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                content_type, data = files.get(self.path, ("text/plain", b"missing"))
                self.send_response(200 if self.path in files else 404)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://localhost:{self.server.server_port}"


@pytest.fixture
def image_host() -> Iterator[_ImageHost]:
    host = _ImageHost()
    yield host
    host.server.shutdown()
    host.server.server_close()


def test_warm_fetches_raster_avatars_through_the_safe_fetcher(live: LiveHub, client: FlaskClient,
                                                              image_host: _ImageHost) -> None:
    tiles = {name: add_tile(live, name, avatar=f"{image_host.base}/{name}", items=1)
             for name in ("a.png", "b.svg", "c.png")}
    live.app.extensions["settings"] = dataclasses.replace(live.app.extensions["settings"],
                                                          feed_allow_hosts=frozenset({"localhost"}))
    with live.app.app_context():
        for tile_id in tiles.values():
            cache.warm(tile_id)
    served = {}
    for name, tile_id in tiles.items():
        avatar = client.get(f"/api/tiles/{tile_id}").get_json()["items"][0]["avatar"]
        served[name] = client.get(avatar.removeprefix(live.url))
    assert served["a.png"].status_code == 200 and served["a.png"].data == _ImageHost.PNG
    assert served["b.svg"].status_code == 404  # SVG can carry script: never served
    assert served["c.png"].status_code == 404  # the type header lied
    hits = len(image_host.hits)
    with live.app.app_context():
        cache.warm(tiles["a.png"])  # already stored: not fetched again
    assert len(image_host.hits) == hits


def test_avatar_on_a_host_not_allowed_is_not_fetched(live: LiveHub, image_host: _ImageHost) -> None:
    tile_id = add_tile(live, avatar=f"{image_host.base}/a.png", items=1)
    with live.app.app_context():  # localhost resolves to loopback, and HUB_FEED_ALLOW_HOSTS does not name it
        cache.warm(tile_id)
    assert image_host.hits == []


def test_a_process_keeps_an_entry_one_second_then_asks_redis_again(live: LiveHub, client: FlaskClient) -> None:
    tile_id = add_tile(live)
    client.get(f"/api/tiles/{tile_id}")
    bump(live, tile_id, title="Renamed")
    with live.app.app_context():  # another process warmed Redis; this one still has its copy
        redis_conn.get().delete(cache.pointer_key(tile_id))
        cache._load_entry(db.session(), tile_id)
    assert client.get(f"/api/tiles/{tile_id}").get_json()["title"] == "Campus news"
    movable_clock(live.app).advance(seconds=cache.LOCAL_TTL + 0.1)
    assert client.get(f"/api/tiles/{tile_id}").get_json()["title"] == "Renamed"
