"""Where a stored event is in its planning: pending, planned, or failed after its retries; listed and replanned.

The dispatcher plans events (hub/sharing/dispatch.py). Planning that raises is never left looking planned: the
event is handed back with the attempt counted and the error kept, tried again after HUB_EVENT_PLAN_RETRY_SECONDS,
and after the last retry it is failed until an admin replans it (`hub event replan ID`).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from hub.errors import HubError
from hub.models import Event, Source, aware

ERROR_LIMIT = 500  # characters of a planning error kept on the event


class PlanStatus(StrEnum):
    PENDING = "pending"  # not planned yet: due now, or at next_plan_at after a failed attempt
    PLANNED = "planned"  # its deliveries exist (planned_at)
    FAILED = "failed"  # every attempt raised (plan_failed_at); replanned only by an admin


def due(now: datetime) -> ColumnElement[bool]:
    """The dispatcher's work list: unplanned, not given up on, and past any backoff."""
    return and_(Event.planned_at.is_(None), Event.plan_failed_at.is_(None),
                or_(Event.next_plan_at.is_(None), Event.next_plan_at <= now))


def status_of(event: Event) -> PlanStatus:
    if event.planned_at is not None:
        return PlanStatus.PLANNED
    return PlanStatus.FAILED if event.plan_failed_at is not None else PlanStatus.PENDING


def _where(status: PlanStatus) -> ColumnElement[bool]:
    if status is PlanStatus.PLANNED:
        return Event.planned_at.is_not(None)
    if status is PlanStatus.FAILED:
        return and_(Event.planned_at.is_(None), Event.plan_failed_at.is_not(None))
    return and_(Event.planned_at.is_(None), Event.plan_failed_at.is_(None))


def record_failure(event: Event, error: BaseException, now: datetime, retry_seconds: tuple[int, ...]) -> bool:
    """Hand an event whose planning raised back to the dispatcher, or give up after the last retry; True if given up.

    The caller has rolled back the attempt's own writes (a savepoint) and commits this with the rest of its batch.
    """
    attempts = (event.plan_attempts or 0) + 1
    gave_up = attempts > len(retry_seconds)
    event.planned_at = None  # the batch's claim set it: nothing was planned
    event.plan_attempts = attempts
    event.plan_error = f"{type(error).__name__}: {error}"[:ERROR_LIMIT]
    event.next_plan_at = None if gave_up else now + timedelta(seconds=retry_seconds[attempts - 1])
    event.plan_failed_at = now if gave_up else None
    return gave_up


def listing(session: Session, status: PlanStatus | None, limit: int) -> list[dict[str, Any]]:
    """Events newest first with their planning state (never their payload: it names the learner)."""
    query = (select(Event, Source.name).join(Source, Source.id == Event.source_id, isouter=True)
             .order_by(Event.id.desc()).limit(limit))
    if status is not None:
        query = query.where(_where(status))
    return [_row(event, source) for event, source in session.execute(query)]


def _row(event: Event, source: str | None) -> dict[str, Any]:
    def when(moment: datetime | None) -> str | None:
        return aware(moment).isoformat() if moment is not None else None

    return {"id": event.id, "source": source, "external_id": event.external_id, "type": event.type,
            "user": event.user_id, "status": status_of(event), "received_at": when(event.received_at),
            "planned_at": when(event.planned_at), "plan_attempts": event.plan_attempts,
            "next_plan_at": when(event.next_plan_at), "plan_failed_at": when(event.plan_failed_at),
            "plan_error": event.plan_error}


def replan(session: Session, event_id: int) -> Event:
    """An admin's replan: a failed (or waiting) event becomes due now with fresh attempts; the dispatcher plans it."""
    event = session.get(Event, event_id)
    if event is None:
        raise HubError(f"no event with id {event_id} (hub event list shows them)")
    if event.planned_at is not None:
        raise HubError(f"event {event_id} is already planned; its deliveries are in hub delivery list "
                       "(hub delivery retry ID sends one again)")
    event.plan_attempts, event.next_plan_at, event.plan_failed_at = 0, None, None
    return event
