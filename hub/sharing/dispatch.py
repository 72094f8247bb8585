"""Stored events become deliveries, and deliveries RQ jobs, in the dispatcher: never in the request that stored them.

The web request's only I/O is one INSERT and its commit (planning and an RQ enqueue each cost more than the rest
of an intake). A dispatcher pass (1) claims unplanned events (`planned_at IS NULL`) and plans their deliveries in
the same transaction, so an event is planned once whoever crashes; (2) claims due pending deliveries that have
no job yet (`enqueued_at IS NULL`, retries included) with one conditional UPDATE, commits, and enqueues them in
one Redis pipeline. Workers run passes in a loop; the reconciler runs one too, and re-enqueues any claimed delivery
whose job was lost (Redis down at the wrong moment, Redis flushed).

An event whose planning raises is handed back and retried with backoff, then failed (hub/sharing/events.py). The
loop survives any failed pass, backs off, and writes a heartbeat after each pass that worked (hub/heartbeats.py).
"""
from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import redis
import sqlalchemy.exc
from flask import Flask, current_app
from rq import Queue
from sqlalchemy import CursorResult, func, or_, select, update
from sqlalchemy.orm import Session

from hub import audit, clock, heartbeats, redis_conn
from hub.models import Delivery, DeliveryStatus, Event
from hub.sharing import digests, events, planner
from hub.sharing.outbox import aware, utcnow
from hub.tenancy import Reach

log = logging.getLogger(__name__)
QUEUE = "default"
JOB = "hub.jobs.deliver"  # by name: hub.jobs imports the sharing package, not the other way round
BATCH = 500
DISPATCHABLE = (DeliveryStatus.PENDING.value, DeliveryStatus.FAILED.value)
INTERVAL = 0.2  # seconds between passes when the last one found nothing
WAKE = "hub:dispatch:wake"  # a Redis list: a worker that hands back a delivery due sooner than INTERVAL pushes here
# Errors that say the database or Redis is unreachable, not that an event cannot be planned.
STORAGE_DOWN = (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError, redis.RedisError)


def job_id(delivery_id: int) -> str:
    return f"delivery-{delivery_id}"


def _queue(connection: redis.Redis | None = None) -> Queue:
    return Queue(QUEUE, connection=connection or redis_conn.get())


def enqueue(delivery_id: int, connection: redis.Redis | None = None) -> None:
    """One job per delivery (job id = "delivery-<id>"); raises redis errors."""
    _queue(connection).enqueue_call(JOB, kwargs={"delivery_id": delivery_id}, job_id=job_id(delivery_id))


def plan_new(session: Session, limit: int = BATCH) -> int:
    """Claim up to `limit` due unplanned events and plan them in one transaction; returns how many were claimed.

    Each event is planned in a savepoint: one whose planning raises is rolled back alone, handed back with the
    error and a backoff (hub/sharing/events.py), and failed after its last retry; the others are planned.
    """
    now = clock.now()
    unplanned = select(Event.id).where(events.due(now)).order_by(Event.id).limit(limit)
    result = cast(CursorResult[Any], session.execute(
        update(Event).where(Event.id.in_(unplanned.scalar_subquery()), events.due(now))
        .values(planned_at=now).returning(Event.id).execution_options(synchronize_session=False)))
    claimed = sorted(result.scalars().all())
    reaches: dict[int, Reach] = {}  # each source's organisations, read once per batch (in its transaction)
    for event_id in claimed:
        event = session.get(Event, event_id)
        if event is None:
            continue
        try:
            with session.begin_nested():
                if event.source_id not in reaches:
                    reaches[event.source_id] = planner.source_reach(session, event.source_id)
                planner.plan(session, event, reach=reaches[event.source_id])
        except STORAGE_DOWN:
            raise  # not this event's fault: the whole batch rolls back (claims included) and the next pass retries
        except Exception as exc:  # noqa: BLE001  (this event's planning failed: recorded on it, retried; others go on)
            _plan_failed(session, event, exc, now)
    session.commit()
    return len(claimed)


