"""xAPI credentials of a source: a Basic key/secret pair (Moodle) and a Bearer token (Open edX may use either).

Secrets are random 256-bit tokens, so a plain SHA-256 is enough to store them: nothing to brute-force.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.models import Source


@dataclass(frozen=True)
class XapiCredentials:
    """What an admin types into the LMS; shown once, only hashes are kept."""

    key: str
    secret: str
    bearer: str


def hash_secret(secret: str) -> str:
    """The stored form of a secret or token."""
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_credentials(source: Source) -> XapiCredentials:
    """New credentials for a source (replacing any it had); the caller commits and shows them once."""
    credentials = XapiCredentials(key=f"xapi_{secrets.token_hex(8)}", secret=secrets.token_urlsafe(32),
                                  bearer=secrets.token_urlsafe(32))
    source.xapi_key = credentials.key
    source.xapi_secret_hash = hash_secret(credentials.secret)
    source.xapi_bearer_hash = hash_secret(credentials.bearer)
    return credentials


def authenticate(session: Session, authorization: str | None) -> Source | None:
    """The enabled source these credentials belong to, or None (the caller answers 401)."""
    scheme, _, value = (authorization or "").strip().partition(" ")
    value = value.strip()
    if not value:
        return None
    if scheme.lower() == "basic":
        try:
            key, sep, secret = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        if not sep:
            return None
        source = session.scalar(select(Source).where(Source.xapi_key == key))
        stored = source.xapi_secret_hash if source is not None else None
        if source is None or stored is None or not hmac.compare_digest(stored, hash_secret(secret)):
            return None
    elif scheme.lower() == "bearer":
        # The lookup is by hash, so comparing the token itself never happens and leaks no timing.
        source = session.scalar(select(Source).where(Source.xapi_bearer_hash == hash_secret(value)))
    else:
        return None
    return source if source is not None and source.enabled else None
