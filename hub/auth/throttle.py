"""Failed-guess counters in Redis, so one-time codes (invitations) can't be brute-forced."""
from __future__ import annotations

from dataclasses import dataclass

import redis

from hub.errors import LoginRejected

WINDOW_SECONDS = 15 * 60  # restarts at every failure: a steady guesser stays locked out
PER_IP = 30  # failures from one address; the 31st attempt is refused
PER_ORG = 300  # failures against one organisation from everywhere: a guess spread over many addresses


class TooManyAttempts(LoginRejected):
    """A throttle's limit is reached; the sign-in stops with 429 before the code is looked at."""

    status = 429

    def __init__(self) -> None:
        super().__init__("Too many invalid invitation codes. Wait 15 minutes, then use the link in your "
                         "invitation.", code="too_many_attempts")


@dataclass
class InviteThrottle:
    """Counts wrong invitation codes per client address and per organisation."""

    redis: redis.Redis
    ip: str
    per_ip: int = PER_IP
    per_org: int = PER_ORG
    window: int = WINDOW_SECONDS

    def _keys(self, org_id: int) -> tuple[str, str]:
        return f"hub:throttle:invite:ip:{self.ip}", f"hub:throttle:invite:org:{org_id}"

    def check(self, org_id: int) -> None:
        """Raise TooManyAttempts once either limit is reached (even a right code waits: no oracle)."""
        by_ip, by_org = self.redis.mget(self._keys(org_id))
        if int(by_ip or 0) >= self.per_ip or int(by_org or 0) >= self.per_org:
            raise TooManyAttempts()

    def failed(self, org_id: int) -> None:
        """Record one wrong code."""
        pipe = self.redis.pipeline()
        for key in self._keys(org_id):
            pipe.incr(key)
            pipe.expire(key, self.window)
        pipe.execute()
