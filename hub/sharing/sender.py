"""Sending one delivery: claim it, re-check who and what at send time, publish, record. Never sleeps."""
from __future__ import annotations

import dataclasses
import hashlib
import logging
from datetime import timedelta
from collections.abc import Callable
from enum import StrEnum
from typing import TypeVar

import redis
from flask import current_app
from sqlalchemy.orm import Session

from hub import redis_conn
from hub.crypto import DecryptionFailed
from hub.models import Connection, Delivery, DeliveryStatus, Event, Rule, User, UserStatus
from hub.sharing import consent, digests, dispatch, limits, outbox, publishing, templates
from hub.sharing.outbox import Policy, aware, utcnow
from hub.sharing.rules import Destination, parse_destination
from providers.base import AuthExpired, Permanent, ProviderError, RateLimited, Transient

log = logging.getLogger(__name__)
S = DeliveryStatus
T = TypeVar("T")


class Outcome(StrEnum):
    GONE = "gone"  # the row no longer exists (its event or user was erased)
    DONE = "done"  # already in a final state: a replayed or duplicate job
    BUSY = "busy"  # another attempt holds a live lease
    NOT_DUE = "not_due"  # next_attempt_at is later: the dispatcher enqueues it then (a stale or early job)
    LOST_RACE = "lost_race"  # another worker claimed it first
    SENT = "sent"
    POSTPONED = "postponed"  # rate limit: pending again at next_attempt_at
    FAILED = "failed"
    DEAD = "dead"
    SKIPPED = "skipped"
    UNKNOWN = "unknown"
    RECOVERING = "recovering"  # lease expired but the lookup could not run yet


def policy() -> Policy:
    return current_app.extensions.get("sharing.policy") or Policy()


def marker(delivery: Delivery) -> str:
    """A stable tag the post carries, so a crashed attempt can be looked up at the provider instead of re-posted."""
    return "hub-" + hashlib.sha256(delivery.key.encode()).hexdigest()[:16]


def deliver(session: Session, delivery_id: int) -> Outcome:
    """Run one delivery job; safe to run twice, concurrently, or after a crash."""
    now = utcnow()
    claimed = outbox.claim(session, delivery_id, policy(), now)  # the common case: one statement leases and reads
    if claimed is not None:
        return _attempt(session, claimed.row, claimed.attempt)
    row = session.get(Delivery, delivery_id)
    if row is None:
        return Outcome.GONE
    if row.status == S.SENDING:
        if aware(row.lease_until) and aware(row.lease_until) > now:  # type: ignore[operator]
            return Outcome.BUSY
        return recover(session, row)
    if row.status not in (S.PENDING, S.FAILED):
        return Outcome.DONE
    if row.next_attempt_at and aware(row.next_attempt_at) > now:  # type: ignore[operator]
        return Outcome.NOT_DUE
    return Outcome.LOST_RACE  # claimable a moment ago, taken by another attempt since


def _attempt(session: Session, row: Delivery, attempt: str) -> Outcome:
    destination = parse_destination(row.destination)
    user = session.get(User, row.user_id) if row.user_id else None
    if row.is_digest:
        post = _digest_post(session, row)
        reason = None if post else "nobody left in this digest"
    else:
        reason = _refusal(session, row, destination, user)
        try:
            post = _post(session, row, destination, user) if reason is None and user is not None else None
        except templates.InvalidTemplate as exc:  # re-rendered without the name: a retry would fail the same way
            outbox.dead(session, row.id, attempt, f"rule {row.rule_id}: {exc}")
            return Outcome.DEAD
    if reason or post is None:
        outbox.skipped(session, row.id, attempt, reason or "nothing to post")
        return Outcome.SKIPPED
    connection = publishing.connection_for(session, destination, row.user_id, _org_of(row, user)) \
        if not destination.is_url else None
    if connection is None and not destination.is_url:
        owner = "the learner's" if destination.on_learner_account else "the organisation's"
        outbox.skipped(session, row.id, attempt, f"no {destination.kind} connection ({owner}) to post with")
        return Outcome.SKIPPED
    bucket = limits.bucket_key(str(destination), connection.remote_id if destination.on_learner_account and
                               connection else None)
    wait = limits.take(redis_conn.get(), bucket, limits.limit_for(destination.kind), str(row.id))
    if wait > 0:
        return _postpone(session, row, attempt, wait, f"{destination.kind} rate limit (hub bucket)")
    try:
        publisher = publishing.publisher_for(session, destination.kind)
        target = publishing.target_for(destination, connection)
        published = _refreshing_once(session, connection, publisher, target, lambda t: publisher.publish(t, post))
    except RateLimited as exc:
        limits.block(redis_conn.get(), bucket, exc.retry_after)
        return _postpone(session, row, attempt, exc.retry_after, f"rate limited: {exc.message}")
    except Transient as exc:
        when = outbox.failed(session, row.id, attempt, row.attempts, exc.message, policy())
        return Outcome.DEAD if when is None else Outcome.FAILED
    except AuthExpired as exc:
        outbox.dead(session, row.id, attempt, f"token refused after a refresh: {exc.message}")
        return Outcome.DEAD
    except (Permanent, ProviderError) as exc:
        outbox.dead(session, row.id, attempt, exc.message)
        return Outcome.DEAD
    except DecryptionFailed as exc:
        outbox.dead(session, row.id, attempt, f"connection tokens do not open ({exc}): connect the account again")
        return Outcome.DEAD
    outbox.sent(session, row.id, attempt, published.remote_id, published.url)
    log.info("delivery %s sent to %s as %s", row.id, destination.kind, published.remote_id)
    return Outcome.SENT


