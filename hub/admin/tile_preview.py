"""A tile's dry run for the admin editor: fetch through the kind's reader and sanitize, exactly as a refresh does,
but store no item and touch no tile.

It reuses the refresh step's own pieces (hub.tiles.refresh: the fetch with its one token refresh, and the item
conversion through hub.tiles.sanitize), so what the preview shows is what the tile would serve. The only thing a
preview may store is a token the provider rotated while it was used (the stored one is then dead at the provider).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from hub.models import Tile
from hub.tiles import cache, reading, refresh, store
from providers.base import ProviderError


@dataclass(frozen=True)
class Preview:
    """What the tile would show: sanitized items as refresh stores them, or the reason it cannot show any."""

    title: str
    items: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    def as_payload(self) -> dict[str, Any]:
        """The shape the serving fragment template (tiles/fragment.html) renders; avatars are dropped, never
        hot-linked (the serving side proxies them once a refresh has fetched them)."""
        return {"title": self.title, "stale": False, "items": [{
            "id": item["remote_id"], "author": item["author"], "avatar": None, "text": item["text"],
            "html": item["html"], "link": item["link"], "published": cache.iso(item["published_at"]),
        } for item in self.items]}


def preview(session: Session, kind: str, address: str, org_id: int | None, max_items: int,
            title: str = "") -> Preview:
    """Fetch what a tile of this kind and address would show now; raises store.InvalidTile for bad input."""
    kind = (kind or "").strip().lower()
    store.reader_class(kind)
    normalised = store.check_address(kind, address)
    low, high = store.MAX_ITEMS_RANGE
    if not low <= max_items <= high:
        raise store.InvalidTile("max_items", f"--max-items must be between {low} and {high}, not {max_items}")
    # Never added to the session: the reading helpers only need its kind, address, org and size.
    draft = Tile(kind=kind, title=title or kind, address=normalised, org_id=org_id, max_items=max_items, cursor=None)
    try:
        reader = reading.reader_for(session, kind)
        connection = reading.connection_for(session, draft)
        session.commit()  # as a refresh: no transaction stays open while the provider answers
        page = refresh.fetch_page(session, draft, reader, connection)
    except ProviderError as exc:
        session.rollback()
        return Preview(draft.title, error=exc.message or type(exc).__name__)
    items = [refresh.clean_item(item) for item in page.items]
    items.sort(key=lambda item: _moment(item["published_at"]), reverse=True)
    return Preview(draft.title, items=items[:max_items])


def _moment(value: Any) -> datetime:
    if not isinstance(value, datetime):
        return datetime.min.replace(tzinfo=UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
