"""Provisioning: a tuple of small steps over one context, each one decision.

A step either fills in the context or raises LoginRejected with a reason the user
sees. Nothing is committed here: the caller commits once when every step passed,
so a rejection anywhere leaves no user, identity or token behind.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, exists, func, select, update
from sqlalchemy.orm import Session, joinedload

from hub import emails, orgs
from hub.auth.throttle import InviteThrottle
from hub.crypto import Vault
from hub.errors import LoginRejected
from hub.models import Identity, Invite, Organisation, OrgPolicy, ProviderConfig, User, UserStatus
from providers.base import Profile

# An address an LMS set (SCIM) is the LMS's word, not the account owner's: it may even be an attacker's.
SCIM_EMAIL_NOT_LINKED = ("This address belongs to an account that is linked to another sign-in. Sign in with that "
                         "one and link this provider from your account page.")


class EmailNeeded(LoginRejected):
    """The provider gave no verified email and no account exists: ask the user for one."""

    def __init__(self, suggested: str | None) -> None:
        super().__init__("Please confirm your email address to finish signing up.", code="email_needed")
        self.suggested = suggested


@dataclass
class Context:
    db: Session
    vault: Vault
    provider: ProviderConfig
    profile: Profile
    tokens: Mapping[str, Any]
    admin_emails: tuple[str, ...] = ()
    linking_user: User | None = None  # set when a signed-in user links another provider
    invite_code: str | None = None
    invite_throttle: InviteThrottle | None = None  # counts wrong invitation codes (brute force)
    confirmed_email: str | None = None  # confirmed by a one-time link
    identity: Identity | None = None
    user: User | None = None
    org: Organisation | None = None
    groups: list[str] = field(default_factory=list)
    invite_id: int | None = None
    created: bool = False

    @property
    def verified_email(self) -> str | None:
        if self.confirmed_email:
            return self.confirmed_email.lower()
        # The hub's one address policy (hub/emails.py): what SCIM and the LMS events take, sign-in links by.
        if self.profile.email and self.profile.email_verified and emails.is_valid(self.profile.email):
            return emails.normalise(self.profile.email).lower()
        return None


def find_identity(ctx: Context) -> None:
    """Known (provider, subject): that identity's user signs in."""
    ctx.identity = ctx.db.scalar(
        select(Identity).where(Identity.provider == ctx.provider.name, Identity.subject == ctx.profile.subject)
        .options(joinedload(Identity.user).joinedload(User.org)))  # one round trip for the returning user
    if ctx.identity is not None:
        ctx.user = ctx.identity.user


def link_to_signed_in_user(ctx: Context) -> None:
    """Linking from /account: the new identity joins the signed-in user, never someone else's."""
    if ctx.linking_user is None:
        return
    if ctx.user is not None and ctx.user.id != ctx.linking_user.id:
        raise LoginRejected("That account is already linked to another user.", code="identity_taken")
    ctx.user = ctx.linking_user


def link_by_verified_email(ctx: Context) -> None:
    """A new identity joins an existing user only through an email the provider verified, and never through one an LMS
    set (SCIM) on a user who already has a sign-in: that user links new providers from /account."""
    if ctx.user is not None:
        return
    email = ctx.verified_email
    claimed = email or (ctx.profile.email or "").lower() or None
    existing = ctx.db.scalar(select(User).where(func.lower(User.email) == claimed)) if claimed else None
    if existing is None:
        return
    if email is None:
        raise LoginRejected(
            "An account with this email already exists. Sign in with the method you used before, "
            "then link this one from your account page.", code="unverified_email_collision")
    if existing.email_from_scim and _has_identity(ctx.db, existing):
        # Whoever holds a SCIM token could otherwise set an account's address to one they control and sign in to it.
        # An account nobody has signed in to yet is still claimed this way: that is how pre-provisioning works.
        raise LoginRejected(SCIM_EMAIL_NOT_LINKED, code="scim_email_not_linked", user_id=existing.id)
    ctx.user = existing


def _has_identity(session: Session, user: User) -> bool:
    return session.scalar(select(exists().where(Identity.user_id == user.id))) or False


def require_email(ctx: Context) -> None:
    """A new user needs an email we trust: ask for one (and confirm it) when the provider gave none."""
    if ctx.user is None and ctx.verified_email is None:
        raise EmailNeeded(ctx.profile.email)


def refuse_inactive_user(ctx: Context) -> None:
    if ctx.user is not None and ctx.user.status == UserStatus.DISABLED:
        raise LoginRejected("This account is disabled. Contact your administrator.", code="user_disabled")


def place_in_organisation(ctx: Context) -> None:
    """Claim mappings (tid, team, hd) first, then the verified email's domain."""
    hints = dict(ctx.profile.hints)
    for mapping in orgs.mappings_for(ctx.db, ctx.provider.name, hints):
        if mapping.org_id and ctx.org is None:
            ctx.org = ctx.db.get(Organisation, mapping.org_id)
        if mapping.group_name:
            ctx.groups.append(mapping.group_name)
    if ctx.org is None:
        domain = orgs.org_for_domain(ctx.db, orgs.email_domain(ctx.verified_email))
        ctx.org = domain.org if domain else None
    if ctx.org is None and ctx.invite_code:
        # An invitation names its organisation; apply_org_policy then checks and spends it.
        invite = orgs.find_invite(ctx.db, ctx.invite_code)
        ctx.org = ctx.db.get(Organisation, invite.org_id) if invite else None
    if ctx.user is not None and ctx.user.org is not None:
        ctx.org = ctx.user.org  # an existing member stays where the admin put them