def _refusal(session: Session, row: Delivery, destination: Destination, user: User | None) -> str | None:
    """Why this delivery must not go out now (user gone or disabled, consent withdrawn), or None."""
    if user is None:
        return "the learner no longer exists"
    if user.status == UserStatus.DISABLED:
        return "the learner's account is disabled"
    if destination.on_learner_account and not consent.allows(session, user.id, destination.kind, row.id):
        if consent.choice_of(session, user.id, destination.kind) == consent.Choice.ASK:
            return consent.AWAITING_LEARNER
        return f"no consent to post automatically on the learner's {destination.kind} account"
    if row.text is None:
        return "nothing to post (the message did not render)"
    return None


def _post(session: Session, row: Delivery, destination: Destination, user: User) -> publishing.Post:
    """The post as planned, re-rendered without the learner's name if they withdrew it from org posts."""
    event = session.get(Event, row.event_id) if row.event_id else None
    payload = (event.payload if event else None) or {}
    text = row.text or ""
    name = user.name or user.given_name
    if (not destination.on_learner_account and name and name in text
            and not consent.names_allowed(session, user.id, destination.kind) and event and event.type):
        rule = session.get(Rule, row.rule_id) if row.rule_id else None
        text = templates.render(rule.template if rule else None, event.type, payload, templates.NEUTRAL_NAME)
    context = templates.context_for(event.type if event and event.type else "", payload, "")
    subject = context["subject"]
    return publishing.Post(text=text, link=context["link"], title=subject.get("title"),
                           image_url=subject.get("image_url"), marker=marker(row))


def _refreshing_once(session: Session, connection: Connection | None, publisher: publishing.Publisher,
                     target: publishing.Target, call: Callable[[publishing.Target], T]) -> T:
    """Call the provider; if it says the token expired, refresh the connection once and call again.

    A second AuthExpired goes to the caller (the token is refused even fresh); a URL destination has no token to
    refresh, so its AuthExpired is Permanent."""
    try:
        return call(target)
    except AuthExpired:
        if connection is None:
            raise Permanent(publisher.kind, "the destination refused its credentials") from None
        tokens = publishing.refresh(session, connection, publisher)
        return call(dataclasses.replace(target, tokens=tokens))  # replace keeps the rotation hook


def _org_of(row: Delivery, user: User | None) -> int | None:
    """The organisation whose connection posts: the one planned with the delivery (older rows: the learner's)."""
    return row.org_id if row.org_id is not None or user is None else user.org_id


def _digest_post(session: Session, row: Delivery) -> publishing.Post | None:
    """A digest rendered again from its members as they are now; None when none is left to mention."""
    parts = digests.post_of(session, row)
    if parts is None:
        return None
    text, link, title, image_url = parts
    return publishing.Post(text=text, link=link, title=title, image_url=image_url, marker=marker(row))


def _postpone(session: Session, row: Delivery, attempt: str, seconds: float, reason: str) -> Outcome:
    when = utcnow() + timedelta(seconds=max(seconds, 0.001))
    if outbox.postpone(session, row.id, attempt, when, reason) and seconds < dispatch.INTERVAL:
        try:
            dispatch.wake(redis_conn.get())  # due before the dispatcher's next pass: have it come at the time
        except redis.RedisError:
            pass  # the next pass enqueues it, a little late
    return Outcome.POSTPONED


def recover(session: Session, row: Delivery) -> Outcome:
    """A lease expired mid-send: look for the post by its marker; record it, or park as unknown. Never re-post."""
    attempt = outbox.take_over(session, row.id, policy())
    if attempt is None:
        return Outcome.BUSY
    session.refresh(row)
    destination = parse_destination(row.destination)
    user = session.get(User, row.user_id) if row.user_id else None
    try:
        connection = publishing.connection_for(session, destination, row.user_id, _org_of(row, user)) \
            if not destination.is_url else None
        publisher = publishing.publisher_for(session, destination.kind)
        found = _refreshing_once(session, connection, publisher, publishing.target_for(destination, connection),
                                 lambda t: publisher.find(t, marker(row)))
    except (Transient, RateLimited) as exc:
        # Try the lookup again when this recovery lease lapses (the reconciler comes back).
        outbox.release(session, row.id, attempt, utcnow() + timedelta(seconds=60), f"lookup failed: {exc.message}")
        return Outcome.RECOVERING
    except (ProviderError, DecryptionFailed) as exc:
        outbox.unknown(session, row.id, attempt, f"an attempt crashed mid-send and the lookup failed: {exc}")
        return Outcome.UNKNOWN
    if found is not None:
        outbox.sent(session, row.id, attempt, found.remote_id, found.url)
        return Outcome.SENT
    outbox.unknown(session, row.id, attempt, "an attempt crashed mid-send and the post was not found at the "
                                             "provider: retry to post it, or leave it")
    return Outcome.UNKNOWN
