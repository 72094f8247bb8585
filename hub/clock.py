"""The hub's clock, one per app (app.extensions["clock"]), so tests move time forward instead of sleeping.

Whatever expires or falls due reads the time here: sessions, the OpenID Provider's codes, tokens, ID tokens, keys and
max_age, API tokens, invitations, parked sign-ins, login state, the webhook replay window, deliveries, mail and tile
refreshes. A test replaces the app's Clock with one it can move (tests/clock.py). Times Redis keeps with its own clock
(rate-limit windows, throttles, posting buckets, key TTLs) cannot follow it; docs/testing.md says what tests do there.
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
