"""Reaching a destination: its publisher (from the provider registry), the connection it posts with, its target.

The provider's settings and the connection's tokens (opened, rotated, refreshed) are hub.provider_access's, which
tile readers use too.
"""
from __future__ import annotations

import functools

from flask import Flask, current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import provider_access
from hub.models import Connection
from hub.sharing.rules import Destination
from providers import registry
from providers.base import (  # noqa: F401  (Post, Published: used through this module)
    Post,
    ProviderSettings,
    Published,
    Publisher,
    Target,
)

OVERRIDES = "sharing.publishers"


def use(app: Flask, kind: str, publisher: Publisher) -> None:
    """Publish `kind` through this object instead of the registry's (tests and the demo stand-ins)."""
    app.extensions.setdefault(OVERRIDES, {})[kind] = publisher


def publisher_for(session: Session, kind: str) -> Publisher:
    """The publisher for a destination kind, configured like the provider of that kind (sandbox in the demo)."""
    override = current_app.extensions.get(OVERRIDES, {}).get(kind)
    if override is not None:
        return override
    return registry.publisher(kind, _settings(session, kind))


def _settings(session: Session, kind: str) -> ProviderSettings:
    return provider_access.settings_for(session, kind, _publisher_class(kind))


def _publisher_class(kind: str) -> type[Publisher] | None:
    try:
        return registry.publisher_class(kind)
    except registry.UnknownKind:
        return None


def connection_for(session: Session, destination: Destination, user_id: int | None,
                   org_id: int | None) -> Connection | None:
    """The learner's own connection for their accounts, the organisation's (Slack bot) for channels."""
    query = select(Connection).where(Connection.kind == destination.kind).order_by(Connection.updated_at.desc())
    if destination.on_learner_account:
        if user_id is None:
            return None
        query = query.where(Connection.user_id == user_id)
    else:
        query = query.where(Connection.user_id.is_(None), Connection.org_id == org_id)
    return session.scalars(query).first()


def _url_credentials(destination: Destination) -> Connection | None:
    """A URL destination's own secret (e.g. webhook:<url>'s whsec_ key): an org connection named by that URL."""
    from hub import db

    query = select(Connection).where(Connection.kind == destination.kind, Connection.user_id.is_(None),
                                     Connection.remote_id == destination.address).order_by(Connection.id.desc())
    return db.session().scalars(query).first()


def target_for(destination: Destination, connection: Connection | None) -> Target:
    """Where a publisher posts, with the connection's opened tokens; tokens it rotates are stored back."""
    if connection is None and destination.is_url:
        connection = _url_credentials(destination)
    if connection is None:
        return Target(address=destination.address, tokens={}, account_id=None)
    return Target(address=destination.address, tokens=provider_access.tokens_of(connection),
                  account_id=connection.remote_id,
                  on_rotated=functools.partial(provider_access.keep_rotated, connection))
