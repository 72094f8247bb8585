"""The hub as an OpenID Provider: LMS clients, codes, tokens, consents, subjects and signing keys.

Secrets never reach the database in the clear: client secrets, codes, access and refresh
tokens are stored as their SHA-256 (each is 256 random bits, so a plain hash is enough),
and signing keys' private halves are sealed with the hub's vault.
"""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.models import Base, User, utcnow
from hub.models.types import StoredEnum


class KeyState(StrEnum):
    NEXT = "next"  # published in JWKS, not signing yet: RPs learn it before they meet it
    CURRENT = "current"  # signs new ID tokens
    RETIRED = "retired"  # published until the last token it signed has expired


class OAuthClient(Base):
    """An LMS registered with `hub client add`; redirect URIs match exactly."""

    __tablename__ = "idp_clients"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    redirect_uris: Mapped[list] = mapped_column(JSON, default=list)
    post_logout_uris: Mapped[list] = mapped_column(JSON, default=list)
    # First-party clients (the organisation's own LMS) skip the consent screen.
    first_party: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    secret_rotated_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class IdpSubject(Base):
    """The `sub` the hub gives a user: random, stable, never the email or the row id."""

    __tablename__ = "idp_subjects"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    sub: Mapped[str] = mapped_column(String(64), unique=True)


class AuthorizationCode(Base):
    """A one-use code; `grant_id` names every token issued from it (revoked together on replay)."""

    __tablename__ = "idp_codes"
    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    grant_id: Mapped[str] = mapped_column(String(64), index=True)
    client_pk: Mapped[int] = mapped_column(ForeignKey("idp_clients.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text, default="")
    nonce: Mapped[str | None] = mapped_column(Text, default=None)
    code_challenge: Mapped[str | None] = mapped_column(String(128), default=None)
    code_challenge_method: Mapped[str | None] = mapped_column(String(10), default=None)
    auth_time: Mapped[int] = mapped_column(Integer)
    idp: Mapped[str | None] = mapped_column(String(64), default=None)  # the social provider used
    sid: Mapped[str | None] = mapped_column(String(64), default=None)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    client: Mapped[OAuthClient] = relationship()
    user: Mapped[User] = relationship()


class IdpToken(Base):
    """An access token and its refresh token; a refresh makes a new row and marks this one rotated."""

    __tablename__ = "idp_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    grant_id: Mapped[str] = mapped_column(String(64), index=True)
    client_pk: Mapped[int] = mapped_column(ForeignKey("idp_clients.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    access_hash: Mapped[str] = mapped_column(String(64), unique=True)
    refresh_hash: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    scope: Mapped[str] = mapped_column(Text, default="")
    auth_time: Mapped[int] = mapped_column(Integer)
    idp: Mapped[str | None] = mapped_column(String(64), default=None)
    sid: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    access_expires_at: Mapped[datetime] = mapped_column()
    refresh_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    rotated_at: Mapped[datetime | None] = mapped_column(default=None)  # its refresh token was spent
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    client: Mapped[OAuthClient] = relationship()
    user: Mapped[User] = relationship()


class IdpConsent(Base):
    """Scopes a user granted a third-party client, so the consent screen is asked once."""

    __tablename__ = "idp_consents"
    __table_args__ = (UniqueConstraint("user_id", "client_pk"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    client_pk: Mapped[int] = mapped_column(ForeignKey("idp_clients.id", ondelete="CASCADE"))
    scopes: Mapped[list] = mapped_column(JSON, default=list)
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)


class SigningKey(Base):
    """An ID token signing key: next -> current -> retired -> deleted (see hub.idp.keys)."""

    __tablename__ = "idp_signing_keys"
    id: Mapped[int] = mapped_column(primary_key=True)
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    alg: Mapped[str] = mapped_column(String(10), default="RS256")
    state: Mapped[KeyState] = mapped_column(StoredEnum(KeyState, 10), default=KeyState.NEXT)
    public_jwk: Mapped[dict] = mapped_column(JSON)
    private_sealed: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(default=None)
    retired_at: Mapped[datetime | None] = mapped_column(default=None)
    remove_after: Mapped[datetime | None] = mapped_column(default=None)

    @property
    def seal_context(self) -> str:
        return f"idp-key:{self.kid}:private"
