"""Refreshing one tile: fetch what is new since its cursor, sanitize it, store it, and reschedule the tile.

One refresher per tile at a time (a Redis lock; a second one returns BUSY at once). No database transaction is
open while the reader talks to its provider. Whatever goes wrong, the tile keeps its last good items: a failure
records `last_error` (the tile is then stale) and pushes `next_refresh_at` back (the reset a 429 names,
exponential backoff for transient failures, the normal interval for permanent ones), and touches no other tile.
`version` is bumped in the same transaction as any change to what the tile serves.
"""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import redis
import sqlalchemy.exc
from redis.exceptions import LockError
from sqlalchemy import case, delete, select
from sqlalchemy.orm import Session

from hub import clock, provider_access, redis_conn
from hub.models import Connection, Tile, TileItem, aware
from hub.tiles import reading, sanitize
from providers.base import AuthExpired, FeedItem, FeedPage, FeedReader, ProviderError, RateLimited, Transient

log = logging.getLogger(__name__)

# A fetch is bounded by the fetcher's total time cap (safe_fetch: 30 s) and the SDKs' (connect 5 s + read 15 s);
# an expired token makes it two fetches and a token request. The lock outlives that, and frees a crashed holder.
LOCK_SECONDS = 90
BACKOFF_CAP_SECONDS = 3600
ERROR_LIMIT = 500  # characters of a provider's message kept in last_error
REMOTE_ID_LIMIT = 255
AUTHOR_LIMIT = 200
TEXT_LIMIT = 1000
TITLE_LIMIT = 300


class Outcome(StrEnum):
    REFRESHED = "refreshed"  # new or changed items stored
    UNCHANGED = "unchanged"  # fetched; nothing new
    NOT_MODIFIED = "not_modified"  # the source said so (304, or nothing since the cursor)
    RATE_LIMITED = "rate_limited"  # retried at the reset the provider named
    WAITING = "waiting"  # its turn under the reader's read cap has not come: rescheduled for it, not stale
    FAILED = "failed"  # last good items kept, error recorded, retried later
    BUSY = "busy"  # another worker is refreshing this tile
    MISSING = "missing"  # no such tile (deleted meanwhile)
    DISABLED = "disabled"  # the tile is switched off


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    added: int = 0  # items stored that the tile did not have
    error: str | None = None
    next_refresh_at: datetime | None = None


def lock_name(tile_id: int) -> str:
    return f"hub:tile:refresh:{tile_id}"


def refresh_tile(session: Session, tile_id: int) -> Result:
    """Refresh one tile now, unless another worker is at it (BUSY)."""
    lock = redis_conn.get().lock(lock_name(tile_id), timeout=LOCK_SECONDS, blocking=False)
    if not lock.acquire():
        return Result(Outcome.BUSY)
    try:
        return _refresh_locked(session, tile_id)
    finally:
        try:
            lock.release()
        except LockError:  # held past its timeout: whatever was stored is consistent all the same
            log.warning("the refresh lock of tile %s expired before its refresh finished", tile_id)
        except redis.RedisError as exc:  # it expires on its own
            log.warning("could not release the refresh lock of tile %s: %s", tile_id, type(exc).__name__)


def _refresh_locked(session: Session, tile_id: int) -> Result:
    tile = session.get(Tile, tile_id)
    if tile is None:
        return Result(Outcome.MISSING)
    session.refresh(tile)  # what other workers committed before we took the lock
    if not tile.enabled:
        return Result(Outcome.DISABLED)
    try:
        reader = reading.reader_for(session, tile.kind)
        connection = reading.connection_for(session, tile)
        session.commit()  # no transaction stays open while the provider answers
        page = fetch_page(session, tile, reader, connection)
    except provider_access.ReadTurn as exc:
        return _waiting(session, tile, float(exc.retry_after))
    except RateLimited as exc:
        return _failed(session, tile, exc, delay=max(float(exc.retry_after), 0.0), outcome=Outcome.RATE_LIMITED)
    except Transient as exc:
        return _failed(session, tile, exc, delay=_backoff(tile))
    except ProviderError as exc:  # Permanent, AuthExpired that a refresh could not fix, NotConnected
        return _failed(session, tile, exc, delay=float(tile.refresh_seconds))
    except Exception as exc:
        # A bug in a reader: visible on the tile as well as in RQ's failed registry, which it still reaches.
        session.rollback()
        _failed(session, tile, ProviderError(tile.kind, f"unexpected {type(exc).__name__} while reading"),
                delay=_backoff(tile))
        raise
    return _store(session, tile, page)


