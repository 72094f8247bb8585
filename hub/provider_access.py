"""Reaching a provider with the hub's credentials: its settings, and a connection's tokens (opened, refreshed, stored).

Shared by publishers (hub.sharing.publishing) and tile readers (hub.tiles.reading): both are configured like the
provider they belong to, and both read through a Connection whose tokens are sealed to its row and may be rotated
or refreshed while they are used.
"""
from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping
from typing import Any, cast

import redis
from flask import current_app
from redis.exceptions import LockError
from redis.lock import Lock
from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session, object_session

from hub import clock, redis_conn
from hub.models import Connection, ProviderConfig
from hub.provider_store import ProviderCache
from hub.sharing import limits
from providers import registry
from providers.base import Permanent, ProviderClient, ProviderSettings, RateLimited, Transient

log = logging.getLogger(__name__)


def settings_for(session: Session, kind: str, declared_by: type[ProviderClient] | None) -> ProviderSettings:
    """How the hub reaches provider `kind`: its configured provider, one it borrows, or its sandbox in the demo.

    `declared_by` is the publisher or tile reader class, whose `credentials_from` / `api_under_auth_base` name
    the provider it borrows credentials from (Yammer uses the Microsoft app). Shared by publishers and readers.
    """
    settings = current_app.extensions["settings"]
    row = _config(session, kind)
    if row is not None:
        return ProviderCache.settings_for(row)
    borrowed = _borrowed_settings(session, kind, declared_by)
    if borrowed is not None:
        return borrowed
    overrides: dict[str, str] = {}
    if settings.sandboxes:
        try:
            overrides = registry.provider_class(kind).sandbox_overrides(f"{settings.base_url}/sandbox/{kind}")
        except registry.UnknownKind:
            overrides = {"api_base": f"{settings.base_url}/sandbox/{kind}"}
    return ProviderSettings(name=kind, client_id="", client_secret="", insecure_loopback=settings.insecure_loopback,
                            ca_bundle=settings.ca_bundle, api_base=overrides.get("api_base"),
                            auth_base=overrides.get("auth_base"), issuer=overrides.get("issuer"),
                            provider_allow_hosts=settings.provider_allow_hosts)


def _config(session: Session, kind: str) -> ProviderConfig | None:
    return session.scalar(select(ProviderConfig).where(ProviderConfig.kind == kind, ProviderConfig.enabled.is_(True))
                          .order_by(ProviderConfig.id))


def _borrowed_settings(session: Session, kind: str,
                       declared_by: type[ProviderClient] | None) -> ProviderSettings | None:
    """A publisher or reader without a provider of its own (Yammer) uses the one it declares (`credentials_from`)."""
    lender = declared_by.credentials_from if declared_by else None
    row = _config(session, lender) if lender else None
    if row is None or declared_by is None:
        return None
    settings = ProviderCache.settings_for(row)
    under = declared_by.api_under_auth_base
    api_base = f"{settings.auth_base.rstrip('/')}{under}" if under and settings.auth_base else None
    return dataclasses.replace(settings, name=kind, api_base=api_base)


def tokens_of(connection: Connection) -> dict[str, Any]:
    """The connection's tokens, opened with the vault under its row's seal context (a copied ciphertext fails)."""
    vault = current_app.extensions["vault"]
    return json.loads(vault.open(connection.tokens_sealed, connection.seal_context))


def keep_rotated(connection: Connection, used: Mapping[str, Any], fresh: Mapping[str, Any]) -> bool:
    """Store tokens the provider replaced while a publisher used them, unless the stored ones changed meanwhile.

    Compare-and-swap on the sealed value: of two workers that redeemed the same tokens, the first stores its
    replacement and the second keeps that one (its own stays valid at the provider until it ages out), so an
    older token never overwrites a newer one. Commits at once, before the post, so a failed post keeps it too.
    """
    session = object_session(connection)
    assert session is not None, "a connection from the job's session"
    session.refresh(connection)
    seen = connection.tokens_sealed
    if tokens_of(connection) != dict(used):
        return False  # another worker (or a refresh) already stored newer tokens
    return _swap(session, connection, seen, dict(fresh))


