"""The signed-in user: who they are, in which session epoch, and the guards views use."""
from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort, g, redirect, request, session, url_for

from hub import db
from hub.models import User, UserStatus


def sign_in(user: User, provider: str) -> None:
    """Start a fresh session for user (the old session's contents are dropped: no fixation)."""
    session.clear()
    session["uid"] = user.id
    session["epoch"] = user.session_epoch
    session["idp"] = provider
    session["auth_time"] = int(time.time())
    session.permanent = True


def sign_out() -> None:
    session.clear()


def current_user() -> User | None:
    """The session's user if still active and the session was not ended everywhere."""
    if "current_user" in g:
        return g.current_user
    user = None
    uid = session.get("uid")
    if uid is not None:
        candidate = db.session().get(User, uid)
        if (candidate is not None and candidate.status == UserStatus.ACTIVE.value
                and candidate.session_epoch == session.get("epoch")):
            user = candidate
        else:
            session.clear()
    g.current_user = user
    return user


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_user() is None:
            return redirect(url_for("auth.login_page", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapper


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        user = current_user()
        if user is None:
            return redirect(url_for("auth.login_page", next=request.full_path.rstrip("?")))
        if not user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapper
