"""The outbox state machine: every change is one conditional UPDATE, so racing workers cannot both send.

pending/failed --claim--> sending(attempt_id, lease_until) --finish--> sent | failed | dead | skipped | unknown
A finish only applies while the row still holds the same attempt_id.
"""
from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Update, or_, update
from sqlalchemy.orm import Session

from hub import clock
from hub.models import Delivery, DeliveryStatus, aware  # noqa: F401  (aware: used through this module)

S = DeliveryStatus
RETRYABLE = (S.DEAD, S.UNKNOWN, S.FAILED)


@dataclass(frozen=True)
class Policy:
    """Leases and retries; the defaults suit production, tests pass their own."""

    lease_seconds: float = 120.0  # longer than any provider call (15 s read timeout) plus the bookkeeping
    max_attempts: int = 6
    backoff_base: float = 30.0
    backoff_cap: float = 3600.0


@dataclass(frozen=True)
class Claimed:
    """A delivery leased to one attempt: the row as the claim left it, and the attempt id that holds it."""

    row: Delivery
    attempt: str


def apply(session: Session, statement: Update) -> bool:
    """Run one conditional UPDATE and commit; True if it changed the row (this attempt won)."""
    result = cast(CursorResult[Any], session.execute(statement.execution_options(synchronize_session=False)))
    session.commit()
    return result.rowcount == 1


def utcnow() -> datetime:
    """The app's clock (hub.clock): deliveries fall due, leases lapse and retries come back by it, so tests move it."""
    return clock.now()


def backoff(attempts: int, policy: Policy, rng: random.Random | None = None) -> timedelta:
    """Exponential backoff with jitter (half to full of the step) so a storm does not retry in lockstep."""
    step = min(policy.backoff_cap, policy.backoff_base * 2 ** max(0, attempts - 1))
    return timedelta(seconds=step * (rng or random).uniform(0.5, 1.0))


def claim(session: Session, delivery_id: int, policy: Policy, now: datetime | None = None) -> Claimed | None:
    """Lease a due pending/failed delivery to one attempt and commit; None if someone else has it, it is not due,
    or it is done. The UPDATE returns the leased row, so the job reads the delivery in the statement that claims it."""
    now = now or utcnow()
    attempt = uuid.uuid4().hex
    statement = (
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status.in_([S.PENDING, S.FAILED]),
               or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now))
        .values(status=S.SENDING, attempt_id=attempt, lease_until=now + timedelta(seconds=policy.lease_seconds),
                attempts=Delivery.attempts + 1, updated_at=now)
        .returning(Delivery)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    row = session.execute(statement).scalars().one_or_none()
    session.commit()
    return None if row is None else Claimed(row, attempt)


def take_over(session: Session, delivery_id: int, policy: Policy, now: datetime | None = None) -> str | None:
    """Lease a delivery whose sending lease expired (a crashed attempt) to a recovery attempt; commits."""
    now = now or utcnow()
    attempt = uuid.uuid4().hex
    won = apply(session, (
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status == S.SENDING, Delivery.lease_until < now)
        .values(attempt_id=attempt, lease_until=now + timedelta(seconds=policy.lease_seconds), updated_at=now)
    ))
    return attempt if won else None


def finish(session: Session, delivery_id: int, attempt_id: str, status: S, **values: Any) -> bool:
    """Move a leased delivery on, only if this attempt still holds it; commits."""
    values = {"status": status, "lease_until": None, "updated_at": utcnow(), **values}
    won = apply(session, (
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.attempt_id == attempt_id, Delivery.status == S.SENDING)
        .values(**values)
    ))
    return won


def sent(session: Session, delivery_id: int, attempt_id: str, remote_id: str | None, remote_url: str | None) -> bool:
    return finish(session, delivery_id, attempt_id, S.SENT, remote_id=remote_id, remote_url=remote_url,
                  last_error=None, next_attempt_at=None)


def postpone(session: Session, delivery_id: int, attempt_id: str, until: datetime, reason: str) -> bool:
    """Back to pending until `until` (rate limit): not a failed attempt, so it does not count.

    The row goes back to the dispatcher (`enqueued_at` NULL), which enqueues it once `until` has passed."""
    return finish(session, delivery_id, attempt_id, S.PENDING, next_attempt_at=until, last_error=reason,
                  attempts=Delivery.attempts - 1, enqueued_at=None)


def note_cost(session: Session, delivery_id: int, attempt_id: str, cost_micros: int) -> bool:
    """Record what the post about to go out costs (hub/sharing/budgets.py), while this attempt holds it; commits."""
    return apply(session, update(Delivery).where(Delivery.id == delivery_id, Delivery.attempt_id == attempt_id,
                                                 Delivery.status == S.SENDING).values(cost_micros=cost_micros))


def failed(session: Session, delivery_id: int, attempt_id: str, attempts: int, reason: str, policy: Policy,
           now: datetime | None = None) -> datetime | None:
    """A transient failure: retry after a backoff, or dead after the last attempt. Returns the retry time."""
    if attempts >= policy.max_attempts:
        finish(session, delivery_id, attempt_id, S.DEAD, next_attempt_at=None,
               last_error=f"gave up after {attempts} attempts: {reason}")
        return None
    when = (now or utcnow()) + backoff(attempts, policy)
    won = finish(session, delivery_id, attempt_id, S.FAILED, next_attempt_at=when, last_error=reason,
                 enqueued_at=None)  # the dispatcher enqueues the retry when it is due
    return when if won else None


def dead(session: Session, delivery_id: int, attempt_id: str, reason: str) -> bool:
    return finish(session, delivery_id, attempt_id, S.DEAD, next_attempt_at=None, last_error=reason)


def skipped(session: Session, delivery_id: int, attempt_id: str, reason: str) -> bool:
    return finish(session, delivery_id, attempt_id, S.SKIPPED, next_attempt_at=None, last_error=reason)


def unknown(session: Session, delivery_id: int, attempt_id: str, reason: str) -> bool:
    return finish(session, delivery_id, attempt_id, S.UNKNOWN, next_attempt_at=None, last_error=reason)


def release(session: Session, delivery_id: int, attempt_id: str, until: datetime, reason: str) -> bool:
    """Keep a recovering delivery in `sending` but let its lease lapse at `until` so recovery runs again."""
    values = {"lease_until": until, "last_error": reason, "updated_at": utcnow()}
    return apply(session, update(Delivery).where(Delivery.id == delivery_id, Delivery.attempt_id == attempt_id,
                                                 Delivery.status == S.SENDING).values(**values))


def retry(session: Session, delivery_id: int) -> Delivery:
    """An admin's retry: dead/unknown/failed -> pending with fresh attempts, due now; the caller enqueues."""
    from hub.errors import HubError

    row = session.get(Delivery, delivery_id)
    if row is None:
        raise HubError(f"no delivery with id {delivery_id}")
    if row.status not in RETRYABLE:
        raise HubError(f"delivery {delivery_id} is {row.status}; only {', '.join(RETRYABLE)} can be retried")
    row.status, row.attempts, row.next_attempt_at, row.attempt_id, row.lease_until, row.enqueued_at = \
        S.PENDING, 0, None, None, None, None
    return row
