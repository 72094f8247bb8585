"""Digests: many events folded into one post, so a burst meets a channel's limit without flooding it.

A digest rule's deliveries are planned `held`, with `next_attempt_at` saying when their digest is due (the end of
the hour or UTC day; in automatic mode, `max_delay` after the event). When a group (rule, organisation,
destination) has a due member, one conditional UPDATE moves the group's held members to `folded` under a new
digest delivery, in the digest's own transaction: a member is in exactly one digest, and the digest is sent by the
same outbox state machine as any post (claim, lease, marker, lookup after a crash), so it goes out exactly once.
The digest's text is rendered again at send time from its members, so a learner erased or who stopped allowing
their name in the meantime is counted out or not named.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, and_, func, select, update
from sqlalchemy.orm import Session

from hub.models import Delivery, DeliveryStatus, Event, Rule, User, UserStatus
from hub.models.sharing import DIGEST_KEY_PREFIX
from hub.sharing import consent, templates
from hub.sharing.outbox import utcnow
from hub.sharing.rules import parse_destination

S = DeliveryStatus
DEFAULT_MAX_DELAY = 600  # automatic mode: seconds a post may wait behind a destination's backlog
NAMES_SHOWN = 3
SUBJECTS_SHOWN = 10
PERIOD = {"hourly": "this hour", "daily": "today", "automatic": "recently"}
VERBS = {
    "course.enrolled": "enrolled in {title}", "course.completed": "completed {title}",
    "badge.awarded": "earned the {title} badge", "certificate.issued": "earned the certificate {title}",
    "level.reached": "reached {title}",
}
BACKLOG = (S.PENDING, S.SENDING, S.FAILED)


def due_at(mode: str, now: datetime, max_delay: int | None) -> datetime:
    """When a member held now is due: the end of its hour or UTC day; automatic: after the rule's max delay."""
    if mode == "hourly":
        return now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    if mode == "daily":
        return now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return now + timedelta(seconds=max_delay or DEFAULT_MAX_DELAY)


def backlog_seconds(session: Session, destination: str, org_id: int | None, per_second: float) -> float:
    """How long a post planned now would wait behind the destination's unsent posts, at its rate limit."""
    waiting = session.scalar(select(func.count(Delivery.id)).where(
        Delivery.destination == destination, _same_org(org_id), Delivery.status.in_(BACKLOG))) or 0
    return waiting / per_second


def should_hold(session: Session, rule: Rule, org_id: int | None, per_second: float) -> bool:
    """Hold for a digest: always in hourly/daily mode; in automatic mode once the backlog passes the max delay."""
    if rule.mode in ("hourly", "daily"):
        return True
    if rule.mode == "automatic":
        limit = rule.max_delay_seconds or DEFAULT_MAX_DELAY
        return backlog_seconds(session, rule.destination, org_id, per_second) > limit
    return False


def fold_due(session: Session, now: datetime | None = None) -> list[int]:
    """Build every digest that is due; returns the new (pending) digest deliveries' ids, committed."""
    now = now or utcnow()
    groups = session.execute(select(Delivery.rule_id, Delivery.org_id, Delivery.destination).where(
        Delivery.status == S.HELD, Delivery.next_attempt_at <= now).distinct()).all()
    built = []
    for rule_id, org_id, destination in groups:
        digest_id = fold(session, rule_id, org_id, destination, now)
        if digest_id is not None:
            built.append(digest_id)
    return built


def fold(session: Session, rule_id: int | None, org_id: int | None, destination: str, now: datetime) -> int | None:
    """Fold one group's held members into a new digest delivery and commit; None if another pass took them."""
    rule = session.get(Rule, rule_id) if rule_id is not None else None
    group = [Delivery.status == S.HELD, Delivery.destination == destination, _same_org(org_id),
             Delivery.rule_id == rule_id if rule_id is not None else Delivery.rule_id.is_(None)]
    if rule is None or rule.mode != "automatic":
        group.append(Delivery.next_attempt_at <= now)  # a window's members; automatic folds all it holds
    disabled = select(User.id).where(User.status == UserStatus.DISABLED)
    session.execute(update(Delivery).where(*group, Delivery.user_id.in_(disabled))
                    .values(status=S.SKIPPED, last_error="the learner's account is disabled",
                            next_attempt_at=None, updated_at=now).execution_options(synchronize_session=False))
    digest = Delivery(key=f"{DIGEST_KEY_PREFIX}{rule_id}:{org_id}:{uuid.uuid4().hex[:20]}", event_id=None,
                      rule_id=rule_id, user_id=None, org_id=org_id, destination=destination,
                      status=S.PENDING)
    session.add(digest)
    session.flush()
    result = cast(CursorResult[Any], session.execute(
        update(Delivery).where(*group).values(status=S.FOLDED, digest_id=digest.id, next_attempt_at=None,
                                              updated_at=now)
        .execution_options(synchronize_session=False)))
    if result.rowcount == 0:
        session.rollback()
        return None
    digest.text = render(session, digest, rule.mode if rule else "hourly")
    if digest.text is None:
        digest.status, digest.last_error = S.SKIPPED, "nobody left in this digest"
    session.commit()
    return digest.id if digest.status == S.PENDING else None


