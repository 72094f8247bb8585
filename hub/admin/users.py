"""Users and approvals: search, detail, approve/reject, disable/enable, grant/revoke the hub admin role.

Organisation admins see and change only the people within their reach (tenancy.users_within); the hub admin
role is hub-level."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import redirect, render_template, request, url_for
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import selectinload

from hub import db, deprovision, tenancy
from hub.admin import bp
from hub.admin.access import console_required, person, reach
from hub.admin.common import actor, done, paginate
from hub.auth.sessions import current_user, end_all_sessions
from hub.models import User, UserStatus

PAGE_SIZE = 25
STATUSES = list(UserStatus)


def _approve(user: User) -> str | None:
    if user.status != UserStatus.PENDING:
        return f"{user.email} is {user.status}, not pending."
    user.status = UserStatus.ACTIVE
    return None


def _reject(user: User) -> str | None:
    # A rejected sign-up is a disabled account: the same sign-in is refused next time too.
    if user.status != UserStatus.PENDING:
        return f"{user.email} is {user.status}, not pending."
    user.status = UserStatus.DISABLED
    return None


def _disable(user: User) -> str | None:
    if user.id == _me():
        return "You can't disable your own account."
    # Sessions, refresh tokens, waiting posts and provider tokens end at once (hub/deprovision.py).
    deprovision.disable(db.session(), user, actor=actor(), reason="admin")
    return None


def _enable(user: User) -> str | None:
    deprovision.enable(db.session(), user, actor=actor(), reason="admin")
    return None


def _grant(user: User) -> str | None:
    if not user.is_admin:  # a new role ends the user's sessions: it applies from their next sign-in
        user.is_admin = True
        end_all_sessions(db.session(), user)
    return None


def _revoke(user: User) -> str | None:
    if user.id == _me():
        return "You can't revoke your own admin role: ask another admin."
    if user.is_admin:
        user.is_admin = False
        end_all_sessions(db.session(), user)
    return None


def _me() -> int | None:
    me = current_user()
    return me.id if me else None


# action in the URL -> (audit action, what was done, the change; it returns a refusal or None)
ACTIONS: dict[str, tuple[str, str, Callable[[User], str | None]]] = {
    "approve": ("user.approve", "approved", _approve),
    "reject": ("user.reject", "rejected", _reject),
    "disable": ("user.disable", "disabled", _disable),
    "enable": ("user.enable", "enabled", _enable),
    "grant-admin": ("user.admin-grant", "is now an admin", _grant),
    "revoke-admin": ("user.admin-revoke", "is no longer an admin", _revoke),
}
HUB_LEVEL = frozenset({"grant-admin", "revoke-admin"})  # the hub admin role: hub admins only (404 for others)


def _people() -> Select[User]:
    """The users the signed-in admin may see, with what the lists show."""
    return select(User).options(selectinload(User.org)).where(tenancy.users_within(reach()))


@bp.get("/approvals")
@console_required
def approvals() -> Any:
    pending = list(db.session().scalars(_people().where(User.status == UserStatus.PENDING)
                                        .order_by(User.created_at)))
    return render_template("admin/approvals.html", pending=pending)


@bp.get("/users")
@console_required
def users() -> Any:
    """Users by email or name, filtered by status, 25 a page."""
    q = request.args.get("q", "").strip()
    status = request.args.get("status", "")
    query = _people().options(selectinload(User.identities)).order_by(User.id)
    if q:
        # autoescape: a % or _ the admin types is that character, not a LIKE wildcard
        query = query.where(or_(User.email.icontains(q, autoescape=True), User.name.icontains(q, autoescape=True)))
    if status in STATUSES:
        query = query.where(User.status == status)
    page = paginate(db.session(), query, PAGE_SIZE)
    return render_template("admin/users.html", page=page, q=q, status=status, statuses=STATUSES)


@bp.get("/users/<int:user_id>")
@console_required
def user_detail(user_id: int) -> Any:
    return render_template("admin/user.html", user=person(user_id))


@bp.post("/users/<int:user_id>/<any(approve, reject, disable, enable, 'grant-admin', 'revoke-admin'):action>")
@console_required
def user_action(user_id: int, action: str) -> Any:
    """Change one user; back to where the button was (the approvals list or the user's page)."""
    user = person(user_id)
    if action in HUB_LEVEL:
        reach().require_everything()
    audit_action, verb, change = ACTIONS[action]
    with db.transaction():
        refusal = change(user)
    if refusal:
        done(audit_action, refusal, outcome="failure", user_id=user.id, reason="refused")
    else:
        done(audit_action, f"{user.email or 'User ' + str(user.id)} {verb}.", user_id=user.id)
    back = url_for("admin.approvals") if request.form.get("back") == "approvals" else \
        url_for("admin.user_detail", user_id=user.id)
    return redirect(back, 303)
