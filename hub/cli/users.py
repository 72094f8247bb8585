"""`hub user`: listing, approval, disabling, admin roles and erasure."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
from sqlalchemy import select

from hub.cli.common import Names, admin, emit
from hub.errors import HubError
from hub.models import UserStatus


@click.group()
def user() -> None:
    """Users."""


def _user_row(u: Any) -> dict[str, Any]:
    return {"id": u.id, "email": u.email, "email_verified": u.email_verified, "name": u.name,
            "org": u.org.name if u.org else None, "status": u.status, "admin": u.is_admin, "groups": u.groups,
            "identities": [{"provider": i.provider, "subject": i.subject} for i in u.identities]}


@user.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.option("--status", type=Names(UserStatus, "a user status"))
@click.option("--search", help="Part of the email or name.")
@admin
def user_list(as_json: bool, status: str | None, search: str | None) -> None:
    """List users with their organisation, status and identities."""
    from sqlalchemy import or_

    from hub import db
    from hub.models import User

    query = select(User).order_by(User.id)
    if status:
        query = query.where(User.status == status)
    if search:
        # autoescape: a % or _ in --search is that character, not a LIKE wildcard
        query = query.where(or_(User.email.icontains(search, autoescape=True),
                                User.name.icontains(search, autoescape=True)))
    rows = [_user_row(u) for u in db.session().scalars(query)]
    emit(rows if as_json else [{**r, "identities": [i["provider"] for i in r["identities"]]} for r in rows],
         as_json, ["id", "email", "email_verified", "org", "status", "identities"])


def _set_user(email: str, action: str, change: Callable[[Any], None], org_id: int | None = None) -> None:
    from sqlalchemy import func

    from hub import audit, db
    from hub.models import User

    with db.transaction() as session:
        found = session.scalar(select(User).where(func.lower(User.email) == email.lower()))
        if found is None:
            raise HubError(f"no user with email {email}")
        change(found)
    audit.record(f"user.{action}", "success", actor="cli", user_id=found.id, org_id=org_id or found.org_id)
    click.echo(f"{email}: {action}")


@user.command("approve")
@click.argument("email")
@admin
def user_approve(email: str) -> None:
    """Approve a pending user."""
    def change(u: Any) -> None:
        if u.status != "pending":
            raise HubError(f"{email} is {u.status}, not pending")
        u.status = "active"

    _set_user(email, "approve", change)


@user.command("disable")
@click.argument("email")
@admin
def user_disable(email: str) -> None:
    """Disable a user: sessions, refresh tokens, waiting posts and provider tokens end at once."""
    def change(u: Any) -> None:
        from hub import db, deprovision

        deprovision.disable(db.session(), u, actor="cli", reason="cli")

    _set_user(email, "disable", change)


@user.command("enable")
@click.argument("email")
@admin
def user_enable(email: str) -> None:
    """Enable a disabled user again."""
    def change(u: Any) -> None:
        u.status = "active"

    _set_user(email, "enable", change)


@user.command("reject")
@click.argument("email")
@admin
def user_reject(email: str) -> None:
    """Reject a pending user (the account is disabled)."""
    def change(u: Any) -> None:
        if u.status != "pending":
            raise HubError(f"{email} is {u.status}, not pending")
        u.status = "disabled"

    _set_user(email, "reject", change)


@user.command("admin")
@click.argument("email")
@click.option("--org", "org_name", help="Make them an admin of this organisation only (docs/tenancy.md).")
@click.option("--revoke", is_flag=True)
@admin
def user_admin(email: str, org_name: str | None, revoke: bool) -> None:
    """Grant (or --revoke) the hub admin role, or with --org an organisation's admin role."""
    from hub import db, tenancy

    if org_name is None:
        def change(u: Any) -> None:
            from hub.auth.sessions import end_all_sessions

            if u.is_admin == revoke:  # a change of role ends the user's sessions
                u.is_admin = not revoke
                end_all_sessions(db.session(), u)

        _set_user(email, "admin-revoke" if revoke else "admin-grant", change)
        return
    org = tenancy.find_orgs(db.session(), [org_name])[0]

    def change_org(u: Any) -> None:
        from hub.auth.sessions import end_all_sessions

        if tenancy.set_org_admin(db.session(), u, org, grant=not revoke):  # a change of role ends their sessions
            end_all_sessions(db.session(), u)

    _set_user(email, "org-admin-revoke" if revoke else "org-admin-grant", change_org, org_id=org.id)


@user.command("erase")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@admin
def user_erase(email: str, yes: bool) -> None:
    """Erase a user (GDPR): identities, tokens, waiting posts and personal data go; the audit keeps a pseudonym."""
    from sqlalchemy import func

    from hub import db, deprovision
    from hub.models import User

    if not yes:
        click.confirm(f"Erase {email} for good?", abort=True)
    with db.transaction() as session:
        found = session.scalar(select(User).where(func.lower(User.email) == email.lower()))
        if found is None:
            raise HubError(f"no user with email {email}")
        alias = deprovision.erase(session, found, actor="cli")
    click.echo(f"user {found.id} erased (pseudonym {alias[:16]})")


COMMANDS = (user,)
