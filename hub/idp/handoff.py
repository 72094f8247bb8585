"""An LMS authorization request waiting while its user signs in with a social provider.

The validated request's parameters are kept in Redis under a random id, and the sign-in's
`next` is /oauth/resume/<id>: a short same-origin path the sign-in flow already returns to.
The request is bound to the browser by its own cookie (signing in clears the session, so the
session cannot carry the binding across): resuming in another browser finds nothing.
"""
from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from hub import clock, redis_conn
from hub.idp.lifetimes import PENDING_REQUEST_SECONDS

RESUME_PREFIX = "/oauth/resume/"
COOKIE = "hub_idp_request"


def _key(request_id: str) -> str:
    return "hub:idp:request:" + hashlib.sha256(request_id.encode()).hexdigest()


@dataclass(frozen=True)
class Parked:
    params: dict[str, str]
    parked_at: float
    session_tag: str | None  # hub.idp.freshness: tells a new sign-in from the session that parked


def park(params: dict[str, str], binding: str | None, *, client_name: str | None = None,
         session_tag: str | None = None) -> tuple[str, str]:
    """Keep the request; returns (the path that resumes it, the browser binding for the cookie)."""
    request_id = secrets.token_urlsafe(24)
    binding = binding if binding and len(binding) <= 64 else secrets.token_urlsafe(24)
    record = {"params": params, "binding": hashlib.sha256(binding.encode()).hexdigest(), "client": client_name,
              "parked_at": clock.now().timestamp(), "session_tag": session_tag}
    redis_conn.get().set(_key(request_id), json.dumps(record), ex=PENDING_REQUEST_SECONDS)
    return RESUME_PREFIX + request_id, binding


def client_name(next_url: str | None) -> str | None:
    """The name of the LMS waiting on this sign-in, for the sign-in page; None if nothing is parked there.

    Read without the browser binding (the cookie is scoped to /oauth): the id in the URL is random,
    and all it reveals is which registered LMS started the sign-in.
    """
    if not is_resume_path(next_url):
        return None
    request_id = urlsplit(next_url or "").path[len(RESUME_PREFIX):]
    if not request_id or len(request_id) > 64:
        return None
    raw = redis_conn.get().get(_key(request_id))
    return json.loads(raw).get("client") if raw is not None else None


def take(request_id: str, binding: str | None) -> Parked | None:
    """The parked request, once, in the browser that parked it; None otherwise."""
    if not request_id or len(request_id) > 64 or not binding or len(binding) > 64:
        return None
    raw = redis_conn.get().getdel(_key(request_id))
    if raw is None:
        return None
    record: dict[str, Any] = json.loads(raw)
    if not secrets.compare_digest(record["binding"], hashlib.sha256(binding.encode()).hexdigest()):
        return None
    return Parked(dict(record["params"]), float(record.get("parked_at") or 0), record.get("session_tag"))


def is_resume_path(next_url: str | None) -> bool:
    """True when a sign-in is returning to a parked LMS request."""
    if not next_url:
        return False
    parts = urlsplit(next_url)
    return not parts.scheme and not parts.netloc and parts.path.startswith(RESUME_PREFIX)
