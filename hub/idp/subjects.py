"""`hub client subjects`: each user's `sub` for an LMS that links its existing accounts before switching to the hub.

An LMS matching users by the Login Attribute `sub` (Canvas) needs it in advance, through SIS import or its own API,
for users who have never signed in through the hub. The sub is made here exactly as a first sign-in makes it
(claims.subject), so that sign-in later finds the same value. Subjects are public (one per user, whatever the
client), so the client is named to check it is live and to audit who the list was for; the organisations are named
by the operator, as for a SCIM token or an LMS source, and nobody outside them is listed (hub/tenancy.py).
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from hub import tenancy
from hub.idp import claims, clients
from hub.models import Erasure, IdpSubject, User, UserStatus


@dataclass(frozen=True)
class Subject:
    """One row of the export: the address the LMS knows the user by, and the sub the hub will sign them in as."""

    email: str
    sub: str


def export(session: Session, client_name: str, reach: tenancy.Reach) -> list[Subject]:
    """email -> sub for the active, not erased users with an email in reach's organisations, by email.

    A user without a sub gets one now (committed, as at sign-in). A revoked client is refused: it signs nobody in.
    """
    client = clients.named(session, client_name)
    if client.revoked_at is not None:
        raise clients.ClientError(f"client {client_name!r} is revoked")
    wanted = select(User).where(reach.where(User.org_id), User.status == UserStatus.ACTIVE, User.email.isnot(None),
                                ~exists(select(Erasure.user_id).where(Erasure.user_id == User.id)))
    users = list(session.scalars(wanted.order_by(User.email, User.id)))
    known = dict(session.execute(select(IdpSubject.user_id, IdpSubject.sub).where(
        IdpSubject.user_id.in_([user.id for user in users]))).tuples().all()) if users else {}
    return [Subject(email=str(user.email), sub=known.get(user.id) or claims.subject(session, user)) for user in users]
