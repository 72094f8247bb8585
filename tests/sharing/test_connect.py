"""Connecting accounts for sharing over HTTP through the sandboxes: scopes, sealed tokens, the sender, disconnect."""
from __future__ import annotations

import html
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from hub import provider_access
from hub.models import Connection, Delivery, Organisation, User
from hub.sharing import publishing
from hub.sharing.rules import parse_destination
from providers.base import Post
from tests.auth.helpers import ADA, callback_url
from tests.live import Browser, LiveHub, csrf_token

LINH = "782bbtaQ"  # LinkedIn sandbox member
SAM = "U0PARTNER01"  # Slack sandbox user in workspace T0PARTNER1


def _provider(live: LiveHub, name: str, **kwargs: str) -> None:
    """Configure a provider and let its client use the connect callback too, as an admin registers it."""
    client_id = live.add_provider(name, **kwargs)
    live.sandboxes[name].register_client(client_id, "sandbox-secret", [f"{live.url}/auth/{name}/callback",
                                                                       f"{live.url}/connect/{name}/callback"])


@pytest.fixture
def hub(live: LiveHub) -> LiveHub:
    live.add_provider("google")
    _provider(live, "linkedin")
    _provider(live, "slack")
    return live


def _ada(hub: LiveHub, *, admin: bool = False) -> Browser:
    browser = Browser(hub)
    answer = browser.http.get(callback_url(browser, "google", ADA), allow_redirects=False)
    assert answer.status_code == 302, answer.text
    with hub.context() as session:
        user = session.scalars(select(User)).one()
        org = session.scalar(select(Organisation).where(Organisation.name == "Partner Org"))
        if org is None:
            org = Organisation(name="Partner Org")
            session.add(org)
            session.flush()
        user.org_id, user.is_admin = org.id, admin
        session.commit()
    return browser


def _connect(browser: Browser, kind: str, user: str) -> tuple[str, str]:
    """Start connecting, pick the sandbox user; returns (authorize URL, callback URL)."""
    start = browser.get(f"/connect/{kind}")
    assert start.status_code == 302, start.text
    return start.headers["Location"], browser.pick_user(start.headers["Location"], user)


def _connections(hub: LiveHub) -> list[Connection]:
    with hub.context() as session:
        rows = list(session.scalars(select(Connection)))
        session.expunge_all()
        return rows


def test_linkedin_connect_asks_sharing_scopes_stores_sealed_tokens_the_sender_can_post(hub: LiveHub) -> None:
    browser = _ada(hub)
    page = browser.get("/account").text
    assert 'href="/connect/linkedin"' in page and "Install the Slack app" not in page  # learners: no install

    authorize, callback = _connect(browser, "linkedin", LINH)
    scopes = parse_qs(urlsplit(authorize).query)["scope"][0].split()
    assert "w_member_social" in scopes and "openid" in scopes
    answer = browser.http.get(callback, allow_redirects=False)
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/account"), answer.text

    [row] = _connections(hub)
    assert (row.kind, row.remote_id, row.org_id) == ("linkedin", LINH, None)
    assert "w_member_social" in row.scopes
    grant_tokens = [t for t, g in hub.sandboxes["linkedin"].tokens.items() if g.user["sub"] == LINH]
    assert grant_tokens and grant_tokens[-1] not in row.tokens_sealed  # only ciphertext at rest
    assert "access_token" not in row.tokens_sealed

    page = html.unescape(browser.get("/account").text)
    assert "post on your behalf" in page and "Reconnect LinkedIn" in page

    with hub.context() as session:  # what the sender does for linkedin:me
        user = session.scalars(select(User)).one()
        destination = parse_destination("linkedin:me")
        connection = publishing.connection_for(session, destination, user.id, user.org_id)
        assert connection is not None
        target = publishing.target_for(destination, connection)
        published = publishing.publisher_for(session, "linkedin").publish(
            target, Post(text="I completed Security Basics", link="https://lms.example.edu/course/101",
                         title="Security Basics", image_url=None, marker="m-connect-1"))
    assert published.remote_id
    assert any(p["author"] == f"urn:li:person:{LINH}" for p in hub.sandboxes["linkedin"].posts)


def test_sign_in_never_asks_sharing_scopes(hub: LiveHub) -> None:
    browser = Browser(hub)
    for name in ("linkedin", "slack"):
        start = browser.start_login(name)
        scopes = parse_qs(urlsplit(start.headers["Location"]).query)["scope"][0].replace(",", " ").split()
        assert not {"w_member_social", "chat:write", "channels:read"} & set(scopes), scopes


def test_admin_installs_slack_app_for_org_and_bot_token_posts(hub: LiveHub) -> None:
    browser = _ada(hub, admin=True)
    assert "Install the Slack app for Partner Org" in browser.get("/account").text
    authorize, callback = _connect(browser, "slack", SAM)
    assert urlsplit(authorize).path.endswith("/oauth/v2/authorize")
    assert parse_qs(urlsplit(authorize).query)["scope"][0].split(",")[:2] == ["chat:write", "channels:read"]
    answer = browser.http.get(callback, allow_redirects=False)
    assert answer.status_code == 302, answer.text

    [row] = _connections(hub)
    assert (row.kind, row.user_id, row.remote_id) == ("slack", None, "T0PARTNER1") and row.org_id
    assert "xoxb-" not in row.tokens_sealed
    with hub.context() as session:
        user = session.scalars(select(User)).one()
        destination = parse_destination("slack:#wins")
        connection = publishing.connection_for(session, destination, user.id, user.org_id)
        target = publishing.target_for(destination, connection)
        assert str(target.tokens["access_token"]).startswith("xoxb-")
        publishing.publisher_for(session, "slack").publish(
            target, Post(text="Ada completed Security Basics", link=None, title=None, image_url=None,
                         marker="m-slack-1"))
    assert [m["text"] for m in hub.sandboxes["slack"].channel_posts("wins")][-1].startswith("Ada completed")


