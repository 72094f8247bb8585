"""What the hub tells an LMS about a user: the scopes and the claims each one releases.

`sub` is a random value made for the user the first time an LMS sees them (idp_subjects):
stable across sign-ins, providers and email changes, and it reveals neither the email nor
the user's row id. It is the same for every client (public subject type), so an LMS can
match it with what SCIM sends.
"""
from __future__ import annotations

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
    "profile": ("name", "given_name", "family_name", "picture", "org", "groups"),
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


def user_info(session: Session, user: User, scope: str) -> UserInfo:
    """The claims the granted scopes release, and nothing the user has no value for."""
    granted = set((scope or "").split())
    org = session.get(Organisation, user.org_id) if user.org_id else None
    values = {"name": user.name, "given_name": user.given_name, "family_name": user.family_name,
              "picture": user.picture, "org": org.name if org else None, "groups": list(user.groups or []),
              "email": user.email, "email_verified": bool(user.email_verified)}
    info = UserInfo(sub=subject(session, user))
    for name in (n for s in SCOPES if s in granted for n in SCOPES[s] if n != "sub"):
        if values.get(name) not in (None, ""):
            info[name] = values[name]
    return info
