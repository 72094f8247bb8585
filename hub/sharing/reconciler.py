"""The database is the source of truth: re-enqueue due deliveries whose job was lost, recover expired leases."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import redis
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from hub import redis_conn
from hub.models import Delivery, DeliveryStatus
from hub.sharing import dispatch, sender
from hub.sharing.outbox import aware, utcnow

S = DeliveryStatus
BATCH = 500
STALE_START = timedelta(minutes=10)  # a job "started" this long ago belongs to a dead worker


@dataclass
class Report:
    enqueued: int = 0
    recovered: int = 0


def _live(connection: redis.Redis, delivery_id: int) -> bool:
    """Is there a job in Redis that will still run this delivery?"""
    job_id = dispatch.job_id(delivery_id)
    try:
        job = Job.fetch(job_id, connection=connection)
    except NoSuchJobError:
        return False
    status = job.get_status(refresh=False)
    if status == JobStatus.QUEUED:
        # The job hash can outlive its queue entry (queue key deleted): only a queued id counts.
        return connection.lpos(f"rq:queue:{job.origin}", job_id) is not None
    if status == JobStatus.STARTED:
        started = job.started_at
        return started is not None and utcnow() - aware(started) < STALE_START
    return status in (JobStatus.SCHEDULED, JobStatus.DEFERRED)


def reconcile(session: Session) -> Report:
    """One pass: dispatch what is new; re-enqueue due rows whose job was lost; look up expired sending leases."""
    report = Report()
    connection = redis_conn.get()
    report.enqueued += dispatch.run_pass(session, connection=connection).enqueued
    now = utcnow()
    due = session.scalars(
        select(Delivery.id).where(Delivery.status.in_([S.PENDING, S.FAILED]),
                                  Delivery.enqueued_at.is_not(None),  # NULL: the dispatcher's, not lost
                                  or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now))
        .order_by(Delivery.id).limit(BATCH)).all()
    for delivery_id in due:
        if not _live(connection, delivery_id):
            dispatch.enqueue(delivery_id, connection=connection)
            report.enqueued += 1
    expired = session.scalars(
        select(Delivery.id).where(Delivery.status == S.SENDING, Delivery.lease_until < now)
        .order_by(Delivery.id).limit(BATCH)).all()
    for delivery_id in expired:
        row = session.get(Delivery, delivery_id)
        if row is not None and sender.recover(session, row) is not sender.Outcome.BUSY:
            report.recovered += 1
    return report
