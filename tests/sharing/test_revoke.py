"""Revoking the provider tokens the hub holds, over HTTP against the sandboxes: disconnect and deprovisioning revoke
at Slack, X, LinkedIn (and Google's endpoint works for sign-in tokens); a provider answering 500 still loses the row
locally and the waiting posts are still skipped."""
from __future__ import annotations

import logging
from typing import Any

import pytest
import requests
from sqlalchemy import select

from hub import db, deprovision, provider_access
from hub.models import Connection, Delivery, User
from tests.live import Browser, LiveHub, csrf_token
from tests.sharing.test_connect import LINH, SAM, _ada, _connect, _connections, _provider

X_ADA = "1427384956271038465"  # X sandbox user


@pytest.fixture
def hub(live: LiveHub) -> LiveHub:
    live.add_provider("google")
    for name in ("linkedin", "slack", "x"):
        _provider(live, name)
    return live


def _connected(hub: LiveHub, browser: Browser, kind: str, user: str) -> tuple[int, dict[str, Any]]:
    """Connect `kind` through the sandbox's consent page; returns (connection id, the tokens the hub holds)."""
    _, callback = _connect(browser, kind, user)
    assert browser.http.get(callback, allow_redirects=False).status_code == 302
    [row] = [c for c in _connections(hub) if c.kind == kind]
    with hub.context() as session:
        return row.id, provider_access.tokens_of(session.get(Connection, row.id))


def _disconnect(browser: Browser, connection_id: int) -> None:
    token = csrf_token(browser.get("/account").text)
    answer = browser.post(f"/connect/{connection_id}/disconnect", data={"csrf_token": token})
    assert answer.status_code == 302, answer.text


def _sandbox_url(hub: LiveHub, kind: str, path: str) -> str:
    return f"{hub.url}/sandbox/{kind}{path}"


def _linkedin_post(hub: LiveHub, token: str) -> requests.Response:
    return requests.post(_sandbox_url(hub, "linkedin", "/rest/posts"), json={}, timeout=5,
                         headers={"Authorization": f"Bearer {token}", "LinkedIn-Version": "202601",
                                  "X-Restli-Protocol-Version": "2.0.0"})


def _x_me(hub: LiveHub, token: str) -> requests.Response:
    return requests.get(_sandbox_url(hub, "x", "/2/users/me"), headers={"Authorization": f"Bearer {token}"},
                        timeout=5)


def _slack_post(hub: LiveHub, token: str) -> dict[str, Any]:
    return requests.post(_sandbox_url(hub, "slack", "/api/chat.postMessage"), timeout=5,
                         headers={"Authorization": f"Bearer {token}"},
                         data={"channel": "#wins", "text": "still here?"}).json()


def _waiting(hub: LiveHub, destination: str) -> int:
    with hub.context() as session:
        user = session.scalars(select(User)).one()
        row = Delivery(key=f"k-{destination}", user_id=user.id, destination=destination, status="pending")
        session.add(row)
        session.commit()
        return row.id


def _delivery(hub: LiveHub, delivery_id: int) -> tuple[str, str | None]:
    with hub.context() as session:
        row = session.get(Delivery, delivery_id)
        return row.status, row.last_error


def test_disconnecting_linkedin_revokes_the_member_token(hub: LiveHub) -> None:
    browser = _ada(hub)
    connection_id, tokens = _connected(hub, browser, "linkedin", LINH)
    sandbox = hub.sandboxes["linkedin"]
    assert _linkedin_post(hub, tokens["access_token"]).status_code != 401  # live before (422: empty body)

    _disconnect(browser, connection_id)

    assert sandbox.revoked == [tokens["access_token"]]
    refused = _linkedin_post(hub, tokens["access_token"])
    assert refused.status_code == 401 and refused.json()["code"] == "REVOKED_ACCESS_TOKEN"
    assert sandbox.client_auth_seen[-1] == "client_secret_post"  # LinkedIn wants the credentials in the body
    assert _connections(hub) == []


def test_disconnecting_x_revokes_refresh_then_access_token(hub: LiveHub) -> None:
    browser = _ada(hub)
    connection_id, tokens = _connected(hub, browser, "x", X_ADA)
    sandbox = hub.sandboxes["x"]
    assert tokens.get("refresh_token") and _x_me(hub, tokens["access_token"]).status_code == 200

    _disconnect(browser, connection_id)

    assert sandbox.revoked == [("refresh_token", tokens["refresh_token"]), ("access_token", tokens["access_token"])]
    assert _x_me(hub, tokens["access_token"]).status_code == 401
    refresh = requests.post(_sandbox_url(hub, "x", "/2/oauth2/token"), auth=("client-x", "sandbox-secret"),
                            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}, timeout=5)
    assert refresh.status_code == 400  # the refresh token cannot mint a new access token either


def test_disconnecting_the_slack_workspace_revokes_the_bot_token(hub: LiveHub) -> None:
    browser = _ada(hub, admin=True)
    connection_id, tokens = _connected(hub, browser, "slack", SAM)
    bot = tokens["access_token"]
    assert _slack_post(hub, bot)["ok"] is True

    _disconnect(browser, connection_id)

    assert hub.sandboxes["slack"].revoked == [bot]
    assert _slack_post(hub, bot) == {"ok": False, "error": "token_revoked"}


