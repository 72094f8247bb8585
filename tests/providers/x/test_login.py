"""X sign-in end to end over HTTP through the X sandbox: authlib does OAuth 2.0 + PKCE, tweepy reads /2/users/me."""
from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import requests
from sqlalchemy import select

from hub.models import Identity, PendingSignup, User
from tests.live import Browser, LiveHub

ADA = "1427384956271038465"  # confirmed email at X
NOOR = "1427384956271038466"  # no email at X


def test_x_sign_in_with_confirmed_email_creates_user(live: LiveHub) -> None:
    live.add_provider("x")
    sandbox = live.sandboxes["x"]
    browser = Browser(live)
    answer = browser.sign_in("x", user=ADA, next="/account")
    assert answer.status_code == 302, answer.text
    assert answer.headers["Location"] == "/account"
    assert "ada@partner.example" in browser.get("/account").text
    with live.context() as session:
        user = session.scalar(select(User).where(User.email == "ada@partner.example"))
        assert user is not None and user.email_verified and user.name == "Ada Lovelace"
        assert user.picture and user.picture.endswith("ada_normal.jpg")
        identity = session.scalar(select(Identity).where(Identity.user_id == user.id))
        assert (identity.provider, identity.subject) == ("x", ADA)
        assert identity.email_verified and identity.claims["username"] == "ada_codes"
        assert identity.tokens_sealed and "access_token" not in identity.tokens_sealed
    # The profile came from the sandbox's /2/users/me, asked by tweepy (whose host was rewritten).
    assert sandbox.me_hits == 1 and "Tweepy/" in sandbox.me_agents[0]


def test_sign_in_asks_only_for_sign_in_scopes(live: LiveHub) -> None:
    live.add_provider("x")
    start = Browser(live).start_login("x")
    query = parse_qs(urlsplit(start.headers["Location"]).query)
    assert urlsplit(start.headers["Location"]).path.endswith("/sandbox/x/i/oauth2/authorize")
    assert query["scope"] == ["users.read tweet.read users.email"]
    assert "tweet.write" not in query["scope"][0] and "offline.access" not in query["scope"][0]


def test_pkce_is_sent_and_the_sandbox_refuses_without_it(live: LiveHub) -> None:
    live.add_provider("x")
    browser = Browser(live)
    start = browser.start_login("x")
    parts = urlsplit(start.headers["Location"])
    query = parse_qs(parts.query)
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    # The same request with the PKCE parameters stripped is refused by the sandbox, as X does.
    stripped = {k: v[0] for k, v in query.items() if not k.startswith("code_challenge")}
    refused = browser.http.get(urlunsplit(parts._replace(query=urlencode(stripped))), allow_redirects=False)
    assert refused.status_code == 302
    assert parse_qs(urlsplit(refused.headers["Location"]).query)["error"] == ["invalid_request"]
    # The untouched request goes through: so the client sends PKCE and the verifier matches.
    callback = browser.pick_user(start.headers["Location"], ADA)
    assert browser.http.get(callback, allow_redirects=False).status_code == 302


def test_code_without_the_verifier_is_refused_by_the_token_endpoint(live: LiveHub) -> None:
    client_id = live.add_provider("x")
    browser = Browser(live)
    callback = browser.pick_user(browser.start_login("x").headers["Location"], ADA)
    code = parse_qs(urlsplit(callback).query)["code"][0]
    token_url = f"{live.url}/sandbox/x/2/oauth2/token"
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": f"{live.url}/auth/x/callback"}
    stolen = requests.post(token_url, data=form, auth=(client_id, "sandbox-secret"))
    assert stolen.status_code == 400
    assert stolen.json() == {"error": "invalid_request",
                             "error_description": "Value passed for the authorization code was invalid."}
    # The code is spent by that attempt, so the hub's own exchange fails too: a clear error, no user.
    answer = browser.http.get(callback, allow_redirects=False)
    assert answer.status_code == 400 and "refused the sign-in code" in answer.text
    with live.context() as session:
        assert session.scalar(select(User)) is None


def test_token_endpoint_wants_basic_client_auth(live: LiveHub) -> None:
    client_id = live.add_provider("x")
    form = {"grant_type": "authorization_code", "code": "x", "client_id": client_id, "client_secret": "sandbox-secret"}
    answer = requests.post(f"{live.url}/sandbox/x/2/oauth2/token", data=form)
    assert answer.status_code == 401
    assert answer.json() == {"error": "unauthorized_client", "error_description": "Missing valid authorization header"}


