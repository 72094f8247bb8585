"""Sharing fixtures: an app on the real test database and Redis, an org with a learner, and a stand-in provider."""
from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis
from flask import Flask
from sqlalchemy import delete

from hub import db, redis_conn
from hub.app import create_app
from hub.models import (
    Base,
    Connection,
    Consent,
    Event,
    Organisation,
    Rule,
    Source,
    User,
)
from hub.sharing import planner, publishing
from hub.sharing.outbox import Policy
from providers.base import Permanent, Publisher, RateLimited, Transient

CALLS = "test:provider:posts"


class StandInProvider(Publisher):
    """Stands in for a provider's API (not a mock of the hub): it stores posts in Redis, where every forked
    work horse and the test can see them, and answers by channel name the way a real provider would fail.

    '#busy' -> 429 (RateLimited, Retry-After 120); '#flaky' -> 5xx (Transient); '#gone' -> channel_not_found
    (Permanent); '#crash-after' stores the post then the worker dies; '#crash-before' dies before storing
    (run those in work_in_own_process: the worker runs jobs in its own process, which dies with them);
    '#slow' takes 0.5 s (so racing workers overlap). A Publisher, so the hub asks it what any publisher declares
    (no read cap, no post cost: Publisher's defaults).
    """

    def __init__(self, redis_url: str, kind: str = "slack") -> None:
        self.redis_url, self.kind = redis_url, kind

    def _redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url)

    def publish(self, target: Any, post: Any) -> Any:
        address = target.address
        if address == "#busy":
            raise RateLimited(self.kind, "ratelimited", retry_after=120)
        if address == "#flaky":
            raise Transient(self.kind, f"{self.kind} failed (503)")
        if address == "#gone":
            raise Permanent(self.kind, "channel_not_found")
        if address == "#crash-before":
            os._exit(1)
        if address == "#slow":
            time.sleep(0.5)
        record = {"address": address, "text": post.text, "link": post.link, "marker": post.marker,
                  "token": target.tokens.get("access_token"), "image_url": post.image_url}
        index = self._redis().rpush(CALLS, json.dumps(record))
        if address == "#crash-after":
            os._exit(1)
        return publishing.Published(remote_id=f"p{index}", url=f"https://provider.test/p{index}")

    def find(self, target: Any, marker: str) -> Any:
        for index, raw in enumerate(self._redis().lrange(CALLS, 0, -1), start=1):
            if json.loads(raw)["marker"] == marker:
                return publishing.Published(remote_id=f"p{index}", url=f"https://provider.test/p{index}")
        return None

    def posts(self) -> list[dict[str, Any]]:
        return [json.loads(raw) for raw in self._redis().lrange(CALLS, 0, -1)]


@dataclass
class World:
    app: Flask
    provider: StandInProvider
    org_id: int
    user_id: int
    source_id: int

    def session(self) -> Any:
        return db.session()

    def rule(self, destination: str, event_type: str = "course.completed", **fields: Any) -> int:
        with self.app.app_context(), db.transaction() as session:
            row = Rule(org_id=self.org_id, event_type=event_type, destination=destination, **fields)
            session.add(row)
            session.flush()
            return row.id

    def event(self, external_id: str = "evt-1", event_type: str = "course.completed",
              payload: dict[str, Any] | None = None, plan: bool = True) -> tuple[int, list[int]]:
        """Store an event and plan it in one transaction, as the intake does; returns (event id, delivery ids)."""
        payload = payload or {"course": {"id": "101", "title": "Security Basics",
                                         "url": "https://lms.example.edu/course/101",
                                         "image_url": "https://lms.example.edu/101.png"}}
        with self.app.app_context(), db.transaction() as session:
            row = Event(source_id=self.source_id, external_id=external_id, content_hash="h", type=event_type,
                        payload=payload, user_id=self.user_id)
            session.add(row)
            session.flush()
            ids = planner.plan(session, row) if plan else []
            return row.id, ids

    def consent(self, kind: str, choice: str = "always", name_in_org_posts: bool = False) -> None:
        with self.app.app_context(), db.transaction() as session:
            found = session.query(Consent).filter_by(user_id=self.user_id, destination_kind=kind).one_or_none()
            found = found or Consent(user_id=self.user_id, destination_kind=kind, text_version="v1")
            found.choice, found.name_in_org_posts = choice, name_in_org_posts
            session.add(found)

    def connect(self, kind: str, *, learner: bool, token: str = "tok-1") -> None:
        vault = self.app.extensions["vault"]
        with self.app.app_context(), db.transaction() as session:
            row = Connection(kind=kind, user_id=self.user_id if learner else None,
                             org_id=None if learner else self.org_id, remote_id=f"acct-{kind}", scopes=[],
                             tokens_sealed="")
            row.tokens_sealed = vault.seal(json.dumps({"access_token": token}), row.seal_context)
            session.add(row)


@pytest.fixture
def world(hub_env: dict[str, str]) -> Iterator[World]:
    app = create_app(hub_env)
    app.extensions["sharing.policy"] = Policy(lease_seconds=1.0, max_attempts=3, backoff_base=10, backoff_cap=60)
    provider = StandInProvider(hub_env["HUB_REDIS_URL"])
    for kind in ("slack", "linkedin", "x", "teams"):
        publishing.use(app, kind, StandInProvider(hub_env["HUB_REDIS_URL"], kind))
    with app.app_context(), db.transaction() as session:
        org = Organisation(name="Partners Inc")
        session.add(org)
        session.flush()
        user = User(email="ada@partner.example", name="Ada Lovelace", org_id=org.id)
        source = Source(name="moodle", all_orgs=True)  # its events may name any organisation's learners
        session.add_all([user, source])
        session.flush()
        ids = (org.id, user.id, source.id)
    try:
        yield World(app, provider, *ids)
    finally:
        with app.app_context():
            session = db.session()
            for table in reversed(Base.metadata.sorted_tables):
                session.execute(delete(table))
            session.commit()
            redis_conn.get().flushdb()
        app.extensions["db_engine"].dispose()


def work_in_own_process(app: Flask) -> int | None:
    """`hub worker --burst` in a process of its own, as production runs it; returns its exit code. A job that
    crashes the worker (the '#crash-*' addresses) takes that process down, not the test's."""
    import multiprocessing

    from hub import jobs

    worker = multiprocessing.get_context("fork").Process(target=jobs.run_worker, args=(app, True))
    worker.start()
    worker.join(120)
    return worker.exitcode
