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
from typing import Any
from urllib.parse import urlsplit

from hub import redis_conn
from hub.idp.lifetimes import PENDING_REQUEST_SECONDS

RESUME_PREFIX = "/oauth/resume/"
COOKIE = "hub_idp_request"


def _key(request_id: str) -> str:
    return "hub:idp:request:" + hashlib.sha256(request_id.encode()).hexdigest()


def park(params: dict[str, str], binding: str | None) -> tuple[str, str]:
    """Keep the request; returns (the path that resumes it, the browser binding for the cookie)."""
    request_id = secrets.token_urlsafe(24)
    binding = binding if binding and len(binding) <= 64 else secrets.token_urlsafe(24)
    record = {"params": params, "binding": hashlib.sha256(binding.encode()).hexdigest()}
    redis_conn.get().set(_key(request_id), json.dumps(record), ex=PENDING_REQUEST_SECONDS)
    return RESUME_PREFIX + request_id, binding


def take(request_id: str, binding: str | None) -> dict[str, str] | None:
    """The parked parameters, once, in the browser that parked them; None otherwise."""
    if not request_id or len(request_id) > 64 or not binding or len(binding) > 64:
        return None
    raw = redis_conn.get().getdel(_key(request_id))
    if raw is None:
        return None
    record: dict[str, Any] = json.loads(raw)
    if not secrets.compare_digest(record["binding"], hashlib.sha256(binding.encode()).hexdigest()):
        return None
    return dict(record["params"])


def is_resume_path(next_url: str | None) -> bool:
    """True when a sign-in is returning to a parked LMS request."""
    if not next_url:
        return False
    parts = urlsplit(next_url)
    return not parts.scheme and not parts.netloc and parts.path.startswith(RESUME_PREFIX)
