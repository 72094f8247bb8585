"""Shared checks for the sign-in negative cases: a clear error, nothing created, the failure audited."""
from __future__ import annotations

import html
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import requests
from sqlalchemy import func, select

from hub.models import AuditEvent, Identity, User
from tests.live import Browser, LiveHub, csrf_token

ADA = "110169484474386276334"  # Google, verified, hd=partner.example
GRACE = "110169484474386276335"  # Google, verified gmail.example, no hd
URSULA = "110169484474386276336"  # Google, unverified email


def counts(live: LiveHub) -> tuple[int, int]:
    """(users, identities) in the database."""
    with live.context() as session:
        return (session.scalar(select(func.count()).select_from(User)),
                session.scalar(select(func.count()).select_from(Identity)))


def last_failure(live: LiveHub) -> AuditEvent | None:
    with live.context() as session:
        return session.scalars(select(AuditEvent).where(AuditEvent.outcome == "failure")
                               .order_by(AuditEvent.id.desc())).first()


def signed_in(browser: Browser) -> bool:
    """True when /account shows the account rather than sending the browser to /login."""
    answer = browser.get("/account")
    if answer.status_code == 200:
        return True
    assert answer.status_code == 302 and urlsplit(answer.headers["Location"]).path == "/login", answer.text
    return False


def assert_refused(live: LiveHub, browser: Browser, answer: requests.Response, *, status: int, message: str,
                   reason: str, users: int = 0, identities: int = 0) -> None:
    """The page says why, no user/identity beyond the expected counts exists, no session, an audited failure."""
    text = html.unescape(answer.text)
    assert answer.status_code == status, text
    assert message in text, text
    assert "reference" in text  # the user can quote the audit ref
    assert counts(live) == (users, identities)
    event = last_failure(live)
    assert event is not None and event.action == "login" and event.reason == reason, event and event.reason
    assert event.ref in text
    assert not signed_in(browser)


def callback_url(browser: Browser, provider: str, user: str | None = None, **params: str) -> str:
    """Start a login and pick a user at the sandbox; the callback URL, not yet visited."""
    start = browser.start_login(provider, **params)
    return browser.pick_user(start.headers["Location"], user)


def with_params(url: str, **changes: str) -> str:
    """The URL with query parameters replaced."""
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def add_sandbox_user(live: LiveHub, kind: str, **claims: Any) -> str:
    """Give the sandbox one more user (on this app's sandbox only); returns its sub."""
    sandbox = live.sandboxes[kind]
    sandbox.users = [*sandbox.users, claims]
    return claims["sub"]


def sign_out(browser: Browser) -> None:
    page = browser.get("/account")
    token = csrf_token(page.text)
    assert browser.post("/logout", data={"csrf_token": token}).status_code == 302
    assert not signed_in(browser)
