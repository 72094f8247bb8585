"""API tokens for machine clients (an LMS's SCIM sync): random, prefixed, shown once, stored as SHA-256.

The database holds only the hash, so a stolen dump cannot be replayed; the prefix (`hubt_` and a few more
characters) lets an admin tell tokens apart in `hub token list` and in the audit log.
"""
from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import clock, tenancy
from hub.crypto import new_token, token_hash
from hub.errors import HubError
from hub.models import ApiToken, Organisation, Source

PREFIX = "hubt_"
SCOPES = ("scim",)
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
SHOWN_PREFIX = len(PREFIX) + 6
# How often last_used_at is written: a sync sending thousands of requests should not write a row per request.
TOUCH_EVERY = timedelta(minutes=1)


class InvalidToken(HubError):
    """Admin input for a token is wrong; the message says which part."""


@dataclass(frozen=True)
class Created:
    """A new token: `secret` is the only copy there will ever be."""

    id: int
    name: str
    secret: str


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def create(session: Session, *, scope: str, name: str | None = None, expires_days: int | None = None,
           home_page: str | None = None, source: str | None = None, orgs: list[Organisation] | None = None,
           all_orgs: bool = False) -> Created:
    """Make a token reaching `orgs` (or, said explicitly, all organisations); `home_page` (or the xAPI
    `source`'s) is where SCIM externalIds are kept for this LMS."""
    tenancy.check_scope(orgs or [], all_orgs)
    if scope not in SCOPES:
        raise InvalidToken(f"--scope must be one of {', '.join(SCOPES)}")
    if expires_days is not None and not 1 <= expires_days <= 3650:
        raise InvalidToken("--expires-days must be between 1 and 3650")
    existing = set(session.scalars(select(ApiToken.name)))
    if name is None:
        name = next(f"{scope}-{n}" for n in range(1, len(existing) + 2) if f"{scope}-{n}" not in existing)
    if not NAME_PATTERN.match(name):
        raise InvalidToken("--name must be 1 to 64 letters, digits, dots, dashes or underscores")
    if name in existing:
        raise InvalidToken(f"a token called {name!r} already exists")
    if source is not None:
        row = session.scalar(select(Source).where(Source.name == source))
        if row is None or not row.home_page:
            raise InvalidToken(f"--source: no source called {source!r} with a home page")
        home_page = home_page or row.home_page
    secret = new_token(PREFIX)
    token = ApiToken(name=name, scope=scope, token_hash=token_hash(secret), prefix=secret[:SHOWN_PREFIX],
                     home_page=home_page or f"urn:hub:token:{name}",
                     expires_at=clock.now() + timedelta(days=expires_days) if expires_days else None)
    session.add(token)
    session.flush()
    tenancy.scope_token(session, token, orgs or [], all_orgs)
    return Created(id=token.id, name=name, secret=secret)


def verify(session: Session, presented: str | None, scope: str) -> ApiToken | None:
    """The live token with this secret and scope, or None (unknown, revoked, expired or another scope)."""
    if not presented or not presented.startswith(PREFIX) or len(presented) > 200:
        return None
    digest = token_hash(presented)
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    # The lookup is by hash (no timing signal about the secret); compare again in constant time all the same.
    if token is None or not hmac.compare_digest(token.token_hash, digest):
        return None
    now = clock.now()  # the app's clock, which tests move forward to expire a token
    expires = _aware(token.expires_at)
    if token.revoked_at is not None or token.scope != scope or (expires is not None and expires <= now):
        return None
    last = _aware(token.last_used_at)
    if last is None or now - last > TOUCH_EVERY:
        token.last_used_at = now
    return token


def listing(session: Session) -> list[ApiToken]:
    """Every token, newest first (revoked ones too: the list is also a record)."""
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id.desc())))


def find(session: Session, token_id: int) -> ApiToken:
    """The token with this id, or InvalidToken naming it."""
    token = session.get(ApiToken, token_id)
    if token is None:
        raise InvalidToken(f"no token with id {token_id} (see: hub token list)")
    return token


def revoke(session: Session, token_id: int) -> ApiToken:
    """Revoke a token at once; the next request with it gets 401."""
    token = find(session, token_id)
    if token.revoked_at is None:
        token.revoked_at = datetime.now(UTC)
    return token