def _swap(session: Session, connection: Connection, seen: str, fresh: dict[str, Any]) -> bool:
    """Seal and store `fresh` if the row still holds `seen`; commits. True if this call won."""
    sealed = current_app.extensions["vault"].seal(json.dumps(fresh), connection.seal_context)
    result = cast(CursorResult[Any], session.execute(
        update(Connection).where(Connection.id == connection.id, Connection.tokens_sealed == seen)
        .values(tokens_sealed=sealed).execution_options(synchronize_session=False)))
    session.commit()
    session.refresh(connection)
    return result.rowcount == 1


class ReadTurn(RateLimited):
    """A read the hub held back itself under a provider's read cap: not a failure (nothing was refused), the caller
    comes back at `retry_after`."""

    code = "read_turn"


def take_read(client: ProviderClient, connection: Connection | None) -> None:
    """Before a tile fetch or a post look-up: wait a turn under the provider's read cap (Slack's non-Marketplace
    apps: one conversations.history call a minute per workspace), shared by every tile and look-up of the connection's
    account, or raise ReadTurn (a RateLimited) with the seconds left, which the caller reschedules by. Timed by the
    hub's clock; never sleeps. A client without a cap, or a read without a connection, passes."""
    cap = client.read_limit()
    if cap is None or connection is None:
        return
    key = f"hub:reads:{client.settings.name}:{connection.kind}:{connection.remote_id}"
    try:
        wait = limits.spaced(redis_conn.get(), key, cap.per_seconds / cap.calls, clock.now().timestamp())
    except redis.RedisError as exc:  # without the count the call could pass the cap: come back later
        raise Transient(client.name, f"cannot count {client.name} reads: {type(exc).__name__}") from exc
    if wait > 0:
        raise ReadTurn(client.name, f"{cap.reason}: the next is due in {wait:.0f} s", retry_after=wait)


REFRESH_LOCK_SECONDS = 60  # outlives one token request (DEFAULT_TIMEOUT) with room; frees a crashed holder's lock
REFRESH_WAIT_SECONDS = 5.0  # a racing worker waits this long for the holder's new tokens, then retries later


def refresh(session: Session, connection: Connection, client: ProviderClient) -> dict[str, Any]:
    """Refresh a connection's tokens once: one refresh per connection at a time, and racing workers use its result.

    The tokens the failed publish used are the connection's sealed value as this job read it. Under a short Redis
    lock per connection the row is read again: if another worker stored newer tokens meanwhile they are used as
    they are (a rotating provider such as X would refuse the old refresh token a second time); otherwise the
    publisher (or tile reader) redeems the refresh token and the answer is stored with a compare-and-swap before the
    lock is released. A lock held too long (another worker's refresh is slow) raises Transient: the delivery
    retries later, nothing sleeps. Raises Permanent when the provider cannot refresh (ProviderClient.refresh's
    default: connect the account again).
    """
    seen = connection.tokens_sealed
    lock = redis_conn.get().lock(f"hub:refresh:connection:{connection.id}", timeout=REFRESH_LOCK_SECONDS,
                                 blocking_timeout=REFRESH_WAIT_SECONDS)
    try:
        acquired = lock.acquire()
    except redis.RedisError as exc:
        raise Transient(connection.kind, f"cannot take the token refresh lock: {type(exc).__name__}") from exc
    if not acquired:
        raise Transient(connection.kind, f"another worker is still refreshing this {connection.kind} token")
    try:
        session.commit()  # end the job's read transaction, so the re-read sees what other workers committed
        session.refresh(connection)
        if connection.tokens_sealed != seen:
            return tokens_of(connection)  # another worker refreshed while we were failing
        try:
            fresh = client.refresh(tokens_of(connection))
        except Permanent:
            session.commit()
            session.refresh(connection)
            if connection.tokens_sealed != seen:  # refused because a worker past an expired lock rotated it
                return tokens_of(connection)
            raise
        return fresh if _swap(session, connection, seen, fresh) else tokens_of(connection)
    finally:
        _release(lock, connection)


def _release(lock: Lock, connection: Connection) -> None:
    try:
        lock.release()
    except LockError:  # held past its timeout: the new tokens are stored by compare-and-swap all the same
        log.warning("the token refresh lock of connection %s expired before its refresh finished", connection.id)
    except redis.RedisError as exc:  # it expires on its own
        log.warning("could not release the token refresh lock of connection %s: %s", connection.id,
                    type(exc).__name__)
