"""Models for the LMS-facing admin APIs: API tokens (SCIM), erasure records and SCIM resource versions.

Imported by hub.models so Alembic sees them; the behaviour lives in hub/tokens.py, hub/scim/ and hub/deprovision.py.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hub.models import Base, utcnow


class ApiToken(Base):
    """A bearer token for a machine client (an LMS's SCIM sync); only its SHA-256 is stored, shown once."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[str] = mapped_column(String(32))  # "scim"
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # the first characters, so admins can tell tokens apart
    # The LMS's account homePage: SCIM externalId is stored as LmsAccount(home_page, external_id), which is what
    # the xAPI intake matches an actor.account against.
    home_page: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    # Which organisations it reaches: every one (said explicitly), else the rows of api_token_orgs.
    all_orgs: Mapped[bool] = mapped_column(Boolean, default=False)
    # Made before organisations were tenants and kept working as all-orgs: listings flag it for narrowing.
    all_orgs_by_migration: Mapped[bool] = mapped_column(Boolean, default=False)


class ApiTokenOrg(Base):
    """An organisation a scoped API token reaches."""

    __tablename__ = "api_token_orgs"
    token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id", ondelete="CASCADE"), primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True)


class Erasure(Base):
    """A user erased at their request (GDPR art. 17): the row stays, personal data gone, only this pseudonym left."""

    __tablename__ = "erasures"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    # HMAC of the former email under the secret key: answers "was this address erased?" without storing it.
    pseudonym: Mapped[str] = mapped_column(String(64))
    erased_at: Mapped[datetime] = mapped_column(default=utcnow)


class ScimVersion(Base):
    """When a SCIM resource (a user or an organisation) was last changed through SCIM, and a User's own userName
    when the LMS's userName is not an email address (the hub's users are otherwise named by their email)."""

    __tablename__ = "scim_versions"
    resource_type: Mapped[str] = mapped_column(String(16), primary_key=True)  # "User" | "Group"
    resource_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    user_name: Mapped[str | None] = mapped_column(String(320), default=None, unique=True)
    # A Group's externalId (a User's lives in lms_accounts, where the xAPI intake reads it).
    external_id: Mapped[str | None] = mapped_column(String(255), default=None)
