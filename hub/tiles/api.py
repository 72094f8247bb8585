"""The tile API, the iframe fragment, proxied avatars and /embed.js: what LMS pages read (docs/embedding.md).

Every answer comes from hub.tiles.cache (Redis, or the database on a miss), never from a provider. A tile for all
users is public: it renders on any LMS page without a hub session, and its answers load no session at all. A tile
for given organisations needs the viewer's hub session; to anyone else it does not exist (404, as an unknown id).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, send_from_directory
from sqlalchemy import exists, or_, select

from hub import db
from hub.auth.sessions import current_user
from hub.models import MAX_KEY
from hub.models.tiles import Tile, TileAudience
from hub.tiles import avatars, cache

bp = Blueprint("tiles", __name__)

MAX_AGE = 30  # seconds a browser keeps a tile before asking again (then usually a 304)
STALE_WHILE_REVALIDATE = 300
STATIC = Path(__file__).resolve().parent.parent / "static"
# A tile id as the hub writes it: ASCII digits, no sign or leading zero, within the database's keys (MAX_KEY).
# Anything else (0, -1, 1e3, 0001, a non-ASCII digit, 99999999999999999999) is the same 404 as an unknown tile,
# answered in the route's own format and with CORS, so the widget can tell "no such tile" from a network error.
TILE_ID = re.compile(r"[1-9][0-9]{0,18}")
AVATAR_KEY = re.compile(r"[0-9a-f]{40}")  # avatars.key_of: 40 lower-case hex digits


@bp.get("/api/tiles")
def list_tiles() -> Response:
    """The viewer's tiles: those for all users, and those for the signed-in user's organisation."""
    user = current_user()
    audience = exists().where(TileAudience.tile_id == Tile.id)
    mine = audience.where(TileAudience.org_id == user.org_id) if user is not None and user.org_id else None
    query = select(Tile).where(Tile.enabled.is_(True), or_(~audience, mine) if mine is not None else ~audience)
    tiles = db.session().scalars(query.order_by(Tile.id))
    base = _settings().base_url  # never the request's Host: a spoofed one would end up in the URLs
    response = jsonify(tiles=[{
        "id": tile.id, "kind": tile.kind, "title": tile.title, "stale": tile.stale,
        "updated": cache.iso(tile.fetched_at),
        "items_url": f"{base}/api/tiles/{tile.id}", "fragment_url": f"{base}/tiles/{tile.id}",
    } for tile in tiles])
    response.headers["Cache-Control"] = f"private, max-age={MAX_AGE}"
    response.add_etag()
    response.make_conditional(request)  # in place: 304 without a body when the browser's ETag matches
    return response


@bp.get("/api/tiles/<tile_id>")
def tile_items(tile_id: str) -> Response:
    """The tile's items as JSON, from the cache, with a strong ETag from (id, version)."""
    return _serve(tile_id, cache.body, "application/json")


@bp.get("/tiles/<tile_id>")
def tile_fragment(tile_id: str) -> Response:
    """The tile as a small HTML document for an iframe: no scripts, framed only by the allowed LMS origins."""
    response = _serve(tile_id, cache.fragment, "text/html")
    if response.status_code in (200, 304):
        ancestors = " ".join(("'self'", *_settings().lms_origins))
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; "
            f"frame-ancestors {ancestors}")
    return response


@bp.get("/tiles/avatars/<key>")
def avatar(key: str) -> Response:
    """A fetched avatar from Redis (the route never fetches): 404 until the refresh stored it."""
    found = avatars.get(key) if AVATAR_KEY.fullmatch(key) else None
    if found is None:
        response = Response("no such avatar\n", 404, mimetype="text/plain")
        response.headers["Cache-Control"] = "public, max-age=60"
    else:
        content_type, data = found
        response = Response(data, 200, content_type=content_type)
        response.headers["Cache-Control"] = "public, max-age=86400, immutable"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


@bp.get("/embed.js")
def embed_js() -> Response:
    """The <hub-tile> custom element: one script tag on an LMS page."""
    response = send_from_directory(STATIC, "embed.js", mimetype="text/javascript", max_age=300)
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


@bp.after_request
def _cors(response: Response) -> Response:
    """CORS for the allowed LMS origins only; everyone else's page cannot read the answers."""
    response.vary.add("Origin")
    # Compared as sent: browsers serialise an origin in lower case without a default port or a path, and the
    # header they check must echo it byte for byte (Fetch, CORS check). "null", a suffix such as
    # https://lms.example.edu.evil, a trailing slash: not listed, so no CORS headers at all.
    origin = request.headers.get("Origin") or ""
    if origin and origin in _settings().lms_origins:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"  # org tiles need the viewer's hub session
        response.headers["Access-Control-Expose-Headers"] = "ETag"
        if request.method == "OPTIONS":
            response.headers["Access-Control-Allow-Methods"] = "GET"
            response.headers["Access-Control-Allow-Headers"] = "If-None-Match"
            response.headers["Access-Control-Max-Age"] = "600"
    return response


def _serve(raw_id: str, render: Any, mimetype: str) -> Response:
    tile_id = int(raw_id) if TILE_ID.fullmatch(raw_id) else 0
    if not 0 < tile_id <= MAX_KEY:
        return _not_found(mimetype)
    entry = cache.lookup(tile_id)
    if entry is None or (not entry.public and not _viewer_allowed(entry)):
        return _not_found(mimetype)
    # A public tile's answer is the same for everyone; with a session cookie Flask refreshes the cookie in the
    # answer, which a shared cache must never keep.
    scope = "public" if entry.public and current_app.config["SESSION_COOKIE_NAME"] not in request.cookies \
        else "private"
    headers = {"ETag": f'"{entry.etag}"',
               "Cache-Control": f"{scope}, max-age={MAX_AGE}, stale-while-revalidate={STALE_WHILE_REVALIDATE}"}
    # If-None-Match compares weakly (RFC 9110, 13.1.2): W/"tile-..." matches, and so does "*" (the tile exists).
    if request.if_none_match.contains_weak(entry.etag):
        response = Response(status=304, headers=headers)
    else:
        response = Response(render(entry), 200, headers=headers, mimetype=mimetype)
    if not entry.public:
        response.vary.add("Cookie")
    return response


def _viewer_allowed(entry: cache.Entry) -> bool:
    user = current_user()
    return user is not None and entry.allows(user.org_id)


def _not_found(mimetype: str) -> Response:
    """Unknown, disabled, or not meant for this viewer: one answer for all, so existence does not leak."""
    if mimetype == "application/json":
        response = jsonify(error="not_found", message="There is no such tile for you.")
        response.status_code = 404
    else:
        response = Response("<!doctype html><title>Not found</title><p>There is no such tile.</p>", 404,
                            mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


def _settings() -> Any:
    return current_app.extensions["settings"]
