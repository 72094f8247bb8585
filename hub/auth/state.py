"""Login state kept server-side in Redis: one-time, bound to the browser that started the login.

It lives TTL_SECONDS by the app's clock (hub.clock), stamped when saved and checked when consumed, so tests move
the clock instead of sleeping; the Redis key's own TTL (Redis's clock) only clears away states nobody came back for.
"""
from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import asdict, dataclass, field
from typing import Any

from flask import session

from hub import clock, redis_conn

TTL_SECONDS = 600
_BINDING = "login_binding"


@dataclass
class PendingLogin:
    provider: str
    saved: dict[str, Any]
    next_url: str
    binding: str
    link_user_id: int | None = None
    invite: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    saved_at: float = 0.0  # seconds since the epoch by the app's clock; set by save()


def _key(state: str) -> str:
    return "hub:login:" + hashlib.sha256(state.encode()).hexdigest()


def browser_binding() -> str:
    """A random value in this browser's session; state is only honoured in the same browser."""
    if _BINDING not in session:
        session[_BINDING] = secrets.token_urlsafe(16)
    return session[_BINDING]


def save(state: str, pending: PendingLogin) -> None:
    pending.saved_at = clock.now().timestamp()
    redis_conn.get().set(_key(state), json.dumps(asdict(pending)), ex=TTL_SECONDS)


def consume(state: str | None) -> PendingLogin | None:
    """Take the login for this state exactly once; None if unknown, used, expired or from another browser."""
    if not state or len(state) > 200:
        return None
    raw = redis_conn.get().getdel(_key(state))
    if raw is None:
        return None
    pending = PendingLogin(**json.loads(raw))
    if clock.now().timestamp() - pending.saved_at > TTL_SECONDS:
        return None
    if not secrets.compare_digest(pending.binding, session.get(_BINDING, "")):
        return None
    return pending