def fetch_page(session: Session, tile: Tile, reader: FeedReader, connection: Connection | None) -> FeedPage:
    """One fetch since the tile's cursor; an expired token is refreshed once (where the reader can) and retried.

    Each fetch first waits its turn under the reader's read cap (provider_access.take_read: RateLimited when it is
    not its turn, so the tile comes back when it is)."""
    try:
        provider_access.take_read(reader, connection)
        return reader.fetch(reading.source_for(tile, connection), tile.cursor)
    except AuthExpired:
        if connection is None:
            raise
        # Raises Permanent when the reader cannot refresh ("connect the account again"), Transient when busy.
        tokens = provider_access.refresh(session, connection, reader)
        provider_access.take_read(reader, connection)
        return reader.fetch(reading.source_for(tile, connection, tokens), tile.cursor)


def _store(session: Session, tile: Tile, page: FeedPage) -> Result:
    """Upsert the page's items, trim to max_items newest, clear the error, reschedule; one transaction."""
    now = clock.now()
    session.refresh(tile)  # max_items or refresh_seconds may have been edited while we fetched
    was_stale = tile.last_error is not None
    added = edited = trimmed = 0
    if not page.not_modified:
        added, edited = _upsert(session, tile, [clean_item(item) for item in page.items])
        trimmed = _trim(session, tile)
    items_changed = bool(added or edited or trimmed)
    if page.cursor is not None:
        tile.cursor = page.cursor
    tile.last_error, tile.error_at, tile.fetched_at = None, None, now
    tile.next_refresh_at = now + timedelta(seconds=tile.refresh_seconds)
    if items_changed or was_stale:
        tile.version = Tile.version + 1
    session.commit()
    _warm(tile.id)
    outcome = Outcome.NOT_MODIFIED if page.not_modified else Outcome.REFRESHED if items_changed \
        else Outcome.UNCHANGED
    return Result(outcome, added=added, next_refresh_at=tile.next_refresh_at)


def clean_item(item: FeedItem) -> dict[str, object]:
    """An item as it is stored: every field through hub.tiles.sanitize, whatever the reader."""
    return {"remote_id": str(item.remote_id)[:REMOTE_ID_LIMIT],
            "title": sanitize.plain_text(item.title, TITLE_LIMIT) or None,
            "text": sanitize.plain_text(item.text, TEXT_LIMIT),
            "html": sanitize.clean_html(item.html),
            "author": sanitize.plain_text(item.author, AUTHOR_LIMIT) or None,
            "avatar_url": sanitize.safe_url(item.avatar_url),
            "link": sanitize.safe_url(item.link),
            "published_at": item.published_at}


def _upsert(session: Session, tile: Tile, items: list[dict[str, object]]) -> tuple[int, int]:
    """Insert new items, update edited ones, by (tile_id, remote_id); returns (added, edited)."""
    fresh: dict[str, dict[str, object]] = {}
    for item in items:
        if item["remote_id"]:
            fresh.setdefault(str(item["remote_id"]), item)  # newest first: a repeated id keeps its first
    if not fresh:
        return 0, 0
    stored = {row.remote_id: row for row in session.scalars(
        select(TileItem).where(TileItem.tile_id == tile.id, TileItem.remote_id.in_(list(fresh))))}
    added = edited = 0
    now = clock.now()
    for remote_id, values in fresh.items():
        row = stored.get(remote_id)
        if row is None:
            session.add(TileItem(tile_id=tile.id, fetched_at=now, **values))
            added += 1
            continue
        if _differs(row, values):
            for name, value in values.items():
                setattr(row, name, value)
            row.fetched_at = now
            edited += 1
    session.flush()
    return added, edited


