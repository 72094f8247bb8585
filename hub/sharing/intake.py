"""Storing an LMS event exactly once, in one statement (webhooks and xAPI both come here).

The (source, external id) pair is the idempotency key for as long as the row exists: an INSERT ... ON CONFLICT DO
NOTHING makes a replay days later, or two racing deliveries of the same id, store one row. The user is resolved in
the same statement, so a new event costs one round trip and a commit. The event row is the durable record: the
dispatcher (hub/sharing/dispatch.py) plans its deliveries from it (`planned_at`) and enqueues them; nothing here
touches Redis or renders a template, which is what lets the intake keep up with an LMS's bursts.
"""
from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Engine, and_, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite

from hub import db
from hub.models import Event, EventType, LmsAccount, Source, User, utcnow


@dataclass(frozen=True)
class IncomingEvent:
    """One verified event from a source, normalised; personal data stays in payload and these two keys only."""

    source_id: int
    external_id: str  # webhook-id, or the xAPI statement id (or a dedupe key for id-less statements)
    type: EventType | None  # None: stored and ignored (an xAPI verb the hub does not share)
    payload: dict[str, Any]  # JSON-ready, canonical: what is stored and what templates see
    occurred_at: datetime | None = None
    email: str | None = None  # resolved against verified hub emails only
    home_page: str | None = None  # with lms_user_id: LmsAccount(home_page, external_id)
    lms_user_id: str | None = None
    content_hash: str | None = None  # default: SHA-256 of the canonical JSON of payload
    # The source's sealed webhook secrets the signature was checked against (a webhook read from a cache): the
    # event is stored only if the source is still enabled with exactly these, in the same statement.
    source_seal: str | None = None


class SourceChanged(Exception):
    """The source was disabled or its secrets changed since the caller read it: nothing was stored."""


@dataclass(frozen=True)
class Stored:
    """What happened to one incoming event."""

    event_id: int
    duplicate: bool  # the id was already stored: nothing changed
    same_content: bool  # for a duplicate: its content hash matches the stored one (always True when new)
    user_id: int | None


def content_hash(payload: dict[str, Any]) -> str:
    """SHA-256 of the payload's canonical JSON: key order and spacing do not change it."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _parameters(incoming: IncomingEvent, digest: str) -> dict[str, Any]:
    now = utcnow()
    return {
        "source_id": incoming.source_id, "external_id": incoming.external_id, "content_hash": digest,
        "type": incoming.type, "payload": incoming.payload, "occurred_at": incoming.occurred_at,
        "home_page": incoming.home_page if incoming.lms_user_id else None, "lms_user_id": incoming.lms_user_id,
        "email": incoming.email.lower() if incoming.email else None, "received_at": now,
        # A planless event (no type: an xAPI statement the hub ignores) is born planned: the dispatcher skips it.
        "planned_at": None if incoming.type else now,
        **({"source_seal": incoming.source_seal} if incoming.source_seal is not None else {}),
    }


def accept(bind: Engine, events: Sequence[IncomingEvent]) -> list[Stored]:
    """Store every event (or find the stored one) and commit once; the 2xx may follow. Redis is not touched: the
    dispatcher plans and enqueues. Everything but the statements is done first, and the statements go through
    db.commit_together (on SQLite: a group commit with other requests, holding the one writer slot briefly); the ORM
    session is not used (its begin and commit cost more than the INSERT)."""
    digests = [incoming.content_hash or content_hash(incoming.payload) for incoming in events]
    parameters = [_parameters(incoming, digest) for incoming, digest in zip(events, digests, strict=True)]
    statements = [_insert_event(bind.dialect.name, incoming.source_seal is not None) for incoming in events]
    stored = db.commit_together(bind, lambda connection: [
        _store(connection, *work) for work in zip(statements, parameters, events, digests, strict=True)])
    for incoming, result in zip(events, stored, strict=True):
        if result is None:  # not stored: the guard stopped it (others stored beside it stand)
            raise SourceChanged(incoming.source_id)
    return cast(list[Stored], stored)


def _store(connection: Connection, statement: Any, parameters: dict[str, Any], incoming: IncomingEvent,
           digest: str) -> Stored | None:
    row = connection.execute(statement, parameters).one_or_none()
    if row is not None:
        return Stored(event_id=row.id, duplicate=False, same_content=True, user_id=row.user_id)
    existing = connection.execute(select(Event.id, Event.content_hash, Event.user_id).where(
        Event.source_id == incoming.source_id, Event.external_id == incoming.external_id)).one_or_none()
    if existing is None:  # not a duplicate: the guard stopped it
        return None
    return Stored(event_id=existing.id, duplicate=True, same_content=existing.content_hash == digest,
                  user_id=existing.user_id)


@functools.cache
def _insert_event(dialect: str, guarded: bool) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING, built once per dialect: constructing it per request cost more
    than running it. The user is the LMS's own id for them first, else a verified email; NULL when neither matches
    (a NULL parameter matches nothing). Guarded, it is an INSERT ... SELECT that inserts only while the source is
    enabled with the given sealed secrets: the webhook's one round trip checks the source and stores the event."""
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Event)
    by_account = select(LmsAccount.user_id).where(
        LmsAccount.home_page == bindparam("home_page"), LmsAccount.external_id == bindparam("lms_user_id"),
    ).scalar_subquery()
    by_email = select(User.id).where(
        and_(func.lower(User.email) == bindparam("email"), User.email_verified.is_(True)),
    ).limit(1).scalar_subquery()
    columns = ("source_id", "external_id", "content_hash", "type", "payload", "occurred_at", "received_at",
               "planned_at")
    values: dict[str, Any] = {name: bindparam(name, type_=Event.__table__.c[name].type) for name in columns}
    values["user_id"] = func.coalesce(by_account, by_email)
    if guarded:
        still = select(Source.id).where(Source.id == bindparam("source_id"), Source.enabled.is_(True),
                                        Source.webhook_secrets_sealed == bindparam("source_seal")).exists()
        statement = insert.from_select(list(values), select(*(v.label(k) for k, v in values.items())).where(still))
    else:
        statement = insert.values(values)
    return statement.on_conflict_do_nothing(index_elements=["source_id", "external_id"]).returning(
        Event.id, Event.user_id)
