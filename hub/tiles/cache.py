"""What the tile API serves, kept in Redis so a request reads one or two keys and never the provider.

Two kinds of key (docs/embedding.md, "How tiles are cached"):

- a *pointer* per tile, ``tiles:ptr:<id>`` -> ``"<version>|<json>"`` with the tile's version, a digest of what
  the serving payload shows besides its items (title, kind), and its audience. It lives POINTER_TTL seconds, so
  an edit that does not bump the version (a new audience, a new title, a disabled tile) is seen within that
  time even when nobody calls warm().
- the *payloads* of one version, ``tiles:json:<id>:<version>:<digest>`` (the JSON items) and
  ``tiles:html:<id>:<version>:<digest>`` (the iframe fragment). A version's payload never changes, so a slow
  builder can never overwrite a newer one; the pointer is only moved forward (a Lua compare-and-set).

Each web process also keeps an entry it read for LOCAL_TTL (one second), so a hot tile is mostly answered
without leaving the process. On a pointer miss the request reads the tile's row and audience (two primary-key
lookups); on a payload miss it also reads the items. The refresh step calls warm() after its commit so the next
request finds both ready.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis
from flask import current_app, render_template
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import clock, db, redis_conn
from hub.models.tiles import Tile, TileAudience, TileItem

log = logging.getLogger(__name__)

POINTER_TTL = 10  # seconds an un-bumped edit (audience, title, enabled) may take to show
PAYLOAD_TTL = 3600  # a version's payload; rebuilt from the database when it expires
# Each web process keeps what it read from Redis for one second: a hot tile costs one Redis read per second per
# process instead of one per request (a Redis round trip is most of a cached answer's time). Kept on the app,
# not the module, so every app (and test) has its own.
LOCAL = "tiles.local_entries"
LOCAL_TTL = 1.0
LOCAL_MAX = 10_000
GONE = -1  # the pointer's version for an unknown or disabled tile (cached too: probing ids costs no query)

# Moves the pointer only forward (or rewrites the same version): a builder that read an older row loses.
_SET_POINTER = """
local current = redis.call('GET', KEYS[1])
if current then
  local version = tonumber(string.match(current, '^(%-?%d+)|'))
  if version and version > tonumber(ARGV[2]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[3]))
return 1
"""


@dataclass(frozen=True)
class Entry:
    """A tile as the API needs it before reading any item: which version, whose, and under which ETag."""

    tile_id: int
    version: int
    digest: str
    orgs: tuple[int, ...] | None  # None: all users (public); else the organisations whose users see it
    # The version's JSON, copied into the pointer so the common request is one Redis GET.
    payload: bytes | None = field(default=None, repr=False, compare=False)

    @property
    def public(self) -> bool:
        return self.orgs is None

    @property
    def etag(self) -> str:
        """Strong validator: the same (id, version, digest) always serves the same bytes."""
        return f"tile-{self.tile_id}-{self.version}-{self.digest}"

    def allows(self, org_id: int | None) -> bool:
        return self.orgs is None or (org_id is not None and org_id in self.orgs)

    def key(self, what: str) -> str:
        return f"tiles:{what}:{self.tile_id}:{self.version}:{self.digest}"


def pointer_key(tile_id: int) -> str:
    return f"tiles:ptr:{tile_id}"


def lookup(tile_id: int) -> Entry | None:
    """The tile's current entry: this process's copy of the last second, else Redis, else the database."""
    local = current_app.extensions.setdefault(LOCAL, {})
    now = clock.now().timestamp()  # the app's clock: tests move it past LOCAL_TTL instead of sleeping
    hit = local.get(tile_id)
    if hit is not None and hit[0] > now:
        return hit[1]
    entry = _lookup_shared(tile_id)
    if len(local) >= LOCAL_MAX:
        local.clear()
    local[tile_id] = (now + LOCAL_TTL, entry)
    return entry


def _lookup_shared(tile_id: int) -> Entry | None:
    raw = redis_conn.get_bytes(redis_conn.get(), pointer_key(tile_id))
    if raw is not None:
        head, _, payload = raw.partition(b"\n")
        version, _, data = head.decode().partition("|")
        if int(version) == GONE:
            return None
        meta = json.loads(data)
        orgs = meta["orgs"]
        return Entry(tile_id, int(version), meta["d"], None if orgs is None else tuple(orgs), payload or None)
    return _load_entry(db.session(), tile_id)


def body(entry: Entry) -> bytes:
    """The JSON payload of the entry's version (carried by the pointer, else Redis, else built and stored)."""
    if entry.payload is not None:
        return entry.payload
    cached = redis_conn.get_bytes(redis_conn.get(), entry.key("json"))
    if cached is not None:
        return cached
    return _build(db.session(), entry)


