"""Hand checked statements to the hub's intake: each stored once per (source, statement id), mapped or not."""
from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from hub.models import Event, Source
from hub.sharing import intake
from webhooks.xapi.mapping import map_statement
from webhooks.xapi.statements import Statement


def store(session: Session, source: Source, statements: Sequence[Statement]) -> str | None:
    """Store the new statements in one transaction; a statement id already stored with other content
    is returned (the caller answers 409) and then nothing is stored."""
    conflict = _conflict(session, source, statements)
    if conflict is not None:
        session.rollback()
        return conflict
    engine = session.get_bind()
    assert isinstance(engine, Engine), "the hub's sessions are bound to its engine"
    results = intake.accept(engine, [_incoming(source, s) for s in statements])  # its own connection
    # A racing request may have stored an id between the check and the insert: still say so.
    for statement, result in zip(statements, results, strict=True):
        if result.duplicate and not result.same_content and not statement.derived_id:
            return statement.id
    return None


def _incoming(source: Source, statement: Statement) -> intake.IncomingEvent:
    mapped = map_statement(statement.body)
    return intake.IncomingEvent(
        source_id=source.id, external_id=statement.id, type=mapped.type,
        payload=mapped.payload(statement.body), occurred_at=mapped.occurred_at, email=mapped.learner.email,
        home_page=mapped.learner.home_page, lms_user_id=mapped.learner.account_name,
        content_hash=statement.content_hash)


def _conflict(session: Session, source: Source, statements: Sequence[Statement]) -> str | None:
    """The first sender-chosen id stored (or sent earlier in this batch) with different content.

    Ids this endpoint derived (Moodle sends none) never conflict: they name the event by actor, verb,
    object and timestamp, so a resend with, say, a renamed course is the same event, not a 409.
    """
    seen: dict[str, str] = {}
    wanted = [s.id for s in statements if not s.derived_id]
    if wanted:
        seen.update(session.execute(select(Event.external_id, Event.content_hash).where(
            Event.source_id == source.id, Event.external_id.in_(wanted))).tuples().all())
    for statement in statements:
        known = seen.setdefault(statement.id, statement.content_hash)
        if known != statement.content_hash and not statement.derived_id:
            return statement.id
    return None
