"""Storing an LMS event exactly once, with its deliveries, in one transaction (webhooks and xAPI both come here).

The (source, external id) pair is the idempotency key for as long as the row exists: an INSERT ... ON CONFLICT DO
NOTHING makes a replay days later, or two racing deliveries of the same id, store one row. The user is resolved in
the same statement, so a new event costs one round trip before the planner runs. Nothing here touches Redis:
the dispatcher (hub/sharing/dispatch.py) makes the jobs once the rows are committed.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from hub.models import Event, LmsAccount, User
from hub.sharing import planner


@dataclass(frozen=True)
class IncomingEvent:
    """One verified event from a source, normalised; personal data stays in payload and these two keys only."""

    source_id: int
    external_id: str  # webhook-id, or the xAPI statement id (or a dedupe key for id-less statements)
    type: str | None  # an EventType value; None: stored and ignored (an xAPI verb the hub does not share)
    payload: dict[str, Any]  # JSON-ready, canonical: what is stored and what templates see
    occurred_at: datetime | None = None
    email: str | None = None  # resolved against verified hub emails only
    home_page: str | None = None  # with lms_user_id: LmsAccount(home_page, external_id)
    lms_user_id: str | None = None
    content_hash: str | None = None  # default: SHA-256 of the canonical JSON of payload


@dataclass(frozen=True)
class Stored:
    """What happened to one incoming event."""

    event_id: int
    duplicate: bool  # the id was already stored: nothing changed
    same_content: bool  # for a duplicate: its content hash matches the stored one (always True when new)
    user_id: int | None
    delivery_ids: tuple[int, ...] = field(default=())


def content_hash(payload: dict[str, Any]) -> str:
    """SHA-256 of the payload's canonical JSON: key order and spacing do not change it."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def stage(session: Session, incoming: IncomingEvent) -> Stored:
    """Insert the event (or find the stored one) and plan its deliveries, inside the caller's transaction."""
    digest = incoming.content_hash or content_hash(incoming.payload)
    insert = (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)(Event)
    statement = insert.values(
        source_id=incoming.source_id, external_id=incoming.external_id, content_hash=digest, type=incoming.type,
        payload=incoming.payload, occurred_at=incoming.occurred_at, user_id=_user_id(incoming),
    ).on_conflict_do_nothing(index_elements=["source_id", "external_id"]).returning(Event)
    event = session.scalars(statement).one_or_none()
    if event is None:
        existing = session.execute(select(Event.id, Event.content_hash, Event.user_id).where(
            Event.source_id == incoming.source_id, Event.external_id == incoming.external_id)).one()
        return Stored(event_id=existing.id, duplicate=True, same_content=existing.content_hash == digest,
                      user_id=existing.user_id)
    return Stored(event_id=event.id, duplicate=False, same_content=True, user_id=event.user_id,
                  delivery_ids=tuple(planner.plan(session, event)))


def accept(session: Session, events: Sequence[IncomingEvent]) -> list[Stored]:
    """Stage every event and commit once; the 2xx may follow. Redis is not touched: the dispatcher enqueues."""
    try:
        stored = [stage(session, incoming) for incoming in events]
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return stored


def _user_id(incoming: IncomingEvent) -> Any:
    """A scalar subquery: the LMS's own id for the user first, else a verified email; NULL when neither matches."""
    candidates = []
    if incoming.home_page and incoming.lms_user_id:
        candidates.append(select(LmsAccount.user_id).where(
            LmsAccount.home_page == incoming.home_page, LmsAccount.external_id == incoming.lms_user_id,
        ).scalar_subquery())
    if incoming.email:
        candidates.append(select(User.id).where(
            and_(func.lower(User.email) == incoming.email.lower(), User.email_verified.is_(True)),
        ).scalar_subquery())
    if not candidates:
        return None
    return candidates[0] if len(candidates) == 1 else func.coalesce(*candidates)
