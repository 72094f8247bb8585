"""SQLAlchemy 2 models; Alembic migrations live in models/migrations."""
from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import overload

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, func, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from hub.models.types import StoredEnum


def utcnow() -> datetime:
    return datetime.now(UTC)


# The largest primary key every supported database holds: an Integer key is PostgreSQL's 32-bit `integer` (and
# SQLAlchemy's psycopg dialect casts bound ids to it, so a larger one is an error there, not "no row").
MAX_KEY = 2**31 - 1


@overload
def aware(moment: datetime) -> datetime: ...
@overload
def aware(moment: None) -> None: ...
@overload
def aware(moment: datetime | None) -> datetime | None: ...
def aware(moment: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; every stored time is UTC."""
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: DateTime(timezone=True), dict: JSON, list: JSON}


class OrgPolicy(StrEnum):
    OPEN = "open"  # anyone who signs in joins
    DOMAIN = "domain"  # only verified emails of the org's domains
    INVITE = "invite"  # only with a one-time invitation code
    APPROVAL = "approval"  # joins as pending until an admin approves
    CLOSED = "closed"  # nobody joins; existing members are refused


class UserStatus(StrEnum):
    ACTIVE = "active"
    PENDING = "pending"
    DISABLED = "disabled"


class Organisation(Base):
    __tablename__ = "organisations"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    policy: Mapped[OrgPolicy] = mapped_column(StoredEnum(OrgPolicy, 20), default=OrgPolicy.OPEN)
    # Users deactivated this many days ago are erased by the worker's sweep (hub/deprovision.py); None: never.
    erase_after_days: Mapped[int | None] = mapped_column(Integer, default=None)
    # The mass-suspension guard: SCIM deactivations beyond this percentage of the organisation within an hour,
    # and beyond guard_min users, are held for an admin (hub/deprovision.py).
    guard_share: Mapped[int] = mapped_column(Integer, default=10)
    guard_min: Mapped[int] = mapped_column(Integer, default=5)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    domains: Mapped[list[OrgDomain]] = relationship(back_populates="org", cascade="all, delete-orphan")


class OrgDomain(Base):
    """An email domain of an organisation, optionally with its home provider (home-realm discovery)."""

    __tablename__ = "org_domains"
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    domain: Mapped[str] = mapped_column(String(255), unique=True)
    provider: Mapped[str | None] = mapped_column(String(64), default=None)
    org: Mapped[Organisation] = relationship(back_populates="domains")


class ClaimMapping(Base):
    """A provider claim value (Microsoft tid, Slack team, Google hd) that places users in an org or group."""

    __tablename__ = "claim_mappings"
    __table_args__ = (UniqueConstraint("provider", "claim", "value", "group_name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(64))
    claim: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(String(255))
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), default=None)
    group_name: Mapped[str | None] = mapped_column(String(200), default=None)


class User(Base):
    __tablename__ = "users"
    # Emails are matched case-insensitively (sign-in linking, LMS events naming the learner by email).
    __table_args__ = (Index("ix_users_email_lower", func.lower(text("email"))),)
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320), unique=True, default=None)
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    name: Mapped[str | None] = mapped_column(String(200), default=None)
    given_name: Mapped[str | None] = mapped_column(String(200), default=None)
    family_name: Mapped[str | None] = mapped_column(String(200), default=None)
    picture: Mapped[str | None] = mapped_column(Text, default=None)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), default=None)
    status: Mapped[UserStatus] = mapped_column(StoredEnum(UserStatus, 20), default=UserStatus.ACTIVE)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    groups: Mapped[list] = mapped_column(JSON, default=list)
    # Bumped by "sign out everywhere": sessions carry the epoch they began in.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    # The address was set or changed through SCIM: usable for the LMS handoff, but never a reason to link a new
    # sign-in identity to an account that already has one (hub/auth/pipeline.py).
    email_from_scim: Mapped[bool] = mapped_column(Boolean, default=False)
    # When the user was last deactivated (the grace period counts from it) and through what ("scim" counts towards
    # the mass-suspension guard); both cleared when they are enabled again.
    disabled_at: Mapped[datetime | None] = mapped_column(default=None)
    disabled_via: Mapped[str | None] = mapped_column(String(16), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    org: Mapped[Organisation | None] = relationship()
    identities: Mapped[list[Identity]] = relationship(back_populates="user", cascade="all, delete-orphan")


class Identity(Base):
    """A social account linked to a user, keyed by (provider, subject)."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("provider", "subject"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320), default=None)
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    claims: Mapped[dict] = mapped_column(JSON, default=dict)
    tokens_sealed: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)
    user: Mapped[User] = relationship(back_populates="identities")

    @property
    def seal_context(self) -> str:
        return f"identity:{self.provider}:{self.subject}:tokens"


