"""Deliveries become RQ jobs after their rows are committed; if Redis is down the reconciler enqueues later."""
from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

import redis
from rq import Queue

from hub import redis_conn

log = logging.getLogger(__name__)
QUEUE = "default"
JOB = "hub.jobs.deliver"  # by name: hub.jobs imports the sharing package, not the other way round


def job_id(delivery_id: int) -> str:
    return f"delivery-{delivery_id}"


def _queue(connection: redis.Redis | None = None) -> Queue:
    return Queue(QUEUE, connection=connection or redis_conn.get())


def enqueue(delivery_id: int, at: datetime | None = None, connection: redis.Redis | None = None) -> None:
    """One job per delivery (job id = "delivery-<id>"), now or at `at`; raises redis errors."""
    queue = _queue(connection)
    if at is None:
        queue.enqueue_call(JOB, kwargs={"delivery_id": delivery_id}, job_id=job_id(delivery_id))
    else:
        queue.enqueue_at(at, JOB, delivery_id=delivery_id, job_id=job_id(delivery_id))


def after_commit(delivery_ids: Iterable[int]) -> int:
    """Enqueue freshly committed deliveries; Redis being down loses nothing (the rows wait for the reconciler)."""
    count = 0
    for delivery_id in delivery_ids:
        try:
            enqueue(delivery_id)
        except redis.RedisError as exc:
            log.warning("delivery %s not enqueued (the reconciler will): %s", delivery_id, type(exc).__name__)
            return count
        count += 1
    return count


def later(delivery_id: int, at: datetime) -> None:
    """Schedule a retry; if Redis is down the row's next_attempt_at still says when, for the reconciler."""
    try:
        enqueue(delivery_id, at)
    except redis.RedisError as exc:
        log.warning("delivery %s retry not scheduled (the reconciler will): %s", delivery_id, type(exc).__name__)
