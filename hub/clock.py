"""The hub's clock, one per app (app.extensions["clock"]), so tests move time forward instead of sleeping.

Session lifetimes (hub.auth.sessions) and the OpenID Provider's auth_time and max_age (hub.idp) read the time here;
a test replaces the app's Clock with one it can move (tests/clock.py).
"""
from __future__ import annotations

from datetime import UTC, datetime

from flask import current_app, has_app_context


class Clock:
    """The system clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


def now() -> datetime:
    """The current app's time (its Clock), or the system clock outside an app."""
    clock = current_app.extensions.get("clock") if has_app_context() else None
    return clock.now() if clock is not None else datetime.now(UTC)
