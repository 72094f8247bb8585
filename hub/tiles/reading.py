"""Reaching a tile's source: its reader (from the provider registry), the org connection it reads through, tokens.

Mirrors hub.sharing.publishing: readers are configured like the provider they belong to (its stored config in
production, its sandbox in the demo and tests), through hub.provider_access, as publishers are.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any

from flask import Flask, current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import provider_access
from hub.models import Connection, Organisation, Tile
from providers import registry
from providers.base import FeedReader, FeedSource, Permanent, ProviderSettings

OVERRIDES = "tiles.readers"


class NotConnected(Permanent):
    """The tile reads through an organisation connection that does not exist: an admin must connect it."""

    code = "not_connected"


def use(app: Flask, kind: str, reader: FeedReader) -> None:
    """Read tile kind `kind` through this object instead of the registry's (tests and demo stand-ins)."""
    app.extensions.setdefault(OVERRIDES, {})[kind] = reader


def provider_kind(kind: str) -> str:
    """The provider a tile kind belongs to: the part before the colon ("x:search" -> "x"; "rss" -> "rss")."""
    return kind.partition(":")[0]


def settings_for(session: Session, kind: str) -> ProviderSettings:
    """The reader's settings: its provider's (or its sandbox's), plus the hosts the feed fetcher may reach."""
    reader_class = registry.reader_class(kind)
    settings = provider_access.settings_for(session, provider_kind(kind), reader_class)
    allowed = frozenset(current_app.extensions["settings"].feed_allow_hosts)
    return dataclasses.replace(settings, feed_allow_hosts=allowed)


def reader_for(session: Session, kind: str) -> FeedReader:
    """The reader for a tile kind, configured like that provider (sandbox in the demo)."""
    override = current_app.extensions.get(OVERRIDES, {}).get(kind)
    if override is not None:
        return override
    return registry.reader(kind, settings_for(session, kind))


def connection_kind(kind: str) -> str | None:
    """The Connection.kind a tile kind reads through (None: it needs none, e.g. rss)."""
    override = current_app.extensions.get(OVERRIDES, {}).get(kind)
    cls = type(override) if override is not None else registry.reader_class(kind)
    return cls.connection_kind


def connection_for(session: Session, tile: Tile) -> Connection | None:
    """The organisation's own connection (user_id NULL) of the kind the reader names, or None if it needs none.

    Raises NotConnected, naming what to connect for which organisation, when the reader needs one and there is none.
    """
    wanted = connection_kind(tile.kind)
    if wanted is None:
        return None
    found = None
    if tile.org_id is not None:
        found = session.scalars(select(Connection).where(
            Connection.kind == wanted, Connection.user_id.is_(None), Connection.org_id == tile.org_id)
            .order_by(Connection.updated_at.desc(), Connection.id.desc())).first()
    if found is None:
        org = session.get(Organisation, tile.org_id) if tile.org_id is not None else None
        whose = f"organisation {org.name!r}" if org is not None else "the tile's organisation (the tile has none)"
        raise NotConnected(wanted, f"connect {wanted} for {whose}: tile {tile.id} ({tile.kind}) reads through "
                                   f"that organisation's {wanted} connection")
    return found


def source_for(tile: Tile, connection: Connection | None, tokens: dict[str, Any] | None = None) -> FeedSource:
    """What the reader fetches: the tile's address, the connection's opened tokens; rotated tokens are stored back."""
    if connection is None:
        return FeedSource(address=tile.address, tokens={}, max_items=tile.max_items)
    return FeedSource(address=tile.address,
                      tokens=provider_access.tokens_of(connection) if tokens is None else tokens,
                      max_items=tile.max_items, on_rotated=functools.partial(provider_access.keep_rotated, connection))
