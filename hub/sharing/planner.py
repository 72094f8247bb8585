"""Turn one stored event into outbox rows, in the event's own transaction (so both commit or neither)."""
from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import audit, tenancy
from hub.models import Delivery, DeliveryStatus, Event, Rule, Source, User
from hub.sharing import budgets, consent, digests, limits, templates
from hub.sharing.outbox import utcnow
from hub.sharing.rules import parse_destination, rules_for

KEY_LIMIT = 128  # deliveries.key length
OUTSIDE_SOURCE = "learner outside the source's organisations"


def delivery_key(event_id: int, rule_id: int, destination: str) -> str:
    """The outbox's unique key; long destinations (webhook URLs) are hashed to fit."""
    key = f"{event_id}:{rule_id}:{destination}"
    if len(key) <= KEY_LIMIT:
        return key
    return f"{event_id}:{rule_id}:sha256:{hashlib.sha256(destination.encode()).hexdigest()}"


def learner_name(session: Session, user: User, rule: Rule, own_account: bool) -> str:
    """The name a post shows: the learner's own on their account; in org channels only with their consent."""
    name = user.name or user.given_name or templates.NEUTRAL_NAME
    if own_account:
        return name
    return name if consent.names_allowed(session, user.id, parse_destination(rule.destination).kind) \
        else templates.NEUTRAL_NAME


def source_reach(session: Session, source_id: int) -> tenancy.Reach:
    """The organisations whose learners this source's events may name (nowhere, for a source that is gone)."""
    source = session.get(Source, source_id)
    return tenancy.of_source(session, source) if source is not None else tenancy.NOWHERE


def plan(session: Session, event: Event, reach: tenancy.Reach | None = None) -> list[int]:
    """Create one delivery per matching (event, rule, destination); a replayed event plans nothing new.

    `reach` is the event's source's (the dispatcher reads it once per batch); by default it is read here.
    Returns the new pending deliveries' ids; the dispatcher enqueues them once the caller has committed.
    """
    if event.type is None or event.user_id is None:
        return []  # stored and ignored, or a learner the hub does not know: nobody to post about
    user = session.get(User, event.user_id)
    if user is None:
        return []
    if event.id is None:
        session.flush()
    reach = reach if reach is not None else source_reach(session, event.source_id)
    if not reach.allows(user.org_id):
        _refuse_outsider(session, event, user)
        return []
    matched = rules_for(session, user.org_id, event)
    keys = {rule.id: delivery_key(event.id, rule.id, rule.destination) for rule in matched}
    existing = set(session.scalars(select(Delivery.key).where(Delivery.key.in_(list(keys.values()))))) \
        if keys else set()
    created: list[Delivery] = []
    for rule in matched:
        if keys[rule.id] in existing:
            continue
        destination = parse_destination(rule.destination)
        own = destination.on_learner_account
        status, error, text, due, cost = DeliveryStatus.PENDING, None, None, None, None
        if not own and digests.should_hold(session, rule, user.org_id, limits.limit_for(destination.kind).per_second):
            # Folded into the rule's digest when it is due (hub/sharing/digests.py); its text is the digest's.
            status, due = DeliveryStatus.HELD, digests.due_at(rule.mode, utcnow(), rule.max_delay_seconds)
        else:
            try:
                text = templates.render(rule.template, event.type, event.payload or {},
                                        learner_name(session, user, rule, own), own_account=own,
                                        without_link=rule.without_link)
                link = None if rule.without_link else templates.context_for(event.type, event.payload or {}, "")["link"]
                cost = budgets.post_cost(destination.kind, text, link)  # shown to admins; billed at send time
            except templates.InvalidTemplate as exc:
                # The event must still be stored (the LMS would retry forever); the admin sees why nothing went out.
                status, error = DeliveryStatus.DEAD, f"rule {rule.id}: {exc}"
        delivery = Delivery(key=keys[rule.id], event_id=event.id, rule_id=rule.id, user_id=user.id,
                            org_id=user.org_id, destination=rule.destination, status=status, text=text,
                            last_error=error, next_attempt_at=due, cost_micros=cost)
        session.add(delivery)
        created.append(delivery)
    if created:
        session.flush()
    return [d.id for d in created if d.status == DeliveryStatus.PENDING]


def _refuse_outsider(session: Session, event: Event, user: User) -> None:
    """An event naming a learner outside its source's organisations: kept (the LMS got its 2xx and must not retry),
    unlinked from the learner, planned into nothing, and audited.

    The audit row is filed under the learner's organisation: its admins are the ones whose learner another LMS
    named, and the ones who need to know (the row names the source, so they can ask the hub's operators to fix or
    narrow it). Filed under the source's organisations instead, it would tell that LMS's admins that the address
    belongs to a hub user behind another wall: the membership oracle the wall exists to close. Hub admins see the
    row either way."""
    source = session.get(Source, event.source_id)
    name = source.name if source is not None else str(event.source_id)
    event.user_id = None  # the stored event resolves no one: nothing later reads it as this learner's
    audit.record("event.outside_source", "ignored", user_id=user.id, actor=f"source:{name}", reason=OUTSIDE_SOURCE,
                 org_id=user.org_id, detail={"source": name, "event_id": event.id, "external_id": event.external_id},
                 commit=False)
