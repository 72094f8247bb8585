"""A clock tests move forward instead of sleeping: it replaces the app's hub.clock.Clock."""
from __future__ import annotations

from datetime import datetime, timedelta

from flask import Flask

from hub.clock import Clock


class MovableClock(Clock):
    """The system clock plus an offset the test advances; time still flows between steps."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return super().now() + self.offset

    def advance(self, **delta: float) -> None:
        """Move forward by timedelta(**delta): advance(hours=2), advance(seconds=1.5)."""
        self.offset += timedelta(**delta)


def movable_clock(app: Flask) -> MovableClock:
    """Install a MovableClock in app (a live hub's server thread reads it on its next request)."""
    clock = MovableClock()
    app.extensions["clock"] = clock
    return clock


class FrozenClock(Clock):
    """A clock that stands still at `at`: for checks at an exact boundary, whatever the machine's load."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


def frozen_clock(app: Flask, at: datetime) -> FrozenClock:
    """Install a FrozenClock in app."""
    clock = FrozenClock(at)
    app.extensions["clock"] = clock
    return clock
