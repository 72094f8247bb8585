"""Stored events become deliveries, and deliveries RQ jobs, in the dispatcher: never in the request that stored them.

The web request's only I/O is one INSERT and its commit (planning and an RQ enqueue each cost more than the rest
of an intake). A dispatcher pass (1) claims unplanned events (`planned_at IS NULL`) and plans their deliveries in
the same transaction, so an event is planned once whoever crashes; (2) claims due pending deliveries that have
no job yet (`enqueued_at IS NULL`, retries included) with one conditional UPDATE, commits, and enqueues them in
one Redis pipeline. Workers run passes in a loop; the reconciler runs one too, and re-enqueues any claimed delivery whose
job was lost (Redis down at the wrong moment, Redis flushed).
"""
from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import redis
import sqlalchemy.exc
from flask import Flask
from rq import Queue
from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.orm import Session

from hub import audit, redis_conn
from hub.models import Delivery, DeliveryStatus, Event
from hub.sharing import digests, planner
from hub.sharing.outbox import utcnow

log = logging.getLogger(__name__)
QUEUE = "default"
JOB = "hub.jobs.deliver"  # by name: hub.jobs imports the sharing package, not the other way round
BATCH = 500
DISPATCHABLE = (DeliveryStatus.PENDING.value, DeliveryStatus.FAILED.value)
INTERVAL = 0.2  # seconds between passes when the last one found nothing


def job_id(delivery_id: int) -> str:
    return f"delivery-{delivery_id}"


def _queue(connection: redis.Redis | None = None) -> Queue:
    return Queue(QUEUE, connection=connection or redis_conn.get())


def enqueue(delivery_id: int, connection: redis.Redis | None = None) -> None:
    """One job per delivery (job id = "delivery-<id>"); raises redis errors."""
    _queue(connection).enqueue_call(JOB, kwargs={"delivery_id": delivery_id}, job_id=job_id(delivery_id))


def plan_new(session: Session, limit: int = BATCH) -> int:
    """Claim up to `limit` unplanned events and plan them in one transaction; returns how many were claimed."""
    now = utcnow()
    unplanned = select(Event.id).where(Event.planned_at.is_(None)).order_by(Event.id).limit(limit)
    result = cast(CursorResult[Any], session.execute(
        update(Event).where(Event.id.in_(unplanned.scalar_subquery()), Event.planned_at.is_(None))
        .values(planned_at=now).returning(Event.id).execution_options(synchronize_session=False)))
    claimed = sorted(result.scalars().all())
    for event_id in claimed:
        event = session.get(Event, event_id)
        if event is None:
            continue
        try:
            with session.begin_nested():
                planner.plan(session, event)
        except Exception as exc:  # a planner bug must not stop every later event: record it and go on
            log.exception("event %s could not be planned", event_id)
            audit.record("event.plan_failed", "failure", actor="dispatcher", reason=type(exc).__name__,
                         detail={"event_id": event_id}, commit=False)
    session.commit()
    return len(claimed)


@dataclass(frozen=True)
class Pass:
    planned: int  # events claimed and planned
    enqueued: int  # jobs made

    @property
    def full(self) -> bool:
        """A batch was full: more is waiting, so the loop goes again at once."""
        return max(self.planned, self.enqueued) >= BATCH


def run_pass(session: Session, connection: redis.Redis | None = None) -> Pass:
    """Plan what is new, fold the digests that are due, then enqueue what is due."""
    planned = plan_new(session)
    digests.fold_due(session)
    return Pass(planned=planned, enqueued=dispatch(session, connection=connection))


def dispatch(session: Session, ids: Sequence[int] | None = None, limit: int = BATCH,
             connection: redis.Redis | None = None) -> int:
    """Claim up to `limit` due pending/failed deliveries with no job (or just `ids`), commit, enqueue; returns how many.

    Retries come this way too: a postponed or failed attempt hands its row back (`enqueued_at` NULL) with its
    `next_attempt_at`, and the first pass after that moment enqueues it. No job is scheduled ahead in RQ, whose
    scheduler rounds to whole seconds and ticks once a second.

    If Redis fails the claim is undone, so the next pass (or the reconciler) tries again; nothing is lost.
    """
    now = utcnow()
    due = select(Delivery.id).where(
        Delivery.status.in_(DISPATCHABLE), Delivery.enqueued_at.is_(None),
        or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now))
    if ids is not None:
        if not ids:
            return 0
        due = due.where(Delivery.id.in_(list(ids)))
    due = due.order_by(Delivery.id).limit(limit)
    result = cast(CursorResult[Any], session.execute(
        update(Delivery).where(Delivery.id.in_(due.scalar_subquery()), Delivery.enqueued_at.is_(None))
        .values(enqueued_at=now).returning(Delivery.id).execution_options(synchronize_session=False)))
    claimed = sorted(result.scalars().all())
    session.commit()
    if not claimed:
        return 0
    try:
        queue = _queue(connection)
        with queue.connection.pipeline() as pipe:
            queue.enqueue_many([Queue.prepare_data(JOB, kwargs={"delivery_id": d}, job_id=job_id(d))
                                for d in claimed], pipeline=pipe)
            pipe.execute()
    except redis.RedisError as exc:
        log.warning("%d deliveries not enqueued (the next pass will): %s", len(claimed), type(exc).__name__)
        session.execute(update(Delivery).where(Delivery.id.in_(claimed), Delivery.enqueued_at == now)
                        .values(enqueued_at=None).execution_options(synchronize_session=False))
        session.commit()
        return 0
    return len(claimed)


def run(app: Flask, stop: threading.Event | None = None, interval: float = INTERVAL) -> None:
    """Dispatch until `stop` is set or the parent process (the worker that started us) is gone."""
    from hub import db

    parent = os.getppid()
    stop = stop or threading.Event()
    while not stop.is_set() and os.getppid() == parent:
        with app.app_context():
            session = db.session()
            try:
                full = run_pass(session).full
            except (redis.RedisError, sqlalchemy.exc.SQLAlchemyError) as exc:
                # The database or Redis is down: nothing was claimed for good; the next pass tries again.
                session.rollback()
                log.warning("dispatcher pass failed: %s", type(exc).__name__)
                full = False
        if not full:
            stop.wait(interval)
