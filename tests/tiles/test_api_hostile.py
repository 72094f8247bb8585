"""The tile routes over real HTTP against hostile input: odd ids, validators, origins, methods and avatar keys.

Every request goes through the live hub's socket (requests, not the test client), as an LMS page, a cache or a
scanner would send it. The expectations are RFC 9110's (conditional requests, HEAD) and the Fetch standard's
(CORS): an odd id is the route's own 404 (JSON or HTML, with CORS so the widget can read it), never a 500.
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from hub import redis_conn
from hub.tiles import sanitize
from tests.live import LiveHub
from tests.tiles.test_api import LMS, add_org_user, add_tile

NOT_FOUND = {"error": "not_found", "message": "There is no such tile for you."}


@pytest.fixture
def http() -> Iterator[requests.Session]:
    session = requests.Session()
    session.trust_env = False
    yield session
    session.close()


@pytest.mark.parametrize("raw", ["0", "-1", "99999999999999999999", "9223372036854775808", "abc", "1.5", "1e3",
                                 "0001", "+1", "%20", "\u0663", "\u00b2", "1%00", "x" * 2000])
def test_an_odd_id_is_the_routes_own_404_with_cors(live: LiveHub, http: requests.Session, raw: str) -> None:
    add_tile(live)  # tile 1 exists: "0001", "+1" and the Arabic-Indic three must not reach it
    api = http.get(f"{live.url}/api/tiles/{raw}", headers={"Origin": LMS})
    assert api.status_code == 404 and api.json() == NOT_FOUND, (raw, api.status_code, api.text[:200])
    assert api.headers["Access-Control-Allow-Origin"] == LMS and api.headers["Cache-Control"] == "no-store"
    fragment = http.get(f"{live.url}/tiles/{raw}")
    assert fragment.status_code == 404 and fragment.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "There is no such tile." in fragment.text


def test_the_largest_id_the_database_holds_is_looked_up_not_crashed_on(live: LiveHub, http: requests.Session) -> None:
    for tile_id in (2**31 - 1, 2**31, 2**63 - 1):  # PostgreSQL's integer key, one past it, SQLite's 64 bits
        answer = http.get(f"{live.url}/api/tiles/{tile_id}")
        assert answer.status_code == 404 and answer.json() == NOT_FOUND, tile_id


def test_if_none_match_compares_weakly_and_star_matches_an_existing_tile(live: LiveHub,
                                                                        http: requests.Session) -> None:
    tile_id = add_tile(live)
    url = f"{live.url}/api/tiles/{tile_id}"
    etag = http.get(url).headers["ETag"]
    for validators in (etag, f'"other", {etag}', f"W/{etag}", f'W/"other", W/{etag}', "*"):
        answer = http.get(url, headers={"If-None-Match": validators})
        assert answer.status_code == 304 and answer.content == b"", validators
        assert answer.headers["ETag"] == etag and "max-age=30" in answer.headers["Cache-Control"]
    for validators in ('"other"', etag[:-1], "x" * 9000, f'"{"a" * 9000}"', ",,,", 'W/"tile"'):
        answer = http.get(url, headers={"If-None-Match": validators})
        assert answer.status_code == 200 and answer.json()["id"] == tile_id, validators[:40]
    # "*" says "any current representation": a tile that does not exist (or not for this viewer) has none.
    org, _ = add_org_user(live, "Partner A", "ada@a.example")
    org_tile = add_tile(live, "Partners only", orgs=(org,))
    for missing in (424242, org_tile):
        answer = http.get(f"{live.url}/api/tiles/{missing}", headers={"If-None-Match": "*"})
        assert answer.status_code == 404 and answer.json() == NOT_FOUND


def test_fragment_304_on_a_weak_validator_and_one_charset(live: LiveHub, http: requests.Session) -> None:
    tile_id = add_tile(live)
    page = http.get(f"{live.url}/tiles/{tile_id}")
    assert page.status_code == 200 and page.headers["Content-Type"] == "text/html; charset=utf-8"
    again = http.get(f"{live.url}/tiles/{tile_id}", headers={"If-None-Match": f"W/{page.headers['ETag']}"})
    assert again.status_code == 304 and "frame-ancestors" in again.headers["Content-Security-Policy"]


@pytest.mark.parametrize("origin", ["null", "http://allowed.example.evil", f"{LMS}.evil", f"{LMS}/", f"{LMS}:443",
                                    "HTTPS://LMS.EXAMPLE.EDU", "https://Lms.example.edu", "http://lms.example.edu",
                                    f"{LMS}.", f"{LMS}, https://evil.example"])
def test_cors_only_for_the_exact_listed_origin(live: LiveHub, http: requests.Session, origin: str) -> None:
    tile_id = add_tile(live)
    for path in (f"/api/tiles/{tile_id}", "/api/tiles", "/api/tiles/424242"):
        answer = http.get(live.url + path, headers={"Origin": origin})
        assert "Access-Control-Allow-Origin" not in answer.headers, (origin, path)
        assert "Access-Control-Allow-Credentials" not in answer.headers
        assert "Origin" in answer.headers["Vary"]
    preflight = http.options(f"{live.url}/api/tiles/{tile_id}", headers={
        "Origin": origin, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "if-none-match"})
    assert "Access-Control-Allow-Origin" not in preflight.headers
    assert "Access-Control-Allow-Methods" not in preflight.headers


def test_preflight_from_the_allowed_origin_allows_get_with_if_none_match_only(live: LiveHub,
                                                                             http: requests.Session) -> None:
    tile_id = add_tile(live)
    for path in (f"/api/tiles/{tile_id}", "/api/tiles", f"/tiles/{tile_id}", "/api/tiles/abc"):
        preflight = http.options(live.url + path, headers={
            "Origin": LMS, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "if-none-match"})
        assert preflight.status_code == 200 and preflight.content == b"", path
        assert preflight.headers["Access-Control-Allow-Origin"] == LMS
        assert preflight.headers["Access-Control-Allow-Credentials"] == "true"
        assert preflight.headers["Access-Control-Allow-Methods"] == "GET"
        assert preflight.headers["Access-Control-Allow-Headers"] == "If-None-Match"
    # The routes are read-only: another method is refused, whatever the origin.
    assert http.post(f"{live.url}/api/tiles/{tile_id}", headers={"Origin": LMS}).status_code == 405
    assert http.delete(f"{live.url}/api/tiles/{tile_id}", headers={"Origin": LMS}).status_code == 405


def test_org_tile_with_credentials_from_the_allowed_origin(live: LiveHub, http: requests.Session) -> None:
    """The widget's request: credentials and Origin. Without a session: the readable 404; never a public copy."""
    org, _ = add_org_user(live, "Partner A", "ada@a.example")
    tile_id = add_tile(live, "Partners only", orgs=(org,))
    answer = http.get(f"{live.url}/api/tiles/{tile_id}", headers={"Origin": LMS, "Cookie": "hub_session=forged"})
    assert answer.status_code == 404 and answer.json() == NOT_FOUND
    assert answer.headers["Access-Control-Allow-Origin"] == LMS
    assert answer.headers["Access-Control-Allow-Credentials"] == "true"
    assert answer.headers["Cache-Control"] == "no-store" and "Cookie" in answer.headers["Vary"]


