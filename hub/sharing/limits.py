"""A token bucket per destination in Redis: a worker asks for a token and, if none, reschedules; it never sleeps."""
from __future__ import annotations

from dataclasses import dataclass

import redis

from providers import registry


@dataclass(frozen=True)
class Limit:
    """`capacity` posts per `per_seconds`, refilled continuously."""

    capacity: float
    per_seconds: float

    @property
    def per_second(self) -> float:
        return self.capacity / self.per_seconds


DEFAULT = Limit(1, 1)

# KEYS[1] bucket hash, KEYS[2] block key (set after a 429); ARGV capacity, refill per second.
# Returns 0 when a token was taken, otherwise milliseconds until one is available. Time comes from Redis
# itself so every worker agrees.
_TAKE = """
local blocked = redis.call('PTTL', KEYS[2])
if blocked > 0 then return blocked end
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + (now - at) * rate / 1000)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) * 1000 / rate) end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity * 1000 / rate) + 1000)
return wait
"""


def bucket_key(destination: str, account: str | None) -> str:
    """Per destination, and per posting account where the limit is per user (Yammer, X, LinkedIn)."""
    return f"hub:bucket:{destination}" + (f":{account}" if account else "")


def limit_for(kind: str) -> Limit:
    """The destination kind's documented limit, declared by its publisher in providers/."""
    try:
        return Limit(*registry.publisher_class(kind).rate_limit)
    except registry.UnknownKind:
        return DEFAULT


def take(connection: redis.Redis, key: str, limit: Limit) -> float:
    """Take a token: 0.0 if granted, otherwise the seconds until the bucket has one."""
    wait_ms = connection.eval(_TAKE, 2, key, key + ":blocked", limit.capacity, limit.per_second)
    return int(wait_ms) / 1000.0


def block(connection: redis.Redis, key: str, seconds: float) -> None:
    """The provider said 429: hold every delivery to this destination until Retry-After, not only this one."""
    connection.set(key + ":blocked", "1", px=max(1, int(seconds * 1000)))