class ProviderConfig(Base):
    """An admin-configured sign-in provider; `name` is its URL segment."""

    __tablename__ = "providers"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    client_id: Mapped[str] = mapped_column(String(255))
    client_secret_sealed: Mapped[str] = mapped_column(Text)
    issuer: Mapped[str | None] = mapped_column(Text, default=None)
    scopes: Mapped[list] = mapped_column(JSON, default=list)
    api_base: Mapped[str | None] = mapped_column(Text, default=None)
    auth_base: Mapped[str | None] = mapped_column(Text, default=None)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Hidden providers are absent from the sign-in page and serve only to link accounts.
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    # "always": profile fields refresh at every login; "create": only when the user is made.
    profile_sync: Mapped[str] = mapped_column(String(10), default="always")
    # Provider-specific allow-lists (tenants, hd, teams) and other options.
    options: Mapped[dict] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def seal_context(self) -> str:
        return f"provider:{self.name}:client_secret"


class Invite(Base):
    __tablename__ = "invites"
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(320), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    used_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)


class PendingSignup(Base):
    """A sign-in waiting for the user to confirm an email by a one-time link; nothing else exists yet."""

    __tablename__ = "pending_signups"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    provider: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320), default=None)
    # Profile and tokens, sealed together: they hold personal data.
    payload_sealed: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column(default=None)

    @property
    def seal_context(self) -> str:
        return f"pending:{self.provider}:{self.subject}:payload"


class MailStatus(StrEnum):
    PENDING = "pending"  # not sent yet: a job (or the periodic flush) sends it at next_attempt_at
    SENT = "sent"  # the SMTP server took it (sent_at)
    FAILED = "failed"  # every attempt failed (last_error); kept, listed by `hub mail list --status failed`


MAIL_UNSENT = "status = 'pending'"  # the flush's work list


class MailMessage(Base):
    """Outgoing mail, kept so nothing is lost when SMTP is down and so the demo can show it."""

    __tablename__ = "mail_outbox"
    # The periodic flush reads only the unsent few, however much sent mail is kept.
    __table_args__ = (Index("ix_mail_outbox_unsent", "id", sqlite_where=text(MAIL_UNSENT),
                            postgresql_where=text(MAIL_UNSENT)),)
    id: Mapped[int] = mapped_column(primary_key=True)
    to: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    status: Mapped[str] = mapped_column(String(10), default=MailStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # attempts begun (each one claims the row)
    # Pending: not before this (a retry's backoff, or the lease of the attempt under way); NULL: at once.
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)


class OrgAdmin(Base):
    """An organisation admin: sees and changes only this organisation's objects (hub/tenancy.py)."""

    __tablename__ = "org_admins"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True)


class UserSession(Base):
    """A signed-in browser session, kept on the server so signing out ends it for any copy of the cookie.

    Only the SHA-256 of the session's secret id is stored; the cookie carries the id itself."""

    __tablename__ = "user_sessions"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)


class AuditEvent(Base):
    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    # The organisation the action concerns, so an organisation admin sees its own audit log (None: hub-level).
    org_id: Mapped[int | None] = mapped_column(Integer, default=None, index=True)
    ref: Mapped[str] = mapped_column(String(32), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    action: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int | None] = mapped_column(Integer, default=None)
    actor: Mapped[str | None] = mapped_column(String(320), default=None)
    provider: Mapped[str | None] = mapped_column(String(64), default=None)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    ip: Mapped[str | None] = mapped_column(String(64), default=None)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


from hub.models.budgets import PostingBudget, PostingSpend  # noqa: E402,F401  (registered on Base.metadata)
from hub.models.deprovisioning import DeprovisioningHold, HoldStatus  # noqa: E402,F401  (registered on Base.metadata)
from hub.models.idp import (  # noqa: E402,F401  (registered on Base.metadata)
    AuthorizationCode,
    IdpConsent,
    IdpSubject,
    IdpToken,
    KeyState,
    OAuthClient,
    SigningKey,
)
from hub.models.scim import ApiToken, ApiTokenOrg, Erasure, ScimVersion  # noqa: E402,F401  (registered on Base.metadata)
from hub.models.sharing import (  # noqa: E402,F401  (registered on Base.metadata for Alembic)
    Connection,
    Consent,
    Delivery,
    DeliveryStatus,
    Event,
    EventType,
    LmsAccount,
    Rule,
    Source,
    SourceOrg,
)
from hub.models.tiles import Tile, TileAudience, TileItem  # noqa: E402,F401  (registered on Base.metadata)
