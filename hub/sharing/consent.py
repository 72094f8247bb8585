"""Learner consent, read at plan time (naming) and again at send time (posting), and saved from the account page."""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.models import AuditEvent, Consent
from hub.sharing.rules import posts_as_learner


class Choice(StrEnum):
    ALWAYS = "always"  # post automatically on the learner's own account
    ASK = "ask"  # a share page with a preview the learner confirms, per post
    NEVER = "never"


# The wording the learner agreed to; bump it when the account page's consent text changes.
TEXT_VERSION = "sharing-2026-11"
# Kinds the account page asks about: learner accounts get a choice, org channels the "may they name me?" question.
PREFERENCE_KINDS = ("linkedin", "x", "yammer", "slack", "teams")
ORG_CHANNEL_KINDS = ("yammer", "slack", "teams")
AWAITING_LEARNER = "awaiting the learner: consent is \"ask each time\" (share page)"
CONFIRMED = "share_confirmed"  # the audit action that records a learner's "Post" on the share page


@dataclass(frozen=True)
class Preference:
    """One row of the account page's sharing preferences."""

    kind: str
    choice: str | None  # None: learner-account kinds not asked yet; always None for org-channel-only kinds
    name_in_org_posts: bool
    asks_choice: bool
    asks_name: bool
    updated_at: str | None
    text_version: str | None


def _row(session: Session, user_id: int, destination_kind: str) -> Consent | None:
    return session.scalar(select(Consent).where(Consent.user_id == user_id,
                                                Consent.destination_kind == destination_kind))


def choice_of(session: Session, user_id: int, destination_kind: str) -> str | None:
    """The learner's saved choice for a kind, or None if never asked."""
    row = _row(session, user_id, destination_kind)
    return row.choice if row else None


def confirmed(session: Session, user_id: int, delivery_id: int) -> bool:
    """Did the learner press "Post" for this very delivery on the share page?"""
    return session.scalar(select(AuditEvent.id).where(
        AuditEvent.action == CONFIRMED, AuditEvent.outcome == "success", AuditEvent.user_id == user_id,
        AuditEvent.reason == confirmation_reason(delivery_id)).limit(1)) is not None


def confirmation_reason(delivery_id: int) -> str:
    return f"delivery:{delivery_id}"


def allows(session: Session, user_id: int, destination_kind: str, delivery_id: int | None = None) -> bool:
    """May the hub post on the learner's own account of this kind? "always", or "ask" and they confirmed this one."""
    return _allows(session, _row(session, user_id, destination_kind), user_id, delivery_id)


def refusal(session: Session, user_id: int, destination_kind: str, delivery_id: int) -> str | None:
    """Why this delivery may not go out on the learner's own account now (what it records), or None if it may.

    The sender's one read of the learner's answer per attempt: whether to post, and if not, why."""
    row = _row(session, user_id, destination_kind)
    if _allows(session, row, user_id, delivery_id):
        return None
    if row is not None and row.choice == Choice.ASK:
        return AWAITING_LEARNER  # the share page offers it to the learner
    return f"no consent to post automatically on the learner's {destination_kind} account"


def _allows(session: Session, row: Consent | None, user_id: int, delivery_id: int | None) -> bool:
    # No row: not asked yet. "never" wins over an earlier confirmation (withdrawn after pressing Post).
    if row is None or row.choice == Choice.NEVER:
        return False
    if row.choice == Choice.ALWAYS:
        return True
    return row.choice == Choice.ASK and delivery_id is not None and confirmed(session, user_id, delivery_id)


def names_allowed(session: Session, user_id: int, destination_kind: str) -> bool:
    """May an org-channel post of this kind name the learner? Only if they said so."""
    row = _row(session, user_id, destination_kind)
    return row is not None and row.name_in_org_posts


def preferences(session: Session, user_id: int) -> list[Preference]:
    """What the account page shows, one row per kind, with when and which wording was agreed to."""
    rows = {row.destination_kind: row for row in session.scalars(select(Consent).where(Consent.user_id == user_id))}
    out = []
    for kind in PREFERENCE_KINDS:
        row = rows.get(kind)
        out.append(Preference(
            kind=kind, choice=row.choice if row and posts_as_learner(kind) else None,
            name_in_org_posts=bool(row and row.name_in_org_posts), asks_choice=posts_as_learner(kind),
            asks_name=kind in ORG_CHANNEL_KINDS,
            updated_at=row.updated_at.strftime("%Y-%m-%d %H:%M UTC") if row and row.updated_at else None,
            text_version=row.text_version if row else None))
    return out


def save(session: Session, user_id: int, kind: str, choice: str | None, name_in_org_posts: bool) -> bool:
    """Store one kind's choice with the current wording version; True if anything changed. Raises ValueError."""
    if kind not in PREFERENCE_KINDS:
        raise ValueError(f"kind {kind!r} is not one of {', '.join(PREFERENCE_KINDS)}")
    if posts_as_learner(kind):
        if choice not in set(Choice):
            raise ValueError(f"choice for {kind} must be always, ask or never, not {choice!r}")
    else:
        choice = Choice.NEVER  # org channels: the hub never posts as the learner there
    name = bool(name_in_org_posts) and kind in ORG_CHANNEL_KINDS
    row = _row(session, user_id, kind)
    if row is not None and row.choice == choice and row.name_in_org_posts == name \
            and row.text_version == TEXT_VERSION:
        return False
    row = row or Consent(user_id=user_id, destination_kind=kind)
    row.choice, row.name_in_org_posts, row.text_version = choice, name, TEXT_VERSION
    session.add(row)
    session.flush()
    return True


def withdraw_all(session: Session, user_id: int) -> None:
    """One click undoes everything: never post for me, never name me."""
    for kind in PREFERENCE_KINDS:
        save(session, user_id, kind, Choice.NEVER, False)