def _differs(row: TileItem, values: dict[str, object]) -> bool:
    for name, value in values.items():
        current = getattr(row, name)
        if name == "published_at":
            current = aware(current)
            value = aware(value) if isinstance(value, datetime) else value
        if current != value:
            return True
    return False


def _trim(session: Session, tile: Tile) -> int:
    """Delete all but the max_items newest items (undated ones count as oldest); returns how many went."""
    newest = (select(TileItem.id).where(TileItem.tile_id == tile.id)
              .order_by(case((TileItem.published_at.is_(None), 1), else_=0), TileItem.published_at.desc(),
                        TileItem.id.desc())
              .limit(tile.max_items))
    result = session.execute(delete(TileItem).where(TileItem.tile_id == tile.id,
                                                    TileItem.id.not_in(newest.scalar_subquery()))
                             .execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


def _failed(session: Session, tile: Tile, exc: ProviderError, delay: float,
            outcome: Outcome = Outcome.FAILED) -> Result:
    """Keep the last good items; record the error (stale) and when to try again."""
    session.rollback()
    now = clock.now()
    message = (exc.message or type(exc).__name__)[:ERROR_LIMIT]
    if isinstance(exc, RateLimited):
        message = f"{message} (next try in {round(delay)} s)"[:ERROR_LIMIT]
    fresh = session.get(Tile, tile.id)
    if fresh is None:
        return Result(Outcome.MISSING)
    session.refresh(fresh)
    if fresh.last_error != message:
        fresh.version = Tile.version + 1  # the API shows the tile stale, with the new error to admins
    fresh.last_error = message
    fresh.error_at = fresh.error_at or now  # when the tile went stale: the backoff grows with the outage
    fresh.next_refresh_at = now + timedelta(seconds=delay)
    session.commit()
    log.info("tile %s (%s) %s: %s", fresh.id, fresh.kind, outcome, message)
    _warm(fresh.id)
    return Result(outcome, error=message, next_refresh_at=fresh.next_refresh_at)


def _waiting(session: Session, tile: Tile, delay: float) -> Result:
    """Not its turn under the read cap (hub.provider_access.take_read): come back when it is. Nothing failed, so the
    tile keeps its items, its error (if any) and its version: it is not made stale by waiting."""
    session.rollback()
    fresh = session.get(Tile, tile.id)
    if fresh is None:
        return Result(Outcome.MISSING)
    session.refresh(fresh)
    fresh.next_refresh_at = clock.now() + timedelta(seconds=max(delay, 1.0))
    session.commit()
    return Result(Outcome.WAITING, next_refresh_at=fresh.next_refresh_at)


def _backoff(tile: Tile) -> float:
    """Exponential backoff with jitter: each wait about as long as the outage so far, from the tile's interval
    (never more often than a healthy tile: X bills reads) up to an hour."""
    base = float(tile.refresh_seconds)
    since = aware(tile.error_at)
    outage = (clock.now() - since).total_seconds() if since else 0.0
    delay = min(max(base, outage), max(BACKOFF_CAP_SECONDS, base))
    return delay * random.uniform(0.9, 1.1)


def _warm(tile_id: int) -> None:
    """Best effort: let the serving cache build the new payload now (the API builds it on its first miss)."""
    from hub.tiles import cache

    try:
        cache.warm(tile_id)
    except (redis.RedisError, sqlalchemy.exc.SQLAlchemyError) as exc:
        log.warning("could not warm the cache of tile %s: %s", tile_id, type(exc).__name__)
