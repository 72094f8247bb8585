"""Models for homepage tiles: what a tile reads, who sees it, and the last good items it fetched.

Imported by hub.models so Alembic sees them; the behaviour lives in hub/tiles/.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.models import Base, utcnow


class Tile(Base):
    """A feed shown on LMS homepages; `version` changes with what the tile serves, so the API's ETag follows it."""

    __tablename__ = "tiles"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # a providers.registry.READERS key: "rss", "x:search", ...
    title: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(2000))  # query, feed URL, channel, group id or site
    # The organisation whose connection the tile reads through (None: a reader that needs none).
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), default=None)
    refresh_seconds: Mapped[int] = mapped_column(Integer, default=300)
    max_items: Mapped[int] = mapped_column(Integer, default=10)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    cursor: Mapped[str | None] = mapped_column(Text, default=None)  # opaque, from the reader
    # Bumped in the same transaction as any change to the stored items or to the stale flag/error.
    version: Mapped[int] = mapped_column(Integer, default=0)
    fetched_at: Mapped[datetime | None] = mapped_column(default=None)  # last successful fetch
    next_refresh_at: Mapped[datetime | None] = mapped_column(default=None, index=True)  # NULL: due now
    last_error: Mapped[str | None] = mapped_column(Text, default=None)  # set: the tile is stale
    error_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def stale(self) -> bool:
        """The last fetch failed: the items shown are the last good ones."""
        return self.last_error is not None


class TileAudience(Base):
    """An organisation whose users see a tile; a tile with no rows is for all users."""

    __tablename__ = "tile_audiences"
    tile_id: Mapped[int] = mapped_column(ForeignKey("tiles.id", ondelete="CASCADE"), primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True)


class TileItem(Base):
    """One stored item of a tile, already sanitized (hub.tiles.sanitize) before it was written."""

    __tablename__ = "tile_items"
    __table_args__ = (
        UniqueConstraint("tile_id", "remote_id"),
        Index("ix_tile_items_tile_id_published_at", "tile_id", "published_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    tile_id: Mapped[int] = mapped_column(ForeignKey("tiles.id", ondelete="CASCADE"))
    remote_id: Mapped[str] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(String(300), default=None)  # plain; feed entries and news pages
    text: Mapped[str] = mapped_column(Text)  # plain
    html: Mapped[str | None] = mapped_column(Text, default=None)  # sanitized
    author: Mapped[str | None] = mapped_column(String(200), default=None)
    avatar_url: Mapped[str | None] = mapped_column(String(2000), default=None)  # http(s) only
    link: Mapped[str | None] = mapped_column(String(2000), default=None)  # http(s) only
    published_at: Mapped[datetime | None] = mapped_column(default=None)
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow)
