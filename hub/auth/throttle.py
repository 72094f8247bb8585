"""Counters in Redis that stop brute force and flooding: wrong invitation codes, confirmation mails.

A window is the counter key's TTL, timed by Redis's clock rather than the app's (hub.clock): a test that needs one to
end deletes the key.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import redis

from hub.errors import LoginRejected

WINDOW_SECONDS = 15 * 60  # restarts at every counted event: a steady guesser stays locked out
PER_IP = 30  # failures from one address; the 31st attempt is refused
PER_ORG = 300  # failures against one organisation from everywhere: a guess spread over many addresses
MAILS_PER_SIGNUP = 5  # confirmation mails one parked sign-in may send
MAILS_PER_IP = 20  # confirmation mails one address may cause in the window


class TooManyAttempts(LoginRejected):
    """A throttle's limit is reached; the request stops with 429 before anything is looked at or sent."""

    status = 429

    def __init__(self, reason: str = "Too many invalid invitation codes. Wait 15 minutes, then use the link in "
                                      "your invitation.") -> None:
        super().__init__(reason, code="too_many_attempts")


@dataclass
class Counters:
    """Named counters sharing one window; `limits` maps each counter key to its ceiling."""

    redis: redis.Redis
    window: int = WINDOW_SECONDS

    def check(self, limits: Mapping[str, int], reason: str | None = None) -> None:
        """Raise TooManyAttempts when any counter has reached its ceiling."""
        keys = list(limits)
        for key, value in zip(keys, self.redis.mget(keys), strict=True):
            if int(value or 0) >= limits[key]:
                raise TooManyAttempts(reason) if reason else TooManyAttempts()

    def count(self, keys: list[str]) -> None:
        pipe = self.redis.pipeline()
        for key in keys:
            pipe.incr(key)
            pipe.expire(key, self.window)
        pipe.execute()


@dataclass
class InviteThrottle:
    """Counts wrong invitation codes per client address and per organisation."""

    redis: redis.Redis
    ip: str
    per_ip: int = PER_IP
    per_org: int = PER_ORG
    window: int = WINDOW_SECONDS

    def _limits(self, org_id: int) -> dict[str, int]:
        return {f"hub:throttle:invite:ip:{self.ip}": self.per_ip, f"hub:throttle:invite:org:{org_id}": self.per_org}

    def check(self, org_id: int) -> None:
        """Raise TooManyAttempts once either limit is reached (even a right code waits: no oracle)."""
        Counters(self.redis, self.window).check(self._limits(org_id))

    def failed(self, org_id: int) -> None:
        """Record one wrong code."""
        Counters(self.redis, self.window).count(list(self._limits(org_id)))


def limit_confirmation_mail(connection: redis.Redis, ip: str, signup_id: int) -> None:
    """Count one confirmation mail, refusing it when this sign-in or this address has sent too many."""
    limits = {f"hub:throttle:mail:signup:{signup_id}": MAILS_PER_SIGNUP, f"hub:throttle:mail:ip:{ip}": MAILS_PER_IP}
    counters = Counters(connection)
    counters.check(limits, "Too many confirmation emails. Wait 15 minutes, or start signing in again.")
    counters.count(list(limits))
