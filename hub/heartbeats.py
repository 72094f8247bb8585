"""The worker's long-running loops (the dispatcher, the tile scheduler): their heartbeats and their backoff.

Each loop writes its heartbeat, the hub's clock time, to a Redis key after every pass that worked. The key has no
expiry: once a loop has beaten, /healthz (hub/health.py) expects it to keep beating, and reports it stale when it
has not within HUB_HEARTBEAT_STALE_SECONDS. A loop whose passes keep failing does not beat, so it goes stale too.
One key per loop, shared by every worker: it says that at least one of them is alive.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import redis
import sqlalchemy.exc
from flask import Flask
from sqlalchemy.orm import Session


class Loop(StrEnum):
    DISPATCHER = "dispatcher"  # plans events and enqueues deliveries (hub/sharing/dispatch.py)
    TILE_SCHEDULER = "tile_scheduler"  # enqueues due tile refreshes (hub/tiles/scheduler.py)


def key(loop: Loop) -> str:
    return f"hub:heartbeat:{loop.value}"


def beat(connection: redis.Redis, loop: Loop, now: datetime) -> None:
    """Record that the loop finished a pass at `now` (raises redis errors, as the pass it ends would)."""
    connection.set(key(loop), f"{now.timestamp():.3f}")


def last_beats(connection: redis.Redis) -> dict[Loop, datetime]:
    """When each loop that ever beat (since Redis last lost its keys) beat last."""
    values = connection.mget([key(loop) for loop in Loop])
    return {loop: datetime.fromtimestamp(float(value), UTC)
            for loop, value in zip(Loop, values, strict=True) if value is not None}


@dataclass
class Backoff:
    """The pause after each failed pass of a loop: doubling from `first` up to `cap`, back to none on success."""

    first: float
    cap: float
    failures: int = 0

    def failed(self) -> float:
        """Count a failed pass; returns how long to wait before the next."""
        self.failures += 1
        return min(self.cap, self.first * 2 ** (self.failures - 1))

    def succeeded(self) -> None:
        self.failures = 0


def survive_pass(app: Flask, loop: Loop, backoff: Backoff, run: Callable[[Session], float], log: logging.Logger,
                 storage_down: tuple[type[Exception], ...]) -> float:
    """Run one pass of a long-running loop so that it survives any error; returns the seconds to pause.

    A pass that worked beats and returns what `run` asked for. Storage down (`storage_down`: nothing was claimed
    for good, the next pass tries again) is a warning; anything else is a bug, logged with its traceback. Either way
    the transaction ends, the loop backs off and does not beat, so /healthz reports it stale while it keeps failing.
    """
    from hub import clock, db, redis_conn

    with app.app_context():
        session = db.session()
        try:
            pause = run(session)
            beat(redis_conn.get(), loop, clock.now())
        except storage_down as exc:
            _rollback(session, log)
            pause = backoff.failed()
            log.warning("%s pass failed (next in %.1f s): %s", loop, pause, type(exc).__name__)
            return pause
        except Exception:  # the loop must outlive any bug in one pass: logged with its traceback
            _rollback(session, log)
            pause = backoff.failed()
            log.exception("%s pass failed (next in %.1f s); the %s goes on", loop, pause, loop)
            return pause
    backoff.succeeded()
    return pause


def _rollback(session: Session, log: logging.Logger) -> None:
    """End a failed pass's transaction; a connection that is gone is dropped by the pool, not raised again."""
    try:
        session.rollback()
    except sqlalchemy.exc.SQLAlchemyError:
        log.debug("rollback after a failed pass failed too", exc_info=True)
