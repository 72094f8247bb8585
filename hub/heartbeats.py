"""The worker's long-running loops (the dispatcher, the tile scheduler): their heartbeats and their backoff.

Each loop writes its heartbeat, the hub's clock time, to a Redis key after every pass that worked. The key has no
expiry: once a loop has beaten, /healthz (hub/health.py) expects it to keep beating, and reports it stale when it
has not within HUB_HEARTBEAT_STALE_SECONDS. A loop whose passes keep failing does not beat, so it goes stale too.
One key per loop, shared by every worker: it says that at least one of them is alive.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import redis


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