def fragment(entry: Entry) -> bytes:
    """The iframe fragment of the entry's version, rendered from its JSON payload once per version."""
    r = redis_conn.get()
    cached = redis_conn.get_bytes(r, entry.key("html"))
    if cached is not None:
        return cached
    data = json.loads(body(entry))
    html = render_template("tiles/fragment.html", tile=data, lms_origins=_settings().lms_origins).encode()
    r.set(entry.key("html"), html, ex=PAYLOAD_TTL)
    return html


def warm(tile_id: int) -> None:
    """Rebuild the tile's entry and payload now (the refresh step calls this after its commit; best effort)."""
    try:
        from hub.tiles import avatars

        session = db.session()
        avatars.fetch_missing(session, tile_id)
        current_app.extensions.get(LOCAL, {}).pop(tile_id, None)
        _load_entry(session, tile_id)  # moves the pointer (with the payload, built if this version has none)
    except redis.exceptions.RedisError as exc:
        # The next request builds what warm() could not: a refresh never fails because Redis hiccupped.
        log.warning("tile %s: cache not warmed (%s)", tile_id, type(exc).__name__)


def forget(tile_id: int) -> None:
    """Drop the tile's pointer and this process's copy (a deleted tile, whose id SQLite may hand out again)."""
    current_app.extensions.get(LOCAL, {}).pop(tile_id, None)
    redis_conn.get().delete(pointer_key(tile_id))


def _settings() -> Any:
    return current_app.extensions["settings"]


def _digest(tile: Tile) -> str:
    """What the payload shows besides the items and stale flag, which bump the version themselves."""
    return hashlib.sha256(f"{tile.kind}\x00{tile.title}\x00{tile.max_items}".encode()).hexdigest()[:10]


def _load_entry(session: Session, tile_id: int) -> Entry | None:
    tile = session.get(Tile, tile_id)
    if tile is None or not tile.enabled:
        # Written over any version: a disabled or deleted tile must stop serving now, not when a version passes.
        redis_conn.get().set(pointer_key(tile_id), f"{GONE}|{{}}", ex=POINTER_TTL)
        return None
    orgs = sorted(session.scalars(select(TileAudience.org_id).where(TileAudience.tile_id == tile_id)))
    entry = Entry(tile_id, tile.version, _digest(tile), tuple(orgs) if orgs else None)
    payload = redis_conn.get_bytes(redis_conn.get(), entry.key("json")) or _build(session, entry)
    _set_pointer(tile_id, entry.version, {"d": entry.digest, "orgs": orgs or None}, payload)
    return dataclasses.replace(entry, payload=payload)


def _set_pointer(tile_id: int, version: int, meta: dict[str, Any], payload: bytes = b"") -> None:
    head = f"{version}|{json.dumps(meta)}".encode()
    redis_conn.get().eval(_SET_POINTER, 1, pointer_key(tile_id), head + b"\n" + payload, version, POINTER_TTL)


def _build(session: Session, entry: Entry) -> bytes:
    """Read the tile and its newest items and store the version's JSON payload."""
    tile = session.get(Tile, entry.tile_id)
    if tile is None:
        return b"{}"
    # Store under what was actually read: a refresh may have committed since the entry was looked up.
    key = Entry(tile.id, tile.version, _digest(tile), entry.orgs).key("json")
    rows = session.scalars(
        select(TileItem).where(TileItem.tile_id == tile.id)
        .order_by(TileItem.published_at.desc().nulls_last(), TileItem.id.desc()).limit(tile.max_items))
    from hub.tiles import avatars

    base = _settings().base_url
    payload = {
        "id": tile.id,
        "kind": tile.kind,
        "title": tile.title,
        "stale": tile.stale,
        "updated": iso(tile.fetched_at),
        "items": [{
            "id": item.remote_id,
            "author": item.author,
            "avatar": avatars.url_for(base, item.avatar_url),
            "title": item.title,
            "text": item.text,
            "html": item.html,
            "link": item.link,
            "published": iso(item.published_at),
        } for item in rows],
    }
    encoded = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    redis_conn.get().set(key, encoded, ex=PAYLOAD_TTL)
    return encoded


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:  # SQLite hands back naive datetimes; the hub stores UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
