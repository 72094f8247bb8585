"""Item avatars served by the hub, never hot-linked: the viewer's browser never contacts the avatar's host.

The refresh step (through cache.warm) fetches each item's avatar with the SSRF-safe fetcher, checks that it is a
small raster image, and keeps it in Redis under an HMAC of its URL. The API hands out
``<base>/tiles/avatars/<hmac>``; that route only reads Redis, so it cannot be made to fetch anything, and a
request never waits on the avatar's host. No SVG: it can carry script.
"""
from __future__ import annotations

import hashlib
import hmac
import logging

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import redis_conn
from hub.models.tiles import TileItem
from providers.base import Permanent, RateLimited, Transient, UnsafeURL

log = logging.getLogger(__name__)

MAX_BYTES = 256 * 1024
TTL = 24 * 3600
MISSING_TTL = 3600  # an avatar that could not be fetched is tried again after this
MISSING = b"-"
# Seconds; safe_fetch.Limits is built where avatars are fetched (the worker's warm()), which alone imports it.
CONNECT_TIMEOUT, READ_TIMEOUT, TOTAL_TIMEOUT = 3.0, 5.0, 8.0
# Content types served, with the magic bytes the body must start with (a type header alone proves nothing).
TYPES = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
}


def key_of(url: str) -> str:
    """The avatar's name in the hub: an HMAC of its URL, so nobody can name a URL for the hub to serve."""
    secret = current_app.extensions["settings"].secret_key.encode()
    return hmac.new(secret, b"tile-avatar\x00" + url.encode(), hashlib.sha256).hexdigest()[:40]


def url_for(base_url: str, avatar_url: str | None) -> str | None:
    """The hub URL that serves this avatar (it answers 404 until the refresh has fetched it)."""
    if not avatar_url:
        return None
    return f"{base_url}/tiles/avatars/{key_of(avatar_url)}"


def get(key: str) -> tuple[str, bytes] | None:
    """(content type, bytes) of a fetched avatar, or None."""
    raw = redis_conn.get_bytes(redis_conn.get(), _redis_key(key))
    if raw is None or raw == MISSING:
        return None
    content_type, _, data = raw.partition(b"\n")
    return content_type.decode(), data


def fetch_missing(session: Session, tile_id: int) -> int:
    """Fetch the avatars of the tile's items not yet in Redis; returns how many were stored."""
    r = redis_conn.get()
    urls = [u for u in session.scalars(select(TileItem.avatar_url).distinct()
                                       .where(TileItem.tile_id == tile_id, TileItem.avatar_url.is_not(None))) if u]
    stored = 0
    for url in urls:
        key = _redis_key(key_of(url))
        if r.exists(key):
            continue
        image = _fetch(url)
        if image is None:
            r.set(key, MISSING, ex=MISSING_TTL)
            continue
        content_type, data = image
        r.set(key, content_type.encode() + b"\n" + data, ex=TTL)
        stored += 1
    return stored


def _redis_key(key: str) -> str:
    return f"tiles:avatar:{key}"


def _fetch(url: str) -> tuple[str, bytes] | None:
    from providers import safe_fetch

    limits = safe_fetch.Limits(max_bytes=MAX_BYTES, connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT,
                               total_timeout=TOTAL_TIMEOUT)
    settings = current_app.extensions["settings"]
    try:
        fetched = safe_fetch.fetch(url, allow_hosts=settings.feed_allow_hosts, limits=limits,
                                   ca_bundle=settings.ca_bundle, provider="avatar")
    except (UnsafeURL, Transient, Permanent, RateLimited) as exc:
        # The item shows without its picture; the reason is logged for the admin, nothing else depends on it.
        log.info("avatar not fetched (%s): %s", type(exc).__name__, exc)
        return None
    content_type = (fetched.content_type or "").split(";")[0].strip().lower()
    if fetched.status != 200 or not any(fetched.body.startswith(m) for m in TYPES.get(content_type, ())):
        log.info("avatar refused: %s is not a png/jpeg/gif/webp image", content_type or "no content type")
        return None
    return content_type, fetched.body