def test_users_me_speaks_the_v2_api(live: LiveHub) -> None:
    live.add_provider("x")
    sandbox = live.sandboxes["x"]
    me = f"{live.url}/sandbox/x/2/users/me"
    unauthorized = requests.get(me, headers={"Authorization": "Bearer nope"})
    assert unauthorized.status_code == 401
    assert unauthorized.headers["Content-Type"].startswith("application/problem+json")
    assert unauthorized.json() == {"title": "Unauthorized", "type": "about:blank", "status": 401,
                                   "detail": "Unauthorized"}
    browser = Browser(live)
    browser.sign_in("x", user=ADA)
    token = next(iter(sandbox.tokens))
    answer = requests.get(me, params={"user.fields": "profile_image_url,confirmed_email"},
                          headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    assert answer.json() == {"data": {
        "id": ADA, "name": "Ada Lovelace", "username": "ada_codes", "confirmed_email": "ada@partner.example",
        "profile_image_url": "https://pbs.twimg.com/profile_images/1427384956271038465/ada_normal.jpg"}}
    assert answer.headers["x-rate-limit-limit"] == "75"
    assert int(answer.headers["x-rate-limit-remaining"]) == 73  # the hub's sign-in used one
    bad = requests.get(me, params={"user.fields": "shoe_size"}, headers={"Authorization": f"Bearer {token}"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["parameters"] == {"user.fields": ["shoe_size"]}


def test_without_users_email_scope_no_email_is_given(live: LiveHub) -> None:
    """An app without X's email permission: confirmed_email is neither asked for nor returned."""
    live.add_provider("x")
    with live.context() as session:
        from hub.models import ProviderConfig

        session.scalar(select(ProviderConfig).where(ProviderConfig.name == "x")).scopes = ["users.read", "tweet.read"]
        session.commit()
    answer = Browser(live).sign_in("x", user=ADA)
    assert answer.status_code == 302 and answer.headers["Location"] == "/auth/email"
    with live.context() as session:
        assert session.scalar(select(User)) is None and session.scalar(select(Identity)) is None
        assert session.scalar(select(PendingSignup)).subject == ADA


def test_rate_limit_on_users_me_fails_the_sign_in_cleanly(live: LiveHub) -> None:
    live.add_provider("x")
    live.sandboxes["x"].me_limit = 0
    answer = Browser(live).sign_in("x", user=ADA)
    assert answer.status_code == 502 and "could not finish the sign-in" in answer.text
    assert live.sandboxes["x"].me_hits == 1  # tweepy never waits and retries on a 429
    with live.context() as session:
        assert session.scalar(select(User)) is None


def test_revoked_token_fails_the_sign_in_cleanly(live: LiveHub) -> None:
    live.add_provider("x")
    sandbox = live.sandboxes["x"]
    original = sandbox.token_response

    def revoke(grant, access_token):  # type: ignore[no-untyped-def]
        body = original(grant, access_token)
        sandbox.tokens.pop(access_token)  # X answers /2/users/me with 401 for a revoked token
        return body

    sandbox.token_response = revoke
    answer = Browser(live).sign_in("x", user=ADA)
    assert answer.status_code == 502
    assert sandbox.me_hits == 1
    with live.context() as session:
        assert session.scalar(select(User)) is None


def test_offline_access_gives_a_rotating_refresh_token(live: LiveHub) -> None:
    """What a sharing connection will rely on: refresh tokens only with offline.access, each usable once."""
    client_id = live.add_provider("x")
    sandbox = live.sandboxes["x"]
    Browser(live).sign_in("x", user=ADA)
    assert sandbox.refresh_tokens == {}  # sign-in never asks for offline.access
    with live.context() as session:
        from hub.models import ProviderConfig

        row = session.scalar(select(ProviderConfig).where(ProviderConfig.name == "x"))
        row.scopes = ["users.read", "tweet.read", "tweet.write", "offline.access"]
        session.commit()
    Browser(live).sign_in("x", user=ADA)
    (refresh_token,) = sandbox.refresh_tokens
    token_url = f"{live.url}/sandbox/x/2/oauth2/token"
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    fresh = requests.post(token_url, data=form, auth=(client_id, "sandbox-secret"))
    assert fresh.status_code == 200 and fresh.json()["token_type"] == "bearer" and fresh.json()["refresh_token"]
    me = requests.get(f"{live.url}/sandbox/x/2/users/me",
                      headers={"Authorization": f"Bearer {fresh.json()['access_token']}"})
    assert me.json()["data"]["id"] == ADA
    assert requests.post(token_url, data=form, auth=(client_id, "sandbox-secret")).status_code == 400


def test_debug_logs_never_carry_the_x_token(live: LiveHub, caplog) -> None:  # type: ignore[no-untyped-def]
    """tweepy logs request headers (the user's bearer token) at DEBUG: the app keeps that level shut."""
    import logging

    caplog.set_level(logging.DEBUG)
    live.add_provider("x")
    assert Browser(live).sign_in("x", user=ADA).status_code == 302
    (token,) = live.sandboxes["x"].tokens
    assert token not in caplog.text
