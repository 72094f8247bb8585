"""Sending one delivery: claim it, then a tuple of small steps over one attempt, each one decision. Never sleeps.

After the claim, STEPS run in order over one Attempt, as sign-in's provisioning does (hub/auth/pipeline.py): load
the learner, refuse one gone or disabled, check consent (read once), render the post (once), find the connection,
take a token from the destination's limit, set its cost aside from the organisation's budget (billed networks), publish,
record. A step either fills in the attempt and returns None,
or finishes the delivery in the outbox (skipped, dead, postponed, failed, sent) and returns that Outcome, and the
steps after it do not run. A lease that expired mid-send is never sent again here: recover() looks the post up.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import TypeVar

import redis
from flask import current_app
from sqlalchemy.orm import Session

from hub import provider_access, redis_conn
from hub.crypto import DecryptionFailed
from hub.models import Connection, Delivery, DeliveryStatus, Event, Rule, User, UserStatus
from hub.sharing import budgets, consent, digests, dispatch, limits, outbox, publishing, templates
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
    OVER_BUDGET = "over_budget"  # past the organisation's monthly budget: pending again when the next month opens


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
        if row.lease_until is not None and aware(row.lease_until) > now:
            return Outcome.BUSY
        return recover(session, row)
    if row.status not in (S.PENDING, S.FAILED):
        return Outcome.DONE
    if row.next_attempt_at and aware(row.next_attempt_at) > now:
        return Outcome.NOT_DUE
    return Outcome.LOST_RACE  # claimable a moment ago, taken by another attempt since


@dataclass
class Attempt:
    """One attempt at one claimed delivery: what the steps found so far."""

    session: Session
    row: Delivery
    lease: str  # the attempt id the claim wrote: every outbox finish names it, so a stale attempt changes nothing
    destination: Destination
    user: User | None = None
    anonymous: bool = False  # an org-channel post whose learner withdrew their name: it goes out without it
    post: publishing.Post | None = None
    connection: Connection | None = None  # None for a URL destination (it carries its own secret)
    bucket: str = ""
    reservation: budgets.Reservation | None = None  # money set aside for this post (a billed network)
    published: publishing.Published | None = None

    def skip(self, reason: str) -> Outcome:
        outbox.skipped(self.session, self.row.id, self.lease, reason)
        return Outcome.SKIPPED

    def dead(self, reason: str) -> Outcome:
        outbox.dead(self.session, self.row.id, self.lease, reason)
        return Outcome.DEAD


def load_learner(ctx: Attempt) -> Outcome | None:
    """The learner the delivery is about, as they are now: None once erased (and for a digest, which has none)."""
    ctx.user = ctx.session.get(User, ctx.row.user_id) if ctx.row.user_id else None
    return None


def refuse_gone_learner(ctx: Attempt) -> Outcome | None:
    """Nothing goes out about a learner erased or disabled since the delivery was planned."""
    if ctx.row.is_digest:
        return None  # its members are counted afresh when it renders
    if ctx.user is None:
        return ctx.skip("the learner no longer exists")
    if ctx.user.status == UserStatus.DISABLED:
        return ctx.skip("the learner's account is disabled")
    return None


def check_consent(ctx: Attempt) -> Outcome | None:
    """Read once per attempt, at send time: on the learner's own account, may the hub post? In an org channel, may
    the post name them? (Only asked when the planned text does.)"""
    if ctx.row.is_digest or ctx.user is None:
        return None  # a digest asks each member's consent to be named as it renders
    kind = ctx.destination.kind
    if ctx.destination.on_learner_account:
        reason = consent.refusal(ctx.session, ctx.user.id, kind, ctx.row.id)
        return ctx.skip(reason) if reason else None
    name = ctx.user.name or ctx.user.given_name
    named = bool(name and name in (ctx.row.text or ""))
    ctx.anonymous = named and not consent.names_allowed(ctx.session, ctx.user.id, kind)
    return None


def render_post(ctx: Attempt) -> Outcome | None:
    """The post, rendered once: the text as planned, or the rule's template again without the name withdrawn."""
    if ctx.row.is_digest:
        ctx.post = _digest_post(ctx.session, ctx.row)
        return None if ctx.post else ctx.skip("nobody left in this digest")
    if ctx.row.text is None:
        return ctx.skip("nothing to post (the message did not render)")
    event = ctx.session.get(Event, ctx.row.event_id) if ctx.row.event_id else None
    event_type = event.type if event and event.type else ""
    payload = (event.payload if event else None) or {}
    text = ctx.row.text
    rule = ctx.session.get(Rule, ctx.row.rule_id) if ctx.row.rule_id else None
    without_link = bool(rule and rule.without_link)
    if ctx.anonymous and event_type:
        try:
            text = templates.render(rule.template if rule else None, event_type, payload, templates.NEUTRAL_NAME,
                                    without_link=without_link)
        except templates.InvalidTemplate as exc:  # re-rendered without the name: a retry would fail the same way
            return ctx.dead(f"rule {ctx.row.rule_id}: {exc}")
    context = templates.context_for(event_type, payload, "")
    subject = context["subject"]
    ctx.post = publishing.Post(text=text, link=None if without_link else context["link"], title=subject.get("title"),
                               image_url=subject.get("image_url"), marker=marker(ctx.row))
    return None


def find_connection(ctx: Attempt) -> Outcome | None:
    """The account that posts: the learner's own for their accounts, the organisation's for its channels."""
    if ctx.destination.is_url:
        return None
    org_id = _org_of(ctx.row, ctx.user)
    ctx.connection = publishing.connection_for(ctx.session, ctx.destination, ctx.row.user_id, org_id)
    if ctx.connection is None:
        owner = "the learner's" if ctx.destination.on_learner_account else "the organisation's"
        return ctx.skip(f"no {ctx.destination.kind} connection ({owner}) to post with")
    return None


