"""End to end over HTTP: a signed LMS event in, a real RQ worker, the real publishers, the post in a provider
sandbox."""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from sqlalchemy import select

from hub import jobs, redis_conn
from hub.models import Connection, Consent, Delivery, Organisation, Rule, User
from hub.sharing import rules
from providers.posting_sandbox import issue_token
from tests.clock import movable_clock
from tests.live import LiveHub
from tests.webhooks.helpers import COMPLETED, add_source, send

TITLE, LINK = COMPLETED["course"]["title"], COMPLETED["course"]["url"]
LINKEDIN_SUB, X_USER = "782bbtaQ", "1427384956271038465"
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@dataclass
class Setup:
    destination: str
    posts: Callable[[], list[Any]]  # what landed in the sandbox, as stored there


def _org_and_learner(live: LiveHub) -> tuple[int, int]:
    with live.context() as session:
        org = Organisation(name="Partner Co")
        session.add(org)
        session.flush()
        user = User(email="ada@partner.example", email_verified=True, name="Ada Lovelace", org_id=org.id)
        session.add(user)
        session.commit()
        return org.id, user.id


def _connect(live: LiveHub, kind: str, remote_id: str, tokens: dict[str, str], *, user_id: int | None = None,
             org_id: int | None = None) -> None:
    """A connection row as the connect flows store it: tokens sealed with the app's vault."""
    vault = live.app.extensions["vault"]
    with live.context() as session:
        row = Connection(kind=kind, user_id=user_id, org_id=org_id, remote_id=remote_id, scopes=[], tokens_sealed="")
        row.tokens_sealed = vault.seal(json.dumps(tokens), row.seal_context)
        session.add(row)
        if user_id is not None:
            session.add(Consent(user_id=user_id, destination_kind=kind, choice="always", text_version="v1"))
        session.commit()


def configure(live: LiveHub, kind: str, org_id: int, user_id: int) -> Setup:
    """Provider config, connection and consent for one destination; returns its rule destination and posts."""
    posting = live.app.extensions["posting_sandboxes"]
    s = live.sandboxes
    if kind == "slack":
        live.add_provider("slack")
        _connect(live, "slack", "T0PARTNER", {"access_token": s["slack"].install_bot()}, org_id=org_id)
        return Setup("slack:#wins", lambda: s["slack"].channel_posts("wins"))
    if kind == "slack-hook":
        url = f"{live.url}/sandbox/slack" + s["slack"].hook_path("general")
        live.add_provider("slack")
        return Setup(f"slack:{url}", lambda: s["slack"].channel_posts("general"))
    if kind == "teams":
        url = f"{live.url}/sandbox/teams" + posting["teams"].workflow_path()
        return Setup(f"teams:{url}", lambda: posting["teams"].cards)
    if kind == "linkedin":
        live.add_provider("linkedin")
        token = issue_token(s["linkedin"], LINKEDIN_SUB, "openid profile w_member_social")
        _connect(live, "linkedin", LINKEDIN_SUB, {"access_token": token}, user_id=user_id)
        return Setup("linkedin:me", lambda: s["linkedin"].posts)
    if kind == "x":
        live.add_provider("x")
        token = issue_token(s["x"], X_USER, "tweet.read tweet.write users.read offline.access")
        _connect(live, "x", X_USER, {"access_token": token}, user_id=user_id)
        return Setup("x:me", lambda: s["x"].tweets)
    if kind == "webhook":
        url = f"{live.url}/sandbox/webhook" + posting["webhook"].endpoint_path(WEBHOOK_SECRET)
        _connect(live, "webhook", url, {"secret": WEBHOOK_SECRET}, org_id=org_id)
        return Setup(f"webhook:{url}", lambda: list(posting["webhook"].received.values()))
    raise KeyError(kind)


