"""Is the hub session's sign-in recent enough for this authorization request? (prompt=login, max_age)

OpenID Connect Core 3.1.2.1: `prompt=login` asks the OP to authenticate the user again, and
`max_age` is how many seconds may have passed since they last did. Both are met by a sign-in
made *after* the request reached the hub. The request is then parked (hub.idp.handoff) while
the user signs in at a social provider again; /oauth/resume checks that a new sign-in really
happened (signing in starts a new session, so a marker the old session held is gone) and
marks the new session with that request, so the replayed request is not sent round again.
"""
from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping

from authlib.oauth2.rfc6749 import InvalidRequestError
from flask import session

from hub import clock

MARK_KEY = "idp_fresh_for"  # {"request": digest of the parked request, "at": the new sign-in's auth_time}
OLD_SESSION_KEY = "idp_parked_in"  # set in the session that parked: still present means no new sign-in


def digest(params: Mapping[str, str]) -> str:
    """One request's identity: its parameters, order-free."""
    return hashlib.sha256(json.dumps(sorted(params.items())).encode()).hexdigest()


def max_age(params: Mapping[str, str], redirect_uri: str | None) -> int | None:
    """The request's max_age in seconds, None when absent; anything but a whole number is invalid_request."""
    raw = params.get("max_age")
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 10:
        raise InvalidRequestError("'max_age' must be a whole number of seconds.", redirect_uri=redirect_uri)
    return int(raw)


def needs_sign_in(params: Mapping[str, str], redirect_uri: str | None) -> bool:
    """True when the request asks for a newer sign-in than the session holds."""
    if _signed_in_for(params):
        return False
    if "login" in (params.get("prompt") or "").split():
        return True
    limit = max_age(params, redirect_uri)
    auth_time = session.get("auth_time")
    return limit is not None and (auth_time is None or clock.now().timestamp() - int(auth_time) > limit)


def _signed_in_for(params: Mapping[str, str]) -> bool:
    mark = session.get(MARK_KEY)
    return (isinstance(mark, dict) and mark.get("request") == digest(params)
            and mark.get("at") == session.get("auth_time"))


def before_parking() -> str:
    """Tag the current session; the tag goes with the parked request and is compared on resume."""
    tag = secrets.token_urlsafe(12)
    session[OLD_SESSION_KEY] = tag
    return tag


def after_resume(params: Mapping[str, str], tag: str | None, parked_at: float) -> None:
    """Mark the session fresh for this request if a sign-in happened since it was parked."""
    auth_time = session.get("auth_time")
    if session.get("uid") is None or auth_time is None:
        return
    if (tag and session.get(OLD_SESSION_KEY) == tag) or int(auth_time) < int(parked_at):
        return  # the same session that parked the request: nobody signed in again
    session[MARK_KEY] = {"request": digest(params), "at": auth_time}


def spend() -> None:
    """The code was issued (or refused): the marker has done its job."""
    session.pop(MARK_KEY, None)
