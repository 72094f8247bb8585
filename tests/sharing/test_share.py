"""The share page and sharing preferences over real HTTP: a signed-in learner, a real RQ worker, the LinkedIn
sandbox."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from hub import jobs
from hub.models import (
    AuditEvent,
    Connection,
    Consent,
    Delivery,
    Event,
    Rule,
    Source,
    User,
)
from hub.sharing import consent, planner
from providers.posting_sandbox import issue_token
from providers.registry import share_intent
from tests.live import Browser, LiveHub, csrf_token

ADA, GRACE = "110169484474386276334", "110169484474386276335"
LINKEDIN_SUB = "782bbtaQ"
COURSE = {"course": {"id": "101", "title": "Security Basics", "url": "https://lms.example.edu/course/101"}}


def plan_and_send(live: LiveHub, user_id: int, destination: str = "linkedin:me", external_id: str = "evt-1") -> int:
    """A completion event planned for a learner (as the intake does), then one worker burst; the delivery id."""
    with live.context() as session:
        user = session.get(User, user_id)
        source = session.scalar(select(Source)) or Source(name="moodle", all_orgs=True)
        session.add(source)
        if session.scalar(select(Rule).where(Rule.destination == destination)) is None:
            session.add(Rule(org_id=user.org_id, event_type="course.completed", destination=destination))
        session.flush()
        event = Event(source_id=source.id, external_id=external_id, content_hash="h", type="course.completed",
                      payload=COURSE, user_id=user_id)
        session.add(event)
        session.flush()
        [delivery_id] = planner.plan(session, event)
        session.commit()
    jobs.run_worker(live.app, burst=True)
    return delivery_id


def connect_linkedin(live: LiveHub, user_id: int) -> None:
    """A LinkedIn connection as the connect flow stores it: a sandbox token sealed with the app's vault."""
    token = issue_token(live.sandboxes["linkedin"], LINKEDIN_SUB, "openid profile w_member_social")
    vault = live.app.extensions["vault"]
    with live.context() as session:
        row = Connection(kind="linkedin", user_id=user_id, remote_id=LINKEDIN_SUB, scopes=[], tokens_sealed="")
        row.tokens_sealed = vault.seal(json.dumps({"access_token": token}), row.seal_context)
        session.add(row)
        session.commit()


@dataclass
class Learner:
    live: LiveHub
    browser: Browser
    user_id: int

    def consent(self, kind: str, choice: str) -> None:
        with self.live.context() as session:
            session.add(Consent(user_id=self.user_id, destination_kind=kind, choice=choice, text_version="v1"))
            session.commit()

    def delivery(self, destination: str = "linkedin:me", external_id: str = "evt-1") -> int:
        return plan_and_send(self.live, self.user_id, destination, external_id)

    def row(self, delivery_id: int) -> Delivery:
        with self.live.context() as session:
            return session.get(Delivery, delivery_id)

    def posts(self) -> list[dict[str, Any]]:
        return self.live.sandboxes["linkedin"].posts


def sign_in(live: LiveHub, sub: str) -> tuple[Browser, int]:
    browser = Browser(live)
    answer = browser.sign_in("google", user=sub)
    assert answer.status_code == 302, answer.text
    with live.context() as session:
        user = session.scalar(select(User).where(User.identities.any(subject=sub)))
        return browser, user.id


@pytest.fixture
def learner(live: LiveHub) -> Learner:
    live.add_provider("google")
    live.add_provider("linkedin")
    browser, user_id = sign_in(live, ADA)
    connect_linkedin(live, user_id)
    return Learner(live, browser, user_id)


def consents(learner: Learner) -> dict[str, Consent]:
    with learner.live.context() as session:
        return {c.destination_kind: c for c in
                session.scalars(select(Consent).where(Consent.user_id == learner.user_id))}


def test_preferences_are_saved_with_time_and_version_then_withdrawn(learner: Learner) -> None:
    page = learner.browser.get("/account")
    assert page.status_code == 200 and 'id="sharing-form"' in page.text
    fields = {"csrf_token": csrf_token(page.text), "choice-linkedin": "always", "choice-x": "ask",
              "choice-yammer": "never", "name-slack": "on"}
    answer = learner.browser.post("/share/preferences", data=fields)
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/account#sharing")
    saved = consents(learner)
    assert {k: c.choice for k, c in saved.items() if k in {"linkedin", "x", "yammer"}} == \
        {"linkedin": "always", "x": "ask", "yammer": "never"}
    assert saved["slack"].name_in_org_posts and not saved["teams"].name_in_org_posts
    assert not saved["linkedin"].name_in_org_posts  # naming is an org-channel question only
    assert all(c.text_version == consent.TEXT_VERSION and c.updated_at for c in saved.values())
    page = learner.browser.get("/account")
    assert "Saved " in page.text and consent.TEXT_VERSION in page.text

    answer = learner.browser.post("/share/preferences", data={"csrf_token": csrf_token(page.text),
                                                              "withdraw_all": "1"})
    assert answer.status_code == 303
    after = consents(learner)
    assert {c.choice for c in after.values()} == {"never"}
    assert not any(c.name_in_org_posts for c in after.values())
    assert after["linkedin"].updated_at >= saved["linkedin"].updated_at
    with learner.live.context() as session:
        actions = session.scalars(select(AuditEvent).where(AuditEvent.action == "sharing_consent")).all()
        assert [a.detail["withdraw_all"] for a in actions] == [False, True]


def test_preferences_refuse_a_bad_choice_and_a_missing_csrf_token(learner: Learner) -> None:
    page = learner.browser.get("/account")
    bad = learner.browser.post("/share/preferences", data={"csrf_token": csrf_token(page.text),
                                                           "choice-linkedin": "sometimes"}, allow_redirects=True)
    assert "choice for linkedin must be always, ask or never" in bad.text
    forged = learner.browser.post("/share/preferences", data={"choice-linkedin": "always"})
    assert forged.status_code == 400
    assert consents(learner) == {}


