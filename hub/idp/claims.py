"""What the hub tells an LMS about a user: the scopes and the claims each one releases.

`sub` is a random value made for the user the first time an LMS sees them (idp_subjects):
stable across sign-ins, providers and email changes, and it reveals neither the email nor
the user's row id. It is the same for every client (public subject type), so an LMS can
match it with what SCIM sends.

`preferred_username` is the same value spelled for LMS username rules (see `username`): LMSs that
make accounts from it (Open edX, Moodle) keep the username for good, so it must never change with
the email or the name, and it is shown to other learners, so it must not be the email.
"""
from __future__ import annotations

import base64
import hashlib
import secrets

from authlib.oidc.core import UserInfo
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.models import IdpSubject, Organisation, User

# profile also carries org and groups: every LMS asks for "openid profile email", and few can
# ask for a custom scope, while most can map extra claims of the ID token or userinfo.
SCOPES: dict[str, tuple[str, ...]] = {
    "openid": ("sub",),
    "profile": ("name", "given_name", "family_name", "preferred_username", "picture", "org", "groups"),
    "email": ("email", "email_verified"),
}
CLAIMS_SUPPORTED = sorted({c for names in SCOPES.values() for c in names} | {"amr", "idp", "sid", "auth_time"})


def subject(session: Session, user: User) -> str:
    """The user's `sub`, created on first use (a race between two requests keeps the first)."""
    found = session.scalar(select(IdpSubject.sub).where(IdpSubject.user_id == user.id))
    if found:
        return found
    sub = secrets.token_urlsafe(16)
    try:
        with session.begin_nested():
            session.add(IdpSubject(user_id=user.id, sub=sub))
    except IntegrityError:
        return session.scalar(select(IdpSubject.sub).where(IdpSubject.user_id == user.id)) or sub
    session.commit()
    return sub


def username(sub: str) -> str:
    """`preferred_username`: "u" and the sub's 16 random bytes in lower-case base32, 27 characters of [a-z2-7].

    One-to-one with the sub, so unique and as stable as it, and valid everywhere an LMS makes a username: Moodle
    wants lower case, Open edX 2-30 characters of letters, digits and "_-.@+", Canvas a login id. A sub that is
    not the canonical base64url of 16 bytes (none is made otherwise; two spellings of the same bytes would share a
    name) is hashed instead.
    """
    try:
        raw = base64.urlsafe_b64decode(sub + "==") if len(sub) == 22 else b""
    except ValueError:
        raw = b""
    if len(raw) != 16 or base64.urlsafe_b64encode(raw).decode().rstrip("=") != sub:
        raw = hashlib.sha256(sub.encode()).digest()[:16]
    return "u" + base64.b32encode(raw).decode().rstrip("=").lower()


def user_info(session: Session, user: User, scope: str) -> UserInfo:
    """The claims the granted scopes release, and nothing the user has no value for (no empty string or list)."""
    granted = set((scope or "").split())
    org = session.get(Organisation, user.org_id) if user.org_id else None
    sub = subject(session, user)
    values = {"name": user.name, "given_name": user.given_name, "family_name": user.family_name,
              "preferred_username": username(sub), "picture": user.picture, "org": org.name if org else None,
              "groups": list(user.groups or []), "email": user.email, "email_verified": bool(user.email_verified)}
    info = UserInfo(sub=sub)
    for name in (n for s in SCOPES if s in granted for n in SCOPES[s] if n != "sub"):
        if values.get(name) not in (None, "", []):
            info[name] = values[name]
    return info