@dataclass
class _Subject:
    event_type: str
    title: str
    link: str | None
    image_url: str | None
    learners: list[int] = field(default_factory=list)


def subjects(session: Session, digest: Delivery) -> list[_Subject]:
    """The digest's members grouped by what they did and to what, biggest group first (users still here only)."""
    rows = session.execute(
        select(Delivery.user_id, Event.type, Event.payload).join(Event, Event.id == Delivery.event_id)
        .join(User, User.id == Delivery.user_id)
        .where(Delivery.digest_id == digest.id, User.status != UserStatus.DISABLED)
        .order_by(Delivery.id)).all()
    grouped: dict[tuple[str, str], _Subject] = {}
    for user_id, event_type, payload in rows:
        context = templates.context_for(event_type or "", payload or {}, "")
        subject = context["subject"]
        title = str(subject.get("title") or subject.get("name") or subject.get("number") or "")
        key = (event_type or "", str(subject.get("id") or title))
        entry = grouped.setdefault(key, _Subject(event_type or "", title, context["link"], subject.get("image_url")))
        if user_id not in entry.learners:
            entry.learners.append(user_id)
    return sorted(grouped.values(), key=lambda s: -len(s.learners))


def render(session: Session, digest: Delivery, mode: str, found: list[_Subject] | None = None) -> str | None:
    """'12 learners completed Security Basics today: Ada Lovelace, Alan Turing and 10 others.' per subject."""
    kind = parse_destination(digest.destination).kind
    lines = []
    found = subjects(session, digest) if found is None else found
    for subject in found[:SUBJECTS_SHOWN]:
        named = [name for user_id in subject.learners
                 if consent.names_allowed(session, user_id, kind) and (name := _name(session, user_id))]
        lines.append(line(len(subject.learners), subject.event_type, subject.title, named, mode))
    if len(found) > SUBJECTS_SHOWN:
        lines.append(f"…and {len(found) - SUBJECTS_SHOWN} more.")
    return "\n".join(lines)[:templates.MAX_TEXT] if lines else None


def line(count: int, event_type: str, title: str, named: list[str], mode: str) -> str:
    """One subject's sentence; names only those given (who allowed it), the rest as a count."""
    what = VERBS.get(event_type, "did {title}").format(title=title)
    text = f"{count} {'learner' if count == 1 else 'learners'} {what} {PERIOD.get(mode, 'recently')}"
    if named:
        shown = named[:NAMES_SHOWN]
        others = count - len(shown)
        text += ": " + ", ".join(shown) + (f" and {others} {'other' if others == 1 else 'others'}" if others else "")
    return text + "."


def sample(mode: str, event_type: str) -> str:
    """What a digest of this rule looks like, for previews: 12 learners, two of whom allowed their names."""
    subject = templates.context_for(event_type, templates.SAMPLE_PAYLOAD, "")["subject"]
    title = str(subject.get("title") or subject.get("name") or "")
    return line(12, event_type, title, ["Ada Lovelace", "Alan Turing"], mode)


def post_of(session: Session, digest: Delivery) -> tuple[str, str | None, str | None, str | None] | None:
    """(text, link, title, image) of the digest as it goes out now, from the members still here; None if none is.

    A digest about one course or badge links to it; one about several links to none."""
    found = subjects(session, digest)
    rule = session.get(Rule, digest.rule_id) if digest.rule_id is not None else None
    text = render(session, digest, rule.mode if rule else "hourly", found)
    if text is None:
        return None
    one = found[0] if len(found) == 1 else None
    return text, one.link if one else None, one.title if one else None, one.image_url if one else None


def _name(session: Session, user_id: int) -> str | None:
    user = session.get(User, user_id)
    return (user.name or user.given_name) if user else None


def _same_org(org_id: int | None) -> ColumnElement[bool]:
    return Delivery.org_id.is_(None) if org_id is None else and_(Delivery.org_id == org_id)

