"""Learner consent, read at plan time (naming) and again at send time (posting)."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.models import Consent


def _row(session: Session, user_id: int, destination_kind: str) -> Consent | None:
    return session.scalar(select(Consent).where(Consent.user_id == user_id,
                                                Consent.destination_kind == destination_kind))


def allows(session: Session, user_id: int, destination_kind: str) -> bool:
    """May the hub post automatically on the learner's own account of this kind? Only with "always"."""
    row = _row(session, user_id, destination_kind)
    # "ask" means a share page with a preview the learner confirms: never an automatic post. No row: not asked yet.
    return row is not None and row.choice == "always"


def names_allowed(session: Session, user_id: int, destination_kind: str) -> bool:
    """May an org-channel post of this kind name the learner? Only if they said so."""
    row = _row(session, user_id, destination_kind)
    return row is not None and row.name_in_org_posts
