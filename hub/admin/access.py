"""The console's door: who may open it, and the reach (hub/tenancy.py) every page filters and checks with.

Hub admins see everything; organisation admins see only their organisations, and every hub-level page or
out-of-reach id answers 404 (not 403: ids do not leak). People who administer nothing get 403 as before.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort, g, redirect, request, url_for

from hub import db, tenancy
from hub.auth.sessions import current_user
from hub.tenancy import Reach


def reach() -> Reach:
    """The signed-in person's reach, computed once per request."""
    if "reach" not in g:
        g.reach = tenancy.of_user(db.session(), current_user())
    found: Reach = g.reach
    return found


def _door(view: Callable[..., Any], hub_only: bool) -> Callable[..., Any]:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_user() is None:
            return redirect(url_for("auth.login_page", next=request.full_path.rstrip("?")))
        mine = reach()
        if not tenancy.is_console_user(mine):
            abort(403)
        if hub_only:
            mine.require_everything()
        return view(*args, **kwargs)

    return wrapper


def console_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Pages for hub admins and organisation admins; the view filters by reach()."""
    return _door(view, hub_only=False)


def hub_admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Hub-level pages: hub admins only (404 for organisation admins)."""
    return _door(view, hub_only=True)