def test_learner_cannot_install_slack_for_org(hub: LiveHub) -> None:
    browser = _ada(hub)
    assert browser.get("/connect/slack").status_code == 403
    assert _connections(hub) == []


def test_forged_or_reused_state_is_refused_and_nothing_stored(hub: LiveHub) -> None:
    browser = _ada(hub)
    _, callback = _connect(browser, "linkedin", LINH)
    forged = callback.replace("state=", "state=forged")
    answer = browser.http.get(forged, allow_redirects=False)
    assert answer.status_code == 400 and "invalid" in answer.text
    assert _connections(hub) == []

    other = _ada_again_in_other_browser(hub)
    answer = other.http.get(callback, allow_redirects=False)  # the state is bound to the first browser
    assert answer.status_code == 400
    assert _connections(hub) == []


def _ada_again_in_other_browser(hub: LiveHub) -> Browser:
    browser = Browser(hub)
    answer = browser.http.get(callback_url(browser, "google", ADA), allow_redirects=False)
    assert answer.status_code == 302, answer.text
    return browser


def test_disconnect_needs_csrf_deletes_and_skips_pending_deliveries(hub: LiveHub) -> None:
    browser = _ada(hub)
    _, callback = _connect(browser, "linkedin", LINH)
    assert browser.http.get(callback, allow_redirects=False).status_code == 302
    [row] = _connections(hub)
    with hub.context() as session:
        user = session.scalars(select(User)).one()
        for key, destination in (("k1", "linkedin:me"), ("k2", "slack:#wins")):
            session.add(Delivery(key=key, user_id=user.id, destination=destination, status="pending"))
        session.commit()

    assert browser.post(f"/connect/{row.id}/disconnect").status_code == 400  # no CSRF token
    assert len(_connections(hub)) == 1

    token = csrf_token(browser.get("/account").text)
    answer = browser.post(f"/connect/{row.id}/disconnect", data={"csrf_token": token})
    assert answer.status_code == 302, answer.text
    assert _connections(hub) == []
    with hub.context() as session:
        states = {d.destination: (d.status, d.last_error) for d in session.scalars(select(Delivery))}
    assert states["linkedin:me"][0] == "skipped" and "disconnected" in states["linkedin:me"][1]
    assert states["slack:#wins"] == ("pending", None)  # other kinds are untouched


def test_cannot_disconnect_someone_elses_connection(hub: LiveHub) -> None:
    browser = _ada(hub)
    with hub.context() as session:
        other = User(email="bob@partner.example", name="Bob")
        session.add(other)
        session.flush()
        row = Connection(kind="linkedin", user_id=other.id, remote_id="Qx9Lm2Pe", scopes=[], tokens_sealed="")
        row.tokens_sealed = hub.app.extensions["vault"].seal(json.dumps({"access_token": "t"}), row.seal_context)
        session.add(row)
        session.commit()
        row_id = row.id
    token = csrf_token(browser.get("/account").text)
    assert browser.post(f"/connect/{row_id}/disconnect", data={"csrf_token": token}).status_code == 404
    assert len(_connections(hub)) == 1


def test_x_connect_uses_pkce_and_asks_posting_scopes(live: LiveHub) -> None:
    live.add_provider("google")
    _provider(live, "x")
    browser = _ada(live)
    x_user = live.sandboxes["x"].users[0]["sub"]
    authorize, callback = _connect(browser, "x", x_user)
    query = parse_qs(urlsplit(authorize).query)
    assert set(query["scope"][0].split()) == {"tweet.read", "users.read", "tweet.write", "offline.access"}
    assert query["code_challenge_method"] == ["S256"]
    assert browser.http.get(callback, allow_redirects=False).status_code == 302
    [row] = _connections(live)
    assert (row.kind, row.remote_id) == ("x", x_user) and "tweet.write" in row.scopes
    with live.context() as session:
        tokens = provider_access.tokens_of(session.get(Connection, row.id))
    assert tokens["access_token"] and "id_token" not in tokens


def test_a_kind_without_posting_scopes_cannot_be_connected(live: LiveHub) -> None:
    """Google signs people in but has nothing to post with: /connect/google is refused, nothing is stored."""
    from sqlalchemy import func, select

    from hub.models import Connection

    live.add_provider("google")
    browser = Browser(live)
    assert browser.sign_in("google", user="110169484474386276334").status_code == 302
    answer = browser.get("/connect/google")
    assert answer.status_code == 404 and "cannot be connected for sharing" in answer.text
    with live.context() as session:
        assert session.scalar(select(func.count()).select_from(Connection)) == 0
