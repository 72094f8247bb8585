"""A token bucket per destination in Redis, with a place in line for whoever had to wait; it never sleeps.

A delivery that finds no token is told when to come back, and keeps its place: the bucket also holds a line of
waiting holders (a sorted set, holder -> reserved time), so twenty deliveries to one channel come back one per
token, not all at once to fight over each one (the herd that held channels well under their limit, each loser a
wasted job run). A newcomer queues behind the holders; a holder back at its time takes the token the moment there
is one, and if an earlier post went out late it is told to come back when the next token is due (its place kept),
so posts are spaced by the actual takes, never closer than the limit. The hub paces at SAFETY of each published
limit: the trip from the take to the provider varies by milliseconds, and a provider that allows no burst (the
Slack sandbox's strict bucket) answers 429 to a post that arrives early by one.
"""
from __future__ import annotations

from dataclasses import dataclass

import redis

from providers import registry

SAFETY = 0.98  # the share of a destination's published limit the hub uses
GRACE_MS = 60_000  # a holder this late (a lost job, a long backlog) loses its place; back, it queues again


@dataclass(frozen=True)
class Limit:
    """`capacity` posts per `per_seconds`, refilled continuously."""

    capacity: float
    per_seconds: float

    @property
    def per_second(self) -> float:
        return self.capacity / self.per_seconds


DEFAULT = Limit(1, 1)

# KEYS[1] bucket hash (tokens, at), KEYS[2] block key (set after a 429), KEYS[3] the line (holder -> slot ms).
# ARGV capacity, tokens per second, holder, grace ms. Returns 0 when a token was taken, otherwise milliseconds
# until the holder should come back. Time comes from Redis itself so every worker agrees.
_TAKE = """
local blocked = redis.call('PTTL', KEYS[2])
if blocked > 0 then return blocked end
local capacity = tonumber(ARGV[1])
local interval = 1000 / tonumber(ARGV[2])
local holder = ARGV[3]
local grace = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + (now - at) / interval)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - grace)
local placed = redis.call('ZSCORE', KEYS[3], holder)
if tokens >= 1 and (placed or redis.call('ZCARD', KEYS[3]) == 0) then
  redis.call('ZREM', KEYS[3], holder)
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - 1), 'at', now)
  redis.call('PEXPIRE', KEYS[1], math.ceil(capacity * interval) + 1000)
  return 0
end
local due = now
if tokens < 1 then due = now + math.ceil((1 - tokens) * interval) end
if placed then return math.max(1, due - now) end
local last = redis.call('ZRANGE', KEYS[3], -1, -1, 'WITHSCORES')
if last[2] then due = math.max(due, math.ceil(tonumber(last[2]) + interval)) end
redis.call('ZADD', KEYS[3], due, holder)
redis.call('PEXPIRE', KEYS[3], due - now + grace)
return math.max(1, due - now)
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


def take(connection: redis.Redis, key: str, limit: Limit, holder: str) -> float:
    """Take a token for `holder` (a delivery id): 0.0 if granted, otherwise the seconds until it should come back,
    its place in line kept until then (and GRACE_MS after)."""
    wait_ms = connection.eval(_TAKE, 3, key, key + ":blocked", key + ":line", limit.capacity,
                              limit.per_second * SAFETY, holder, GRACE_MS)
    return int(wait_ms) / 1000.0


def block(connection: redis.Redis, key: str, seconds: float) -> None:
    """The provider said 429: hold every delivery to this destination until Retry-After, not only this one."""
    connection.set(key + ":blocked", "1", px=max(1, int(seconds * 1000)))


# KEYS[1] the time (ms, by the hub's clock) the next call may be made. ARGV now ms, spacing ms. Returns 0 and moves
# the time on when the call may go now, else the milliseconds to wait. The key's TTL (Redis's clock) only tidies up.
_SPACED = """
local now = tonumber(ARGV[1])
local spacing = tonumber(ARGV[2])
local next_at = tonumber(redis.call('GET', KEYS[1]) or '0')
if next_at > now then return next_at - now end
redis.call('SET', KEYS[1], tostring(now + spacing), 'PX', math.ceil(spacing) + 60000)
return 0
"""


def spaced(connection: redis.Redis, key: str, spacing_seconds: float, now_seconds: float) -> float:
    """One call per `spacing_seconds` under `key`, timed by the caller's clock (the hub's, which tests move): 0.0 when
    this call may go now (and the next is pushed back), else the seconds to wait. Never sleeps."""
    wait_ms = connection.eval(_SPACED, 1, key, int(now_seconds * 1000), int(spacing_seconds * 1000))
    return int(wait_ms) / 1000.0