def test_disable_revokes_every_connection_of_the_user(hub: LiveHub) -> None:
    browser = _ada(hub)
    _, linkedin = _connected(hub, browser, "linkedin", LINH)
    _, x = _connected(hub, browser, "x", X_ADA)

    with hub.app.app_context(), db.transaction() as session:
        user = session.scalars(select(User)).one()
        deprovision.disable(session, user, actor="admin@hub.example", reason="contract ended")

    assert hub.sandboxes["linkedin"].revoked == [linkedin["access_token"]]
    assert {token for _, token in hub.sandboxes["x"].revoked} == {x["access_token"], x["refresh_token"]}
    assert _x_me(hub, x["access_token"]).status_code == 401
    assert _linkedin_post(hub, linkedin["access_token"]).status_code == 401
    assert _connections(hub) == []


@pytest.mark.parametrize(("kind", "user", "destination"), [
    ("linkedin", LINH, "linkedin:me"),
    ("x", X_ADA, "x:me"),
    ("slack", SAM, "slack:#wins"),
])
def test_a_provider_failing_to_revoke_still_loses_the_row_and_the_posts(
        hub: LiveHub, caplog: pytest.LogCaptureFixture, kind: str, user: str, destination: str) -> None:
    browser = _ada(hub, admin=kind == "slack")
    connection_id, tokens = _connected(hub, browser, kind, user)
    delivery_id = _waiting(hub, destination)
    hub.sandboxes[kind].revoke_faults.push(500, times=2)

    with caplog.at_level(logging.WARNING):
        _disconnect(browser, connection_id)

    assert _connections(hub) == []
    status, why = _delivery(hub, delivery_id)
    assert status == "skipped" and "disconnected" in (why or "")
    assert f"revoking connection {connection_id} at {kind} failed" in caplog.text
    assert tokens["access_token"] not in caplog.text  # the token is never logged
    assert hub.sandboxes[kind].revoked == []  # the sandbox never got to revoke anything


def test_disable_with_the_provider_down_still_disables_and_skips(hub: LiveHub) -> None:
    browser = _ada(hub)
    _connected(hub, browser, "linkedin", LINH)
    delivery_id = _waiting(hub, "linkedin:me")
    hub.sandboxes["linkedin"].revoke_faults.push(500)

    with hub.app.app_context(), db.transaction() as session:
        user = session.scalars(select(User)).one()
        deprovision.disable(session, user, actor="admin@hub.example", reason="left the partner")

    assert _connections(hub) == []
    assert _delivery(hub, delivery_id)[0] == "skipped"


def test_google_revocation_ends_the_grant(hub: LiveHub) -> None:
    """Google holds no posting connections, but its documented endpoint revokes a sign-in grant: userinfo refuses it."""
    sandbox = hub.sandboxes["google"]
    browser = Browser(hub)
    assert browser.sign_in("google", user="110169484474386276334").status_code == 302
    [token] = list(sandbox.tokens)
    userinfo = _sandbox_url(hub, "google", "/v1/userinfo")
    assert requests.get(userinfo, headers={"Authorization": f"Bearer {token}"}, timeout=5).status_code == 200

    with hub.context() as session:
        _, google = hub.app.extensions["providers"].get(session, "google")
        google.revoke_connection({"access_token": token})
        assert sandbox.revoked == [token]
        assert requests.get(userinfo, headers={"Authorization": f"Bearer {token}"}, timeout=5).status_code == 401
        with pytest.raises(Exception) as refused:  # a second revocation: Google's 400 invalid_token
            google.revoke_connection({"access_token": token})
    assert getattr(refused.value, "code", None) == "permanent"


def test_disabling_a_user_revokes_and_forgets_the_sign_in_tokens(hub: LiveHub) -> None:
    """The tokens a sign-in stored on the identity are revoked at Google (it can) and dropped from the row."""
    sandbox = hub.sandboxes["google"]
    browser = Browser(hub)
    assert browser.sign_in("google", user="110169484474386276334").status_code == 302
    [token] = list(sandbox.tokens)
    with hub.context() as session:
        user = session.scalars(select(User)).one()
        assert all(identity.tokens_sealed for identity in user.identities)
        deprovision.disable(session, user, actor="admin@hub.example", reason="left the partner")
        session.commit()
        assert sandbox.revoked == [token]
        assert [identity.tokens_sealed for identity in user.identities] == [None]


def test_sign_in_tokens_are_forgotten_even_when_the_provider_fails(hub: LiveHub,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    sandbox = hub.sandboxes["google"]
    browser = Browser(hub)
    assert browser.sign_in("google", user="110169484474386276334").status_code == 302
    sandbox.revoke_faults.push(500)
    with hub.context() as session, caplog.at_level(logging.WARNING):
        user = session.scalars(select(User)).one()
        deprovision.erase(session, user, actor="cli")
        session.commit()
    assert sandbox.revoked == []
    assert "sign-in tokens of identity" in caplog.text
    with hub.context() as session:
        assert session.scalars(select(User)).one().identities == []
