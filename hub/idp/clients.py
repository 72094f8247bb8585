"""LMS clients: registered by the `hub client` commands; secrets shown once, stored as SHA-256."""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from authlib.oauth2.base import invalid_error_characters
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from hub import names
from hub.config import is_loopback_host
from hub.crypto import token_hash
from hub.errors import HubError
from hub.models import IdpToken, OAuthClient

# What `add` makes ("hubc_" + URL-safe base64). Anything else is unknown without asking the database,
# which PostgreSQL would answer with an error for a NUL byte.
CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class ClientError(HubError):
    """A client command was refused: bad URI, unknown or duplicate name."""


@dataclass(frozen=True)
class Issued:
    client: OAuthClient
    secret: str  # shown to the admin once; only its hash is kept


def _check_uri(uri: str) -> str:
    """Exact-match redirect URIs: https (http only on loopback), no fragment, no userinfo, printable ASCII."""
    if " " in uri or invalid_error_characters(uri):  # RFC 3986 characters only: percent-encode the rest
        raise ClientError(f"{uri!r} is not a valid redirect URI (percent-encode spaces, quotes, backslashes "
                          "and non-ASCII characters)")
    parts = urlsplit(uri)
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.fragment or "@" in parts.netloc:
        raise ClientError(f"{uri!r} is not a valid redirect URI (an absolute http(s) URL without a fragment)")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ClientError(f"{uri!r} must use https (http is allowed only on 127.0.0.1/localhost)")
    return uri


def _new_secret() -> str:
    return "hubcs_" + secrets.token_urlsafe(32)


def add(session: Session, name: str, redirect_uris: list[str], post_logout_uris: list[str] | None = None,
        first_party: bool = False) -> Issued:
    """Register a client; the caller commits."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ClientError("a client name is 1 to 100 characters")
    if hidden := names.problem(name, "NAME"):  # shown on the consent page: "<name> wants to sign you in"
        raise ClientError(hidden)
    if not redirect_uris:
        raise ClientError("a client needs at least one --redirect-uri")
    uris = [_check_uri(u) for u in redirect_uris]
    logout_uris = [_check_uri(u) for u in post_logout_uris or []]
    if session.scalar(select(OAuthClient).where(OAuthClient.name == name)) is not None:
        raise ClientError(f"a client named {name!r} already exists")
    secret = _new_secret()
    client = OAuthClient(name=name, client_id="hubc_" + secrets.token_urlsafe(18), secret_hash=token_hash(secret),
                         redirect_uris=uris, post_logout_uris=logout_uris, first_party=first_party)
    session.add(client)
    session.flush()
    return Issued(client, secret)


def named(session: Session, name: str) -> OAuthClient:
    client = session.scalar(select(OAuthClient).where(OAuthClient.name == name))
    if client is None:
        raise ClientError(f"no client named {name!r}")
    return client


def set_uris(session: Session, name: str, redirect_uris: list[str] | None = None,
             post_logout_uris: list[str] | None = None) -> OAuthClient:
    """Replace a client's redirect URIs, its post-logout URIs, or both (None keeps a list); the caller commits.

    For an LMS registered before its post-logout URI was known (Canvas's /login): removing and adding it again
    would change its client id and secret and drop every grant. Every URI is checked before anything changes.
    """
    client = named(session, name)
    if client.revoked_at is not None:
        raise ClientError(f"client {name!r} is revoked")
    if redirect_uris is None and post_logout_uris is None:
        raise ClientError("nothing to change: give --redirect-uri, --post-logout-uri or --no-post-logout-uris")
    if redirect_uris is not None and not redirect_uris:
        raise ClientError("a client needs at least one --redirect-uri")
    uris = [_check_uri(u) for u in redirect_uris] if redirect_uris is not None else None
    logout_uris = [_check_uri(u) for u in post_logout_uris] if post_logout_uris is not None else None
    if uris is not None:
        client.redirect_uris = list(dict.fromkeys(uris))
    if logout_uris is not None:
        client.post_logout_uris = list(dict.fromkeys(logout_uris))
    return client


def rotate_secret(session: Session, name: str) -> Issued:
    """A new secret at once; the old one stops working (tokens already issued stay valid)."""
    client = named(session, name)
    if client.revoked_at is not None:
        raise ClientError(f"client {name!r} is revoked")
    secret = _new_secret()
    client.secret_hash, client.secret_rotated_at = token_hash(secret), datetime.now(UTC)
    return Issued(client, secret)


def revoke(session: Session, name: str) -> OAuthClient:
    """The client can no longer authenticate, and every token issued to it stops working."""
    client = named(session, name)
    now = datetime.now(UTC)
    client.revoked_at = client.revoked_at or now
    session.execute(update(IdpToken).where(IdpToken.client_pk == client.id, IdpToken.revoked_at.is_(None))
                    .values(revoked_at=now).execution_options(synchronize_session=False))
    return client


def remove(session: Session, name: str) -> None:
    """Delete the client with its codes, tokens and consents (cascade)."""
    client = named(session, name)
    session.execute(delete(OAuthClient).where(OAuthClient.id == client.id))


def active(session: Session, client_id: str | None) -> OAuthClient | None:
    """The client for this id, unless unknown or revoked."""
    if not client_id or not CLIENT_ID.fullmatch(client_id):
        return None
    return session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id,
                                                    OAuthClient.revoked_at.is_(None)))


def describe(client: OAuthClient) -> dict[str, object]:
    """A listing row (never the secret or its hash)."""
    return {"name": client.name, "client_id": client.client_id, "redirect_uris": list(client.redirect_uris),
            "post_logout_uris": list(client.post_logout_uris), "first_party": client.first_party,
            "revoked": client.revoked_at is not None, "created_at": client.created_at,
            "secret_rotated_at": client.secret_rotated_at}