def add_rule(live: LiveHub, org_id: int, destination: str) -> None:
    with live.context() as session:
        rules.add_rule(session, org_id=org_id, event_type="course.completed", destination=destination)
        session.commit()


def delivery(live: LiveHub) -> Delivery:
    with live.context() as session:
        [row] = session.scalars(select(Delivery)).all()
        return row


@pytest.mark.parametrize("kind", ["slack", "slack-hook", "teams", "linkedin", "x", "webhook"])
def test_signed_event_reaches_the_sandbox_once(live: LiveHub, kind: str) -> None:
    org_id, user_id = _org_and_learner(live)
    setup = configure(live, kind, org_id, user_id)
    add_rule(live, org_id, setup.destination)
    secret = add_source(live)
    answer = send(live, secret, COMPLETED, msg_id="msg_e2e_1")
    assert answer.status_code in (200, 202, 204), answer.text
    jobs.run_worker(live.app, burst=True)

    row = delivery(live)
    assert row.status == "sent", (row.status, row.last_error)
    [post] = setup.posts()
    shown = json.dumps(post, ensure_ascii=False)
    assert TITLE in shown and LINK in shown, shown
    row = delivery(live)
    assert row.status == "sent", row.last_error
    assert row.remote_id
    if kind in {"slack", "linkedin", "x"}:
        assert row.remote_url and row.remote_url.startswith("http"), row.remote_url

    again = send(live, secret, COMPLETED, msg_id="msg_e2e_1")  # the LMS retries the same event
    assert again.status_code in (200, 202, 204), again.text
    jobs.run_worker(live.app, burst=True)
    assert len(setup.posts()) == 1
    assert delivery(live).status == "sent"


def test_slack_429_is_rescheduled_and_posted_once_later(live: LiveHub) -> None:
    org_id, user_id = _org_and_learner(live)
    setup = configure(live, "slack", org_id, user_id)
    add_rule(live, org_id, setup.destination)
    live.sandboxes["slack"].posting_faults.push(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"})
    send(live, add_source(live), COMPLETED)
    jobs.run_worker(live.app, burst=True)
    row = delivery(live)
    assert setup.posts() == []
    assert row.status == "pending" and "rate limited" in (row.last_error or "") and row.next_attempt_at

    movable_clock(live.app).advance(seconds=1.5)  # past Retry-After by the hub's clock: the retry is due
    with live.app.app_context():  # the 429's hold and the bucket count by Redis's clock: start them afresh
        connection = redis_conn.get()
        connection.delete(*connection.scan_iter("hub:bucket:*"))
    jobs.run_worker(live.app, burst=True)  # the dispatcher pass enqueues the due retry
    assert len(setup.posts()) == 1
    assert delivery(live).status == "sent"
    jobs.run_worker(live.app, burst=True)
    assert len(setup.posts()) == 1


def test_demo_seed_posts_a_completion_to_the_slack_sandbox(live: LiveHub) -> None:
    from hub import demo

    demo.seed(live.app, {"*": live.url})
    demo.seed(live.app, {"*": live.url})  # a restart: still one rule, one connection, a fresh bot token
    with live.context() as session:
        org = session.scalar(select(Organisation).where(Organisation.name == "Partner Co"))
        assert [r.destination for r in session.scalars(select(Rule).where(Rule.org_id == org.id))] \
            == ["slack:#wins"]
        assert len(session.scalars(select(Connection).where(Connection.kind == "slack")).all()) == 1
        session.add(User(email="ada@partner.example", email_verified=True, name="Ada Lovelace", org_id=org.id))
        session.commit()
    send(live, add_source(live), COMPLETED)
    jobs.run_worker(live.app, burst=True)
    assert delivery(live).status == "sent", delivery(live).last_error
    [post] = live.sandboxes["slack"].channel_posts("wins")
    assert TITLE in json.dumps(post, ensure_ascii=False)
    assert TITLE in requests.get(f"{live.url}/sandbox/slack/posts", timeout=10).text