def apply_org_policy(ctx: Context) -> None:
    """The organisation decides whether a newcomer may join, and whether they wait for approval."""
    org = ctx.org
    if org is None:
        return
    if org.policy == OrgPolicy.CLOSED:
        raise LoginRejected(f"{org.name} is not accepting sign-ins.", code="org_closed")
    if ctx.user is not None and ctx.user.org_id == org.id:
        return
    if org.policy == OrgPolicy.DOMAIN:
        domains = {d.domain for d in org.domains}
        if orgs.email_domain(ctx.verified_email) not in domains:
            raise LoginRejected(f"{org.name} accepts only verified emails of its own domains.", code="domain_required")
    if org.policy == OrgPolicy.INVITE:
        use_invite(ctx, org)


def use_invite(ctx: Context, org: Organisation) -> None:
    """Spend the one-time code; wrong codes are counted so they can't be guessed."""
    if ctx.invite_throttle is not None:
        ctx.invite_throttle.check(org.id)
    invite = orgs.open_invite(ctx.db, ctx.invite_code, org)
    if invite is None:
        if ctx.invite_code and ctx.invite_throttle is not None:
            ctx.invite_throttle.failed(org.id)
        raise LoginRejected(f"{org.name} requires an invitation. Use the link in your invitation.",
                            code="invite_required")
    # Spent by a conditional UPDATE, not read-then-write: of several sign-ins racing with one code,
    # the database lets exactly one through.
    spent = cast(CursorResult[Any], ctx.db.execute(
        update(Invite).where(Invite.id == invite.id, Invite.used_at.is_(None))
        .values(used_at=datetime.now(UTC)).execution_options(synchronize_session=False)))
    if spent.rowcount != 1:
        raise LoginRejected(f"{org.name} requires an invitation. This one was just used.", code="invite_required")
    ctx.invite_id = invite.id


def record_invite_use(ctx: Context) -> None:
    """Note who spent the invitation, for the admins' records."""
    if ctx.invite_id is not None and ctx.user is not None:
        ctx.db.flush()  # a new user needs its id
        ctx.db.execute(update(Invite).where(Invite.id == ctx.invite_id).values(used_by=ctx.user.id)
                       .execution_options(synchronize_session=False))


def create_or_update_user(ctx: Context) -> None:
    """Make the user (with no form to fill) or refresh their profile as the provider's sync rule says."""
    profile = ctx.profile
    if ctx.user is None:
        ctx.user = User(email=ctx.verified_email, email_verified=True, org=ctx.org, groups=[],
                        is_admin=ctx.verified_email in ctx.admin_emails)
        if ctx.org is not None and ctx.org.policy == OrgPolicy.APPROVAL:
            ctx.user.status = UserStatus.PENDING
        ctx.db.add(ctx.user)
        ctx.created = True
    elif ctx.user.org is None and ctx.org is not None:
        ctx.user.org = ctx.org
    if ctx.created or ctx.provider.profile_sync == "always":
        for name in ("name", "given_name", "family_name", "picture"):
            value = getattr(profile, name)
            if value:
                setattr(ctx.user, name, value)
    ctx.user.groups = sorted(set(ctx.user.groups or []) | set(ctx.groups))


def attach_identity(ctx: Context) -> None:
    if ctx.identity is None:
        ctx.identity = Identity(provider=ctx.provider.name, subject=ctx.profile.subject, user=ctx.user)
        ctx.db.add(ctx.identity)
    ctx.identity.email = ctx.profile.email
    ctx.identity.email_verified = ctx.profile.email_verified
    ctx.identity.claims = {k: v for k, v in ctx.profile.claims.items() if _json_safe(v)}
    ctx.identity.last_login_at = datetime.now(UTC)


def own_the_scim_email(ctx: Context) -> None:
    """The account's own sign-in verified the address an LMS set: from now on it is the owner's, like any other."""
    user = ctx.user
    if user is not None and user.email_from_scim and ctx.verified_email == (user.email or "").lower():
        user.email_from_scim = False


def store_tokens(ctx: Context) -> None:
    """Provider tokens are sealed to this identity's row; only ciphertext reaches the database."""
    assert ctx.identity is not None
    ctx.identity.tokens_sealed = ctx.vault.seal(json.dumps(dict(ctx.tokens)), ctx.identity.seal_context)


def _json_safe(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


STEPS: tuple[Callable[[Context], None], ...] = (
    find_identity,
    link_to_signed_in_user,
    link_by_verified_email,
    require_email,
    refuse_inactive_user,
    place_in_organisation,
    apply_org_policy,
    create_or_update_user,
    record_invite_use,
    attach_identity,
    store_tokens,
    own_the_scim_email,
)


def run(ctx: Context) -> Context:
    """Run every step in order; the caller commits when this returns."""
    for step in STEPS:
        step(ctx)  # autoflush orders the writes; no step needs a flush of its own
    return ctx
