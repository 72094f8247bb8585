"""The tile scheduler: every few seconds, claim the tiles that are due and enqueue one refresh job each.

A claim is one conditional UPDATE that pushes each due tile's `next_refresh_at` forward by a lease, so two
schedulers (two workers) never enqueue a tile twice in a pass; the refresh itself sets the real next time. If the
job is lost (Redis flushed, a worker killed) the lease runs out and the tile is due again. Jobs have the id
`tile-refresh-<id>` (RQ 3 allows only letters, digits, `_` and `-`) and go to their own queue, "tiles", which
workers take after "default": a feed never delays a delivery that is waiting. The loop survives any failed pass,
backs off, and writes a heartbeat after each pass that worked (hub/heartbeats.py, read by /healthz).
"""
from __future__ import annotations

import logging
import os
import threading
from datetime import timedelta
from typing import Any, cast

import redis
import sqlalchemy.exc
from flask import Flask
from rq import Queue
from rq.job import Job, JobStatus
from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.orm import Session

from hub import heartbeats
from hub.models import Tile
from hub.sharing.outbox import utcnow
from hub.tiles.refresh import LOCK_SECONDS

log = logging.getLogger(__name__)
QUEUE = "tiles"
JOB = "hub.jobs.refresh_tile"  # by name: hub.jobs imports this module, not the other way round
BATCH = 500
INTERVAL = 5.0  # seconds between passes; a tile's interval is at least a minute
# Outlives a queued job's wait plus its refresh; the refresh replaces it with the tile's own next time.
LEASE_SECONDS = 300
# RQ stops the job (SIGALRM) before the tile's refresh lock frees, so a hung fetch never overlaps the next one.
JOB_TIMEOUT = LOCK_SECONDS - 10
PENDING = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED}


def job_id(tile_id: int) -> str:
    return f"tile-refresh-{tile_id}"


def queue(connection: redis.Redis) -> Queue:
    return Queue(QUEUE, connection=connection)


def claim_due(session: Session, limit: int = BATCH) -> list[int]:
    """Claim up to `limit` enabled tiles that are due (next_refresh_at passed, or NULL) and commit the claim."""
    now = utcnow()
    is_due = or_(Tile.next_refresh_at.is_(None), Tile.next_refresh_at <= now)
    due = (select(Tile.id).where(Tile.enabled.is_(True), is_due)
           .order_by(Tile.next_refresh_at.is_not(None), Tile.next_refresh_at, Tile.id).limit(limit))
    # The WHERE is checked again on each row as it is updated: of two schedulers, one claims a tile.
    result = cast(CursorResult[Any], session.execute(
        update(Tile).where(Tile.id.in_(due.scalar_subquery()), Tile.enabled.is_(True), is_due)
        .values(next_refresh_at=now + timedelta(seconds=LEASE_SECONDS))
        .returning(Tile.id).execution_options(synchronize_session=False)))
    claimed = sorted(result.scalars().all())
    session.commit()
    return claimed


def enqueue(target: Queue, tile_ids: list[int]) -> int:
    """One refresh job per tile, skipping tiles whose job is still queued or running; returns how many were made."""
    if not tile_ids:
        return 0
    jobs = Job.fetch_many([job_id(t) for t in tile_ids], connection=target.connection)
    fresh = [t for t, job in zip(tile_ids, jobs, strict=True)
             if job is None or job.get_status(refresh=False) not in PENDING]
    if not fresh:
        return 0
    with target.connection.pipeline() as pipe:
        target.enqueue_many([Queue.prepare_data(JOB, kwargs={"tile_id": t}, job_id=job_id(t), timeout=JOB_TIMEOUT,
                                                result_ttl=60) for t in fresh], pipeline=pipe)
        pipe.execute()
    return len(fresh)


def run_pass(session: Session, target: Queue) -> int:
    """Claim the due tiles and enqueue their refreshes; returns how many jobs were made.

    If Redis fails after the claim, nothing is undone: the lease runs out and a later pass enqueues them.
    """
    claimed = claim_due(session)
    return enqueue(target, claimed)


def run(app: Flask, stop: threading.Event | None = None, interval: float = INTERVAL,
        backoff: heartbeats.Backoff | None = None) -> None:
    """Schedule tiles until `stop` is set or the worker that started us is gone (beside the dispatcher)."""
    parent = os.getppid()
    stop = stop or threading.Event()
    backoff = backoff or heartbeats.Backoff(first=interval, cap=BACKOFF_CAP)
    while not stop.is_set() and os.getppid() == parent:
        pause = step(app, backoff, interval)
        if pause > 0:
            stop.wait(pause)


BACKOFF_CAP = 60.0  # seconds: the longest pause between failing passes (a tile's interval is at least a minute)


def step(app: Flask, backoff: heartbeats.Backoff, interval: float = INTERVAL) -> float:
    """One pass that survives any error, and the heartbeat after it; returns the seconds to pause.

    Redis or the database down: claimed tiles come due again when their lease ends. A bug: logged with its
    traceback. Either way the scheduler backs off and goes on; while its passes fail it does not beat (/healthz)."""
    from hub import redis_conn

    def one_pass(session: Session) -> float:
        return 0.0 if run_pass(session, queue(redis_conn.get())) >= BATCH else interval

    return heartbeats.survive_pass(app, heartbeats.Loop.TILE_SCHEDULER, backoff, one_pass, log,
                                   (redis.RedisError, sqlalchemy.exc.SQLAlchemyError))