def take_limit(ctx: Attempt) -> Outcome | None:
    """A token from the destination's bucket (per learner account for posts as the learner), or come back later."""
    account = ctx.connection.remote_id if ctx.destination.on_learner_account and ctx.connection else None
    ctx.bucket = limits.bucket_key(str(ctx.destination), account)
    wait = limits.take(redis_conn.get(), ctx.bucket, limits.limit_for(ctx.destination.kind), str(ctx.row.id))
    return _postpone(ctx, wait, f"{ctx.destination.kind} rate limit (hub bucket)") if wait > 0 else None


def reserve_budget(ctx: Attempt) -> Outcome | None:
    """Where the network bills posts: set this post's cost aside from the organisation's monthly budget, or hold the
    post (pending, not an attempt) until the next month opens, with the reason for admins."""
    post = ctx.post
    assert post is not None, "render_post made it"
    cost = budgets.post_cost(ctx.destination.kind, post.text, post.link)
    if cost is None:
        return None
    if cost != ctx.row.cost_micros:  # the post as it is now (a learner's edit, a digest) is what gets billed
        outbox.note_cost(ctx.session, ctx.row.id, ctx.lease, cost)
    found = budgets.reserve(ctx.session, _org_of(ctx.row, ctx.user), ctx.destination.kind, cost, utcnow())
    if isinstance(found, budgets.Held):
        outbox.postpone(ctx.session, ctx.row.id, ctx.lease, found.until, found.reason)
        log.info("delivery %s held: %s", ctx.row.id, found.reason)
        return Outcome.OVER_BUDGET
    ctx.reservation = found
    return None


def publish(ctx: Attempt) -> Outcome | None:
    """Hand the post to the destination's publisher (one token refresh allowed); each refusal finishes as it says."""
    post = ctx.post
    assert post is not None, "render_post made it"
    try:
        try:
            publisher = publishing.publisher_for(ctx.session, ctx.destination.kind)
            target = publishing.target_for(ctx.destination, ctx.connection)
            ctx.published = _refreshing_once(ctx.session, ctx.connection, publisher, target,
                                             lambda t: publisher.publish(t, post))
        except (ProviderError, DecryptionFailed):
            if ctx.reservation is not None:  # refused (or unanswered): the network billed nothing, a retry reserves
                budgets.refund(ctx.session, ctx.reservation)
            raise
    except RateLimited as exc:
        limits.block(redis_conn.get(), ctx.bucket, exc.retry_after)
        return _postpone(ctx, exc.retry_after, f"rate limited: {exc.message}")
    except Transient as exc:
        when = outbox.failed(ctx.session, ctx.row.id, ctx.lease, ctx.row.attempts, exc.message, policy())
        return Outcome.DEAD if when is None else Outcome.FAILED
    except AuthExpired as exc:
        return ctx.dead(f"token refused after a refresh: {exc.message}")
    except (Permanent, ProviderError) as exc:
        return ctx.dead(exc.message)
    except DecryptionFailed as exc:
        return ctx.dead(f"connection tokens do not open ({exc}): connect the account again")
    return None


def record_sent(ctx: Attempt) -> Outcome | None:
    """The provider has the post: the delivery is sent, with where it can be seen."""
    assert ctx.published is not None, "publish stored it"
    outbox.sent(ctx.session, ctx.row.id, ctx.lease, ctx.published.remote_id, ctx.published.url)
    log.info("delivery %s sent to %s as %s", ctx.row.id, ctx.destination.kind, ctx.published.remote_id)
    return Outcome.SENT


STEPS: tuple[Callable[[Attempt], Outcome | None], ...] = (
    load_learner,
    refuse_gone_learner,
    check_consent,
    render_post,
    find_connection,
    take_limit,
    reserve_budget,
    publish,
    record_sent,
)


def _attempt(session: Session, row: Delivery, lease: str) -> Outcome:
    """Run the steps in order until one finishes the delivery (the last, record_sent, always does)."""
    ctx = Attempt(session, row, lease, parse_destination(row.destination))
    for step in STEPS:
        outcome = step(ctx)
        if outcome is not None:
            return outcome
    raise AssertionError("record_sent finishes every attempt that reaches it")


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
        tokens = provider_access.refresh(session, connection, publisher)
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


def _postpone(ctx: Attempt, seconds: float, reason: str) -> Outcome:
    """Pending again in `seconds` (a rate limit), not counted as an attempt; the dispatcher comes back for it."""
    when = utcnow() + timedelta(seconds=max(seconds, 0.001))
    if outbox.postpone(ctx.session, ctx.row.id, ctx.lease, when, reason) and seconds < dispatch.INTERVAL:
        with contextlib.suppress(redis.RedisError):  # then the next pass enqueues it, a little late
            dispatch.wake(redis_conn.get())  # due before the dispatcher's next pass: have it come at the time
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
        provider_access.take_read(publisher, connection)  # a look-up reads history: its turn under the read cap
        found = _refreshing_once(session, connection, publisher, publishing.target_for(destination, connection),
                                 lambda t: publisher.find(t, marker(row)))
    except (Transient, RateLimited) as exc:
        # Try the lookup again when this recovery lease lapses (the reconciler comes back), or when its turn comes.
        later = max(60.0, exc.retry_after) if isinstance(exc, RateLimited) else 60.0
        outbox.release(session, row.id, attempt, utcnow() + timedelta(seconds=later), f"lookup failed: {exc.message}")
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
