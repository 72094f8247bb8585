"""Expired X tokens end to end: signed events -> real workers -> tweepy -> the X sandbox's 401 -> authlib's refresh.

X access tokens last 2 hours and refresh tokens are single use, so of several workers that meet the same expired
token only one may redeem the refresh token; the others must use what it stored (SECURITY.md, "refresh race").
"""
from __future__ import annotations

import logging
import multiprocessing
from typing import Any

import pytest
from sqlalchemy import select

from hub import jobs, provider_access, redis_conn
from hub.models import Connection, Delivery
from hub.sharing import dispatch
from tests.live import LiveHub
from tests.sharing.test_e2e import LINKEDIN_SUB, X_USER, _connect, _org_and_learner, add_rule
from tests.webhooks.helpers import COMPLETED, add_source, event, send

OK = (200, 202, 204)


def connect_expired(live: LiveHub) -> tuple[dict[str, Any], int]:
    """The learner's X connection as the connect flow stores it, its access token past its 2 hours."""
    x = live.sandboxes["x"]
    client_id = live.add_provider("x")
    org_id, user_id = _org_and_learner(live)
    tokens = x.issue_tokens(client_id, X_USER)
    x.expire(tokens["access_token"])
    _connect(live, "x", X_USER, tokens, user_id=user_id)  # consent "always" too
    add_rule(live, org_id, "x:me")
    return tokens, org_id


def send_events(live: LiveHub, numbers: range, secret: str | None = None) -> str:
    """Signed completions of courses 0, 1, ... (one delivery each); returns the source's secret."""
    secret = secret or add_source(live)
    for n in numbers:
        course = {**COMPLETED["course"], "id": f"SEC-{n}", "title": f"Security Basics {n}"}
        assert send(live, secret, event(course=course), msg_id=f"msg_refresh_{n}").status_code in OK
    return secret


def deliveries(live: LiveHub) -> list[Delivery]:
    with live.context() as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.id)))


def stored_tokens(live: LiveHub) -> dict[str, Any]:
    with live.context() as session:
        [connection] = session.scalars(select(Connection).where(Connection.kind == "x")).all()
        return provider_access.tokens_of(connection)


def test_expired_token_is_refreshed_once_then_posted(live: LiveHub) -> None:
    x = live.sandboxes["x"]
    old, _ = connect_expired(live)
    secret = send_events(live, range(1))
    jobs.run_worker(live.app, burst=True)

    [row] = deliveries(live)
    assert row.status == "sent", (row.status, row.last_error)
    [tweet] = x.tweets
    assert row.remote_id == tweet["id"] and "Security Basics 0" in tweet["text"]
    assert x.expired_hits == 1 and x.refresh_hits == 1 and x.refresh_refused == 0
    stored = stored_tokens(live)  # the rotated set is kept: the next send needs its refresh token
    assert stored["access_token"] in x.tokens and stored["access_token"] != old["access_token"]
    assert set(x.refresh_tokens) == {stored["refresh_token"]} and stored["refresh_token"] != old["refresh_token"]

    send_events(live, range(1, 2), secret)  # the next post uses the stored token: no refresh
    jobs.run_worker(live.app, burst=True)
    assert [d.status for d in deliveries(live)] == ["sent", "sent"] and x.refresh_hits == 1 and len(x.tweets) == 2


def test_the_refresh_logs_no_token(live: LiveHub, caplog: pytest.LogCaptureFixture) -> None:
    """The job run in this process (so its DEBUG logs are captured): tweepy, authlib, requests and the hub."""
    caplog.set_level(logging.DEBUG)
    old, _ = connect_expired(live)
    send_events(live, range(1))
    with live.context() as session:
        dispatch.run_pass(session)
        [row] = session.scalars(select(Delivery)).all()
        assert jobs.deliver(row.id) == "sent"
    stored = stored_tokens(live)
    assert live.sandboxes["x"].refresh_hits == 1 and "delivery" in caplog.text
    for token in (old["access_token"], old["refresh_token"], stored["access_token"], stored["refresh_token"]):
        assert token not in caplog.text


def test_a_refused_refresh_token_ends_dead_with_reconnect_and_posts_nothing(live: LiveHub) -> None:
    x = live.sandboxes["x"]
    old, _ = connect_expired(live)
    x.refresh_tokens.pop(old["refresh_token"])  # revoked at X (the member removed the app), or already used
    send_events(live, range(1))
    jobs.run_worker(live.app, burst=True)

    [row] = deliveries(live)
    assert row.status == "dead"
    assert "reconnect the account" in (row.last_error or "") and old["refresh_token"] not in (row.last_error or "")
    assert x.tweets == [] and x.refresh_refused == 1 and x.refresh_hits == 0
    assert stored_tokens(live) == old  # nothing to store


def test_twenty_jobs_on_one_expired_rotating_token_refresh_once(live: LiveHub) -> None:
    """Several forked workers at once, each job with the same expired token: one redemption, every post once."""
    x = live.sandboxes["x"]
    x.faults.token_delay = 0.5  # a slow token endpoint: the other workers meet the old token meanwhile
    old, _ = connect_expired(live)
    send_events(live, range(20))
    with live.context() as session:
        dispatch.run_pass(session)  # plan and enqueue all 20 before the workers start together
    # The children must not share this process's pooled connections (PostgreSQL): each opens its own.
    live.app.extensions["db_engine"].dispose()
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=jobs.run_worker, args=(live.app, True)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(90)
        assert worker.exitcode == 0

    rows = deliveries(live)
    assert len(rows) == 20
    assert [r.status for r in rows] == ["sent"] * 20, [(r.status, r.last_error) for r in rows if r.status != "sent"]
    assert sorted(r.remote_id for r in rows) == sorted(t["id"] for t in x.tweets)  # one post each
    assert len(x.tweets) == 20 and len({t["text"] for t in x.tweets}) == 20
    assert x.expired_hits >= 2  # the race happened: several workers posted with the expired token
    assert x.refresh_hits == 1 and x.refresh_refused == 0  # and only one redeemed the refresh token
    stored = stored_tokens(live)
    assert set(x.refresh_tokens) == {stored["refresh_token"]} and stored["refresh_token"] != old["refresh_token"]
    assert stored["access_token"] in x.tokens and stored["access_token"] != old["access_token"]