def _plan_failed(session: Session, event: Event, error: Exception, now: datetime) -> None:
    """Record a failed planning attempt on the event (retried after its backoff, or failed), log and audit it."""
    schedule = current_app.extensions["settings"].event_plan_retry_seconds
    gave_up = events.record_failure(event, error, now, schedule)
    log.error("event %s could not be planned (attempt %d of %d; %s)", event.id, event.plan_attempts,
              len(schedule) + 1, "failed: hub event replan ID plans it again" if gave_up
              else f"retried at {event.next_plan_at:%H:%M:%S}", exc_info=error)
    audit.record("event.plan_failed", "failure", actor="dispatcher", reason=type(error).__name__,
                 detail={"event_id": event.id, "attempt": event.plan_attempts, "gave_up": gave_up}, commit=False)


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
        .values(enqueued_at=now).returning(Delivery.id, Delivery.next_attempt_at)
        .execution_options(synchronize_session=False)))
    rows = sorted(result.all())
    session.commit()
    claimed = [row.id for row in rows]
    if not claimed:
        return 0
    # A delivery handed back (its rate-limit turn, a retry) has waited its time already: it goes to the front of
    # the queue, earliest first, so a backlog of new deliveries to other destinations does not make it miss its
    # turn; new ones go to the back.
    back = sorted((row for row in rows if row.next_attempt_at is not None), key=lambda row: row.next_attempt_at,
                  reverse=True)
    jobs = [Queue.prepare_data(JOB, kwargs={"delivery_id": row.id}, job_id=job_id(row.id),
                               at_front=row.next_attempt_at is not None)
            for row in back + [row for row in rows if row.next_attempt_at is None]]
    try:
        queue = _queue(connection)
        with queue.connection.pipeline() as pipe:
            queue.enqueue_many(jobs, pipeline=pipe)
            pipe.execute()
    except redis.RedisError as exc:
        log.warning("%d deliveries not enqueued (the next pass will): %s", len(claimed), type(exc).__name__)
        session.execute(update(Delivery).where(Delivery.id.in_(claimed), Delivery.enqueued_at == now)
                        .values(enqueued_at=None).execution_options(synchronize_session=False))
        session.commit()
        return 0
    return len(claimed)


def next_due_in(session: Session, limit: float) -> float:
    """Seconds until the first handed-back delivery (rate limit, retry) is due, at most `limit`."""
    now = utcnow()
    soonest = session.scalar(select(func.min(Delivery.next_attempt_at)).where(
        Delivery.status.in_(DISPATCHABLE), Delivery.enqueued_at.is_(None), Delivery.next_attempt_at > now))
    session.rollback()  # end the read: a SQLite reader left open would pin the WAL
    if soonest is None:
        return limit
    return max(0.0, min(limit, (aware(soonest) - now).total_seconds()))


def wake(connection: redis.Redis) -> None:
    """Tell the sleeping dispatchers that a delivery was handed back due sooner than their next pass."""
    connection.publish(WAKE, b"1")


def run(app: Flask, stop: threading.Event | None = None, interval: float = INTERVAL,
        backoff: heartbeats.Backoff | None = None) -> None:
    """Dispatch until `stop` is set or the parent process (the worker that started us) is gone.

    Between passes it sleeps until the first handed-back delivery is due (at most `interval`), and a worker's
    wake() cuts the sleep short: a rate-limited delivery is enqueued at its time, not up to a pass later, which
    is what keeps a busy channel posting at its limit. A pass that fails, for any reason, is logged and the
    loop goes on after a backoff (step)."""
    parent = os.getppid()
    stop = stop or threading.Event()
    backoff = backoff or heartbeats.Backoff(first=interval, cap=BACKOFF_CAP)
    alarm = _Alarm(app)
    try:
        while not stop.is_set() and os.getppid() == parent:
            pause = step(app, backoff, interval)
            if pause > 0:
                alarm.sleep(stop, pause)
    finally:
        alarm.close()


BACKOFF_CAP = 10.0  # seconds: the longest pause between failing passes, so a recovered database is used soon


def step(app: Flask, backoff: heartbeats.Backoff, interval: float = INTERVAL) -> float:
    """One pass of the loop that survives any error, and the heartbeat after it; returns the seconds to pause.

    The dispatcher must outlive whatever one pass meets: the database or Redis down (nothing was claimed for good;
    the next pass tries again), or a bug (logged with its traceback). Either way it backs off, and a loop whose
    passes keep failing stops beating, which /healthz reports."""
    def one_pass(session: Session) -> float:
        return 0.0 if run_pass(session).full else next_due_in(session, interval)

    return heartbeats.survive_pass(app, heartbeats.Loop.DISPATCHER, backoff, one_pass, log, STORAGE_DOWN)


class _Alarm:
    """A sleep that wake() cuts short: a subscription to WAKE, read with a client-side timeout (precise to the
    millisecond, where a blocking Redis command's timeout is only checked at the server's 10 Hz)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.listener: Any = None

    def sleep(self, stop: threading.Event, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        try:
            if self.listener is None:
                self.listener = redis_conn.get_from(self.app).pubsub(ignore_subscribe_messages=True)
                self.listener.subscribe(WAKE)
            while (left := deadline - time.monotonic()) > 0:
                if self.listener.get_message(timeout=left) is not None:
                    return
        except redis.RedisError:
            self.close()  # subscribe again next time; meanwhile, a plain sleep
            stop.wait(max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        if self.listener is not None:
            with contextlib.suppress(redis.RedisError):  # a broken connection is dropped all the same
                self.listener.close()
            self.listener = None