def test_head_answers_as_get_without_a_body(live: LiveHub, http: requests.Session) -> None:
    tile_id = add_tile(live)
    for path, status in ((f"/api/tiles/{tile_id}", 200), (f"/tiles/{tile_id}", 200), ("/api/tiles/424242", 404),
                         ("/api/tiles/-1", 404), ("/embed.js", 200)):
        get, head = http.get(live.url + path), http.head(live.url + path)
        assert head.status_code == get.status_code == status and head.content == b"", path
        for name in ("Content-Type", "ETag", "Cache-Control", "Content-Length"):
            assert head.headers.get(name) == get.headers.get(name), (path, name)


@pytest.mark.parametrize("accept", ["text/html", "application/xml", "*/*", "application/json;q=0", "garbage;;;",
                                    "x" * 4000])
def test_any_accept_gets_the_routes_one_format(live: LiveHub, http: requests.Session, accept: str) -> None:
    tile_id = add_tile(live)
    answer = http.get(f"{live.url}/api/tiles/{tile_id}", headers={"Accept": accept})
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/json"
    assert answer.json()["id"] == tile_id


@pytest.mark.parametrize("key", ["A" * 40, "g" * 40, "\u00aa" * 40, "a" * 39, "a" * 41, "x" * 5000, "%2e%2e",
                                 "a" * 39 + "%00"])
def test_a_bad_avatar_key_is_the_avatar_404(live: LiveHub, http: requests.Session, key: str) -> None:
    with live.app.app_context():  # a stored avatar under the key upper-cased must not be found by it
        redis_conn.get().set(f"tiles:avatar:{key.lower()}", b"image/png\n\x89PNG\r\n\x1a\n")
    answer = http.get(f"{live.url}/tiles/avatars/{key}")
    assert answer.status_code == 404 and answer.text == "no such avatar\n"
    assert answer.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"


def test_embed_js_is_javascript_cached_and_revalidated(live: LiveHub, http: requests.Session) -> None:
    first = http.get(f"{live.url}/embed.js")
    assert first.status_code == 200 and first.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert first.headers["Cache-Control"] == "public, max-age=300"
    assert first.headers["X-Content-Type-Options"] == "nosniff"
    assert first.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    again = http.get(f"{live.url}/embed.js", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.content == b""


def test_a_hostile_feed_item_reaches_the_api_as_text(live: LiveHub, http: requests.Session) -> None:
    """A `javascript:` link is dropped and HTML in an author or headline comes out as plain text (sanitize)."""
    tile_id = add_tile(live, items=0)
    from hub.models.tiles import TileItem

    with live.context() as session:
        for n, link in enumerate(("javascript:alert(1)", "JaVaScRiPt:alert(1)", " javascript:alert(1)",
                                  "java\tscript:alert(1)", "data:text/html,<script>alert(1)</script>", "vbscript:x")):
            session.add(TileItem(tile_id=tile_id, remote_id=f"bad-{n}", link=sanitize.safe_url(link),
                                 author=sanitize.plain_text('<img src=x onerror=alert(1)><b>Bob</b> & "co"'),
                                 title=sanitize.plain_text("<script>alert(1)</script>Hi"),
                                 text=sanitize.plain_text("<p onclick=x>body</p>")))
        session.commit()
    items = http.get(f"{live.url}/api/tiles/{tile_id}").json()["items"]
    assert len(items) == 6
    for item in items:
        assert item["link"] is None and item["author"] == 'Bob & "co"' and item["title"] == "Hi"
        assert item["text"] == "body"
    page = http.get(f"{live.url}/tiles/{tile_id}").text
    assert "javascript:" not in page and "<img" not in page and "Bob &amp; &#34;co&#34;" in page