def test_a_refresh_held_by_another_worker_retries_later(live: LiveHub, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lock is bounded: a worker that cannot take it in time fails the attempt (retried later), never sleeps on."""
    x = live.sandboxes["x"]
    connect_expired(live)
    monkeypatch.setattr(provider_access, "REFRESH_WAIT_SECONDS", 0.2)
    send_events(live, range(1))
    with live.context() as session:
        [connection] = session.scalars(select(Connection).where(Connection.kind == "x")).all()
        held = redis_conn.get().lock(f"hub:refresh:connection:{connection.id}", timeout=30)
        assert held.acquire(blocking=False)
    try:
        jobs.run_worker(live.app, burst=True)
    finally:
        held.release()
    [row] = deliveries(live)
    assert row.status == "failed" and "another worker is still refreshing" in (row.last_error or "")
    assert x.tweets == [] and x.refresh_hits == 0 and row.next_attempt_at is not None


def connect_linkedin(live: LiveHub, *, approved: bool) -> dict[str, Any]:
    """The learner's LinkedIn connection with an expired token; a refresh token only for an approved app."""
    linkedin = live.sandboxes["linkedin"]
    client_id = live.add_provider("linkedin")
    if approved:
        linkedin.approve_refresh_tokens(client_id)
    org_id, user_id = _org_and_learner(live)
    tokens = linkedin.issue_tokens(client_id, LINKEDIN_SUB)
    linkedin.expire(tokens["access_token"])
    _connect(live, "linkedin", LINKEDIN_SUB, tokens, user_id=user_id)
    add_rule(live, org_id, "linkedin:me")
    return tokens


def test_linkedin_with_a_refresh_token_is_refreshed_then_posted(live: LiveHub) -> None:
    linkedin = live.sandboxes["linkedin"]
    old = connect_linkedin(live, approved=True)
    send_events(live, range(1))
    jobs.run_worker(live.app, burst=True)
    [row] = deliveries(live)
    assert row.status == "sent", (row.status, row.last_error)
    assert len(linkedin.posts) == 1 and linkedin.refresh_hits == 1
    with live.context() as session:
        [connection] = session.scalars(select(Connection).where(Connection.kind == "linkedin")).all()
        stored = provider_access.tokens_of(connection)
    assert stored["access_token"] != old["access_token"] and stored["refresh_token"] == old["refresh_token"]


def test_linkedin_without_a_refresh_token_is_dead_with_reconnect(live: LiveHub) -> None:
    connect_linkedin(live, approved=False)
    send_events(live, range(1))
    jobs.run_worker(live.app, burst=True)
    [row] = deliveries(live)
    assert row.status == "dead" and "approved partners: reconnect the account" in (row.last_error or "")
    assert live.sandboxes["linkedin"].posts == []


def test_a_kind_that_cannot_refresh_is_dead_with_reconnect(live: LiveHub) -> None:
    """Slack bot tokens never expire, so its publisher declares no refresh: a refused one is dead at once (the
    interface's default refresh), the organisation must connect Slack again, and nothing is posted."""
    live.add_provider("slack")
    org_id, _ = _org_and_learner(live)
    _connect(live, "slack", "T0PARTNER", {"access_token": "xoxb-revoked"}, org_id=org_id)
    add_rule(live, org_id, "slack:#wins")
    send_events(live, range(1))
    jobs.run_worker(live.app, burst=True)
    [row] = deliveries(live)
    assert row.status == "dead" and "cannot be refreshed: connect the account again" in (row.last_error or "")
    assert row.attempts == 1 and live.sandboxes["slack"].channel_posts("wins") == []


def test_a_crash_lookup_with_an_expired_token_refreshes_once_and_finds_the_post(live: LiveHub) -> None:
    """The work horse died after X stored the post, and the token expired before the lookup: refresh, find, record."""
    from datetime import timedelta

    from sqlalchemy import update

    from hub import db
    from hub.sharing import reconciler
    from hub.sharing.outbox import utcnow

    x = live.sandboxes["x"]
    client_id = live.add_provider("x")
    org_id, user_id = _org_and_learner(live)
    tokens = x.issue_tokens(client_id, X_USER)
    _connect(live, "x", X_USER, tokens, user_id=user_id)
    add_rule(live, org_id, "x:me")
    send_events(live, range(1))
    jobs.run_worker(live.app, burst=True)
    [posted] = deliveries(live)
    assert posted.status == "sent" and len(x.tweets) == 1
    with live.context() as session:  # as if the worker died right after X answered: sending, lease lapsed
        session.execute(update(Delivery).values(status="sending", attempt_id="lost", remote_id=None,
                                                lease_until=utcnow() - timedelta(seconds=5)))
        session.commit()
    x.expire(tokens["access_token"])
    with live.app.app_context():
        assert reconciler.reconcile(db.session()).recovered == 1
    [row] = deliveries(live)
    assert row.status == "sent" and row.remote_id == posted.remote_id, (row.status, row.last_error)
    assert len(x.tweets) == 1 and x.refresh_hits == 1  # found, not posted again