@pytest.mark.parametrize(("choice", "status", "posted"), [("always", "sent", 1), ("ask", "skipped", 0),
                                                          ("never", "skipped", 0)])
def test_the_worker_respects_always_ask_never(learner: Learner, choice: str, status: str, posted: int) -> None:
    learner.consent("linkedin", choice)
    row = learner.row(learner.delivery())
    assert row.status == status, row.last_error
    assert len(learner.posts()) == posted
    if choice == "ask":
        assert row.last_error == consent.AWAITING_LEARNER


def test_share_page_posts_the_edited_text_once(learner: Learner) -> None:
    learner.consent("linkedin", "ask")
    delivery_id = learner.delivery()
    page = learner.browser.get(f"/share/{delivery_id}")
    assert page.status_code == 200
    assert "I just completed Security Basics!" in page.text and 'maxlength="3000"' in page.text
    assert "https://x.com/intent/post?text=I+just+completed+Security+Basics" in page.text
    assert "linkedin.com/sharing" not in page.text  # connected: the hub posts it, no share link needed
    edited = "Finished Security Basics today: thanks to the team!"
    answer = learner.browser.post(f"/share/{delivery_id}", data={"csrf_token": csrf_token(page.text),
                                                                 "text": edited})
    assert answer.status_code == 303
    assert learner.row(delivery_id).status == "pending"
    jobs.run_worker(learner.live.app, burst=True)
    row = learner.row(delivery_id)
    assert row.status == "sent", row.last_error
    [post] = learner.posts()
    assert post["commentary"].startswith(edited)
    shown = learner.browser.get(f"/share/{delivery_id}")
    assert 'data-status="sent"' in shown.text and "Posted." in shown.text

    again = learner.browser.post(f"/share/{delivery_id}", data={"csrf_token": csrf_token(page.text),
                                                                "text": "twice"})
    assert again.status_code == 409
    jobs.run_worker(learner.live.app, burst=True)
    assert len(learner.posts()) == 1


def test_another_users_delivery_is_not_found(learner: Learner) -> None:
    learner.consent("linkedin", "ask")
    delivery_id = learner.delivery()
    grace, _ = sign_in(learner.live, GRACE)
    assert grace.get(f"/share/{delivery_id}").status_code == 404
    token = csrf_token(grace.get("/account").text)
    assert grace.post(f"/share/{delivery_id}", data={"csrf_token": token, "text": "hijack"}).status_code == 404
    assert learner.browser.get("/share/999999").status_code == 404
    assert learner.row(delivery_id).status == "skipped"


def test_post_without_csrf_token_is_refused(learner: Learner) -> None:
    learner.consent("linkedin", "ask")
    delivery_id = learner.delivery()
    answer = learner.browser.post(f"/share/{delivery_id}", data={"text": "forged"})
    assert answer.status_code == 400
    row = learner.row(delivery_id)
    assert row.status == "skipped" and row.text != "forged"


def test_no_post_without_consent(learner: Learner) -> None:
    learner.consent("linkedin", "never")
    delivery_id = learner.delivery()
    page = learner.browser.get(f"/share/{delivery_id}")
    assert 'id="no-consent"' in page.text
    answer = learner.browser.post(f"/share/{delivery_id}", data={"csrf_token": csrf_token(page.text),
                                                                 "text": "post anyway"})
    assert answer.status_code == 403 and "nothing was posted" in answer.text
    jobs.run_worker(learner.live.app, burst=True)
    assert learner.row(delivery_id).status == "skipped" and learner.posts() == []


def test_withdrawn_after_pressing_post_is_not_posted(learner: Learner) -> None:
    learner.consent("linkedin", "ask")
    delivery_id = learner.delivery()
    page = learner.browser.get(f"/share/{delivery_id}")
    answer = learner.browser.post(f"/share/{delivery_id}", data={"csrf_token": csrf_token(page.text),
                                                                 "text": "ok"})
    assert answer.status_code == 303
    with learner.live.context() as session:  # withdrawn before the worker got to it
        row = session.scalar(select(Consent).where(Consent.user_id == learner.user_id))
        row.choice = "never"
        session.commit()
    jobs.run_worker(learner.live.app, burst=True)
    assert learner.row(delivery_id).status == "skipped" and learner.posts() == []


def test_too_long_text_is_refused_naming_the_limit(learner: Learner) -> None:
    learner.consent("linkedin", "ask")
    delivery_id = learner.delivery()
    page = learner.browser.get(f"/share/{delivery_id}")
    answer = learner.browser.post(f"/share/{delivery_id}", data={"csrf_token": csrf_token(page.text),
                                                                 "text": "x" * 3001})
    assert answer.status_code == 400 and "at most 3000" in answer.text
    assert learner.row(delivery_id).status == "skipped"


def test_share_intent_links_are_prefilled() -> None:
    text, link = "I did it & more", "https://lms.example.edu/course/1?a=b"
    assert share_intent("linkedin", text, link).url == \
        "https://www.linkedin.com/sharing/share-offsite/?url=https%3A%2F%2Flms.example.edu%2Fcourse%2F1%3Fa%3Db"
    assert share_intent("facebook", text, link).url.startswith("https://www.facebook.com/sharer/sharer.php?u=https")
    x = share_intent("x", "y" * 400, link)
    assert x.text_limit == 280 and x.url.startswith("https://x.com/intent/post?text=" + "y" * 280 + "&url=")
    assert "status=I+did+it+%26+more+https" in share_intent("yammer", text, link).url
    assert share_intent("slack", text, link) is None
