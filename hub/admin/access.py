"""The console's door: who may open it, and the reach (hub/tenancy.py) every page filters and checks with.

Hub admins see everything; organisation admins see only their organisations, and every hub-level page or
out-of-reach id answers 404 (not 403: ids do not leak). People who administer nothing get 403 as before.
Views never compare roles themselves: they filter listings with `reach().where(Model.org_id)` and fetch single
objects through `reachable`, `person` and `new_org` below, which ask the reach.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort, current_app, g, redirect, request, url_for

from hub import db, tenancy
from hub.auth.sessions import current_user
from hub.models import MAX_KEY, User
from hub.tenancy import Reach

T = TypeVar("T")
HUB_DOOR, CONSOLE_DOOR = "hub", "console"  # what a view's door lets through (the navigation and tests read it)


def reach() -> Reach:
    """The signed-in person's reach, computed once per request (again if the request signs someone in or out)."""
    user = current_user()
    key = user.id if user is not None else None
    cached = g.get("reach")
    if cached is None or cached[0] != key:
        cached = g.reach = (key, tenancy.of_user(db.session(), user))
    found: Reach = cached[1]
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

    # Kept on the view function itself, where door_of finds it from the endpoint alone.
    wrapper.door = HUB_DOOR if hub_only else CONSOLE_DOOR  # type: ignore[attr-defined]
    return wrapper


def console_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Pages for hub admins and organisation admins; the view filters by reach()."""
    return _door(view, hub_only=False)


def hub_admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Hub-level pages: hub admins only (404 for organisation admins)."""
    return _door(view, hub_only=True)


def door_of(endpoint: str) -> str | None:
    """Which door guards an endpoint's view: HUB_DOOR, CONSOLE_DOOR, or None (no door: a bug the tests catch)."""
    return getattr(current_app.view_functions.get(endpoint), "door", None)


def may_open(endpoint: str) -> bool:
    """Would the signed-in person get past this endpoint's door? (The navigation shows only those.)"""
    door = door_of(endpoint)
    mine = reach()
    return tenancy.is_console_user(mine) and (door == CONSOLE_DOOR or (door == HUB_DOOR and mine.everything))


def _own_org(found: Any) -> int | None:
    org_id: int | None = found.org_id
    return org_id


def reachable(model: type[T], object_id: int, org_of: Callable[[T], int | None] = _own_org) -> T:
    """The object with this id when within reach; 404 when there is none or it is behind the wall (the two look
    the same). org_of names the object's organisation (its org_id unless told otherwise)."""
    found = db.session().get(model, object_id) if 0 < object_id <= MAX_KEY else None
    if found is None:
        abort(404)
    reach().require(org_of(found))
    return found


def person(user_id: int) -> User:
    """The user with this id when within reach (tenancy.users_within: no hub admin, no admin of another
    organisation for an organisation admin); 404 otherwise."""
    user = reachable(User, user_id)
    tenancy.require_user(db.session(), reach(), user)
    return user


def new_org(chosen: int | None) -> int | None:
    """The organisation a new object made in the console belongs to. A chosen organisation must be within reach
    (404 otherwise); when none is chosen, a hub admin makes a hub-level object (None) and an organisation admin of
    one organisation makes one of theirs (their form has no other choice; with several, they must choose)."""
    mine = reach()
    if chosen is None and not mine.everything and len(mine.org_ids) == 1:
        (chosen,) = mine.org_ids
    if chosen is not None or not mine.everything:
        mine.require(chosen)
    return chosen
