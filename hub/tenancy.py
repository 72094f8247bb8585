"""Organisations are walls: the one place that decides who may see or change which organisation's objects.

Every console page, SCIM request, LMS event and CLI listing asks this module instead of checking roles itself:
a person or credential has a `Reach` (every organisation, or a set of them), listings filter by `Reach.where`,
and single objects go through `Reach.require`, which answers 404 for anything outside (not 403: ids do not leak).

- Hub admins (`User.is_admin`) reach every organisation and the hub-level pages (providers, OpenID clients and
  keys, sources, adding organisations).
- Organisation admins (rows of `org_admins`) reach only their organisations' users, approvals, invitations,
  claim mappings, rules, deliveries, tiles, connections and audit log.
- SCIM tokens and LMS sources reach the organisations they were created for, or all of them when created with
  `--all-orgs` (or before tenancy existed: flagged `all_orgs_by_migration` so an operator can narrow them).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, delete, false, select, true
from sqlalchemy.orm import Session
from werkzeug.exceptions import NotFound

from hub.errors import HubError
from hub.models import ApiToken, ApiTokenOrg, OrgAdmin, Organisation, Source, SourceOrg, User


@dataclass(frozen=True)
class Reach:
    """The organisations someone may see and change: all of them, or `org_ids`."""

    everything: bool
    org_ids: frozenset[int] = frozenset()

    def allows(self, org_id: int | None) -> bool:
        """May this reach touch an object of org_id? Objects of no organisation are hub-level."""
        return self.everything or (org_id is not None and org_id in self.org_ids)

    def where(self, column: Any) -> ColumnElement[bool]:
        """A WHERE clause keeping only rows whose `column` (an org id) is within reach."""
        if self.everything:
            return true()
        return column.in_(sorted(self.org_ids)) if self.org_ids else false()

    def require(self, org_id: int | None) -> None:
        """Stop the request with 404 when the object's organisation is out of reach."""
        if not self.allows(org_id):
            raise NotFound()

    def require_everything(self) -> None:
        """Hub-level pages and objects: 404 for anyone without the whole hub in reach."""
        if not self.everything:
            raise NotFound()


HUB = Reach(everything=True)
NOWHERE = Reach(everything=False)


class InvalidScope(HubError):
    """The organisations given for a credential or role are wrong; the message says how."""


# --- people ----------------------------------------------------------------------------------
def admin_org_ids(session: Session, user_id: int) -> frozenset[int]:
    """The organisations a user administers (empty for everyone else)."""
    return frozenset(session.scalars(select(OrgAdmin.org_id).where(OrgAdmin.user_id == user_id)))


def of_user(session: Session, user: User | None) -> Reach:
    """What a signed-in person may administer: the hub, some organisations, or nothing."""
    if user is None:
        return NOWHERE
    if user.is_admin:
        return HUB
    return Reach(everything=False, org_ids=admin_org_ids(session, user.id))


def is_console_user(reach: Reach) -> bool:
    """May this reach open the admin console at all?"""
    return reach.everything or bool(reach.org_ids)


def is_any_admin(session: Session, user: User) -> bool:
    """A hub admin or an admin of any organisation (SCIM neither lists nor changes them)."""
    return user.is_admin or bool(admin_org_ids(session, user.id))


def any_admin_clause() -> ColumnElement[bool]:
    """A WHERE clause over User true for admins of the hub or of any organisation."""
    return User.is_admin.is_(True) | User.id.in_(select(OrgAdmin.user_id))


def users_within(reach: Reach) -> ColumnElement[bool]:
    """A WHERE clause over User keeping the people reach may see and change: members of its organisations who hold
    no role beyond it. A hub admin, or an admin of an organisation outside reach, is out of reach even as a member:
    an organisation admin can neither list, nor disable, nor change them."""
    if reach.everything:
        return true()
    beyond = select(OrgAdmin.user_id).where(~reach.where(OrgAdmin.org_id))
    return reach.where(User.org_id) & User.is_admin.is_(False) & User.id.not_in(beyond)


def require_user(session: Session, reach: Reach, user: User) -> None:
    """404 unless user is within reach: the listing's own clause, so a user's page and the user list agree."""
    if not reach.everything and session.scalar(select(User.id).where(User.id == user.id, users_within(reach))) is None:
        raise NotFound()


def set_org_admin(session: Session, user: User, org: Organisation, grant: bool) -> bool:
    """Grant or revoke user's admin role for org; returns whether anything changed."""
    row = session.get(OrgAdmin, (user.id, org.id))
    if grant and row is None:
        session.add(OrgAdmin(user_id=user.id, org_id=org.id))
        return True
    if not grant and row is not None:
        session.delete(row)
        return True
    return False


# --- credentials -----------------------------------------------------------------------------
def find_orgs(session: Session, names: Iterable[str]) -> list[Organisation]:
    """The organisations called names, in order; InvalidScope naming the first that does not exist."""
    found = []
    for name in names:
        org = session.scalar(select(Organisation).where(Organisation.name == name))
        if org is None:
            raise InvalidScope(f"--org: no organisation called {name!r} (see: hub org list)")
        if org not in found:
            found.append(org)
    return found


def check_scope(orgs: list[Organisation], all_orgs: bool) -> None:
    """A credential names its organisations or says --all-orgs explicitly: there is no default."""
    if all_orgs and orgs:
        raise InvalidScope("give either --org NAME (repeatable) or --all-orgs, not both")
    if not all_orgs and not orgs:
        raise InvalidScope("say which organisations it reaches: --org NAME (repeatable), or --all-orgs")


def scope_token(session: Session, token: ApiToken, orgs: list[Organisation], all_orgs: bool) -> None:
    """Set the organisations an API token reaches (replacing any it had)."""
    check_scope(orgs, all_orgs)
    session.execute(delete(ApiTokenOrg).where(ApiTokenOrg.token_id == token.id))
    token.all_orgs, token.all_orgs_by_migration = all_orgs, False
    session.add_all(ApiTokenOrg(token_id=token.id, org_id=org.id) for org in orgs)


def scope_source(session: Session, source: Source, orgs: list[Organisation], all_orgs: bool) -> None:
    """Set the organisations whose learners a source's events may name (replacing any it had)."""
    check_scope(orgs, all_orgs)
    session.execute(delete(SourceOrg).where(SourceOrg.source_id == source.id))
    source.all_orgs, source.all_orgs_by_migration = all_orgs, False
    session.add_all(SourceOrg(source_id=source.id, org_id=org.id) for org in orgs)


def of_token(session: Session, token: ApiToken) -> Reach:
    """The organisations a SCIM token sees and changes."""
    if token.all_orgs:
        return HUB
    return Reach(False, frozenset(session.scalars(select(ApiTokenOrg.org_id).where(ApiTokenOrg.token_id == token.id))))


def of_source(session: Session, source: Source) -> Reach:
    """The organisations whose learners a source's events may name."""
    if source.all_orgs:
        return HUB
    return Reach(False, frozenset(session.scalars(select(SourceOrg.org_id).where(SourceOrg.source_id == source.id))))


def org_names(session: Session, reach: Reach) -> list[str] | str:
    """How listings show a reach: "all" or the organisations' names."""
    if reach.everything:
        return "all"
    return list(session.scalars(select(Organisation.name).where(reach.where(Organisation.id))
                                .order_by(Organisation.name)))
