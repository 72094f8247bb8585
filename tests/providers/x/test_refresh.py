"""X token refresh against the X sandbox over HTTP: authlib's refresh-token grant, Basic client auth, rotation."""
from __future__ import annotations

import time
from typing import Any

import pytest

from providers.base import AuthExpired, Permanent, Post, RateLimited, Target, Transient
from providers.sandbox_kit import Grant
from providers.x.publish import XPublisher
from tests.providers.posting import X_USER, PostingHosts

CLIENT, SECRET = "hub-x-app", "hub-x-secret"
POST = Post("Ada earned the Rust badge", None, None, None, "hub-r01")


def publisher(hosts: PostingHosts, secret: str = SECRET) -> XPublisher:
    """The X publisher as the hub builds it: the X sign-in app's credentials, endpoints at the sandbox."""
    hosts.sandboxes["x"].register_client(CLIENT, SECRET)
    made = hosts.publisher("x", client_id=CLIENT, client_secret=secret)
    assert isinstance(made, XPublisher)
    return made


def expired_tokens(hosts: PostingHosts) -> dict[str, Any]:
    x = hosts.sandboxes["x"]
    tokens = x.issue_tokens(CLIENT, X_USER)
    x.expire(tokens["access_token"])
    return tokens


def test_an_expired_token_is_auth_expired_on_post_and_lookup(hosts: PostingHosts) -> None:
    target = Target("me", {"access_token": expired_tokens(hosts)["access_token"]}, account_id=X_USER)
    with pytest.raises(AuthExpired, match="401"):
        publisher(hosts).publish(target, POST)
    with pytest.raises(AuthExpired, match="401"):
        publisher(hosts).find(target, "hub-r01")
    assert hosts.sandboxes["x"].tweets == [] and hosts.sandboxes["x"].expired_hits == 2


def test_refresh_redeems_the_refresh_token_once_and_the_new_token_posts(hosts: PostingHosts) -> None:
    x, old = hosts.sandboxes["x"], expired_tokens(hosts)
    fresh = publisher(hosts).refresh(old)
    assert x.refresh_hits == 1
    assert fresh["access_token"] != old["access_token"] and fresh["access_token"] in x.tokens
    # X rotates: the answer's refresh token is the only one that works now.
    assert fresh["refresh_token"] != old["refresh_token"] and set(x.refresh_tokens) == {fresh["refresh_token"]}
    assert fresh["token_type"] == "bearer" and fresh["expires_in"] == 7200 and "tweet.write" in fresh["scope"]
    published = publisher(hosts).publish(Target("me", fresh, account_id=X_USER), POST)
    assert [t["id"] for t in x.tweets] == [published.remote_id]


def test_a_refresh_token_used_twice_is_permanent_reconnect(hosts: PostingHosts) -> None:
    x, old = hosts.sandboxes["x"], expired_tokens(hosts)
    publisher(hosts).refresh(old)
    with pytest.raises(Permanent, match="X refused the refresh token .*reconnect the account") as refused:
        publisher(hosts).refresh(old)
    assert old["refresh_token"] not in refused.value.message and x.refresh_refused == 1


def test_an_answer_without_a_refresh_token_keeps_the_old_one(hosts: PostingHosts) -> None:
    x = hosts.sandboxes["x"]
    user = next(u for u in x.users if u["sub"] == X_USER)
    x.refresh_tokens["kept-refresh-token"] = Grant(CLIENT, None, user, "tweet.read tweet.write users.read", None, None)
    fresh = publisher(hosts).refresh({"access_token": "old", "refresh_token": "kept-refresh-token"})
    assert fresh["refresh_token"] == "kept-refresh-token" and fresh["access_token"] in x.tokens


def test_no_refresh_token_stored_is_permanent(hosts: PostingHosts) -> None:
    with pytest.raises(Permanent, match="no refresh token: reconnect the account"):
        publisher(hosts).refresh({"access_token": "old"})
    assert hosts.sandboxes["x"].refresh_hits == hosts.sandboxes["x"].refresh_refused == 0


def test_client_authentication_is_basic_and_a_wrong_secret_is_permanent(hosts: PostingHosts) -> None:
    # The sandbox accepts only client_secret_basic, as X does for confidential clients: the success above says
    # the publisher sent Basic; a wrong secret is X's 401 unauthorized_client, which no retry fixes.
    with pytest.raises(Permanent, match="client credentials"):
        publisher(hosts, secret="wrong").refresh(expired_tokens(hosts))


def test_429_on_the_token_endpoint_is_rate_limited(hosts: PostingHosts) -> None:
    reset = int(time.time()) + 300
    hosts.sandboxes["x"].refresh_faults.push(429, {"title": "Too Many Requests", "status": 429},
                                             {"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)})
    with pytest.raises(RateLimited) as caught:
        publisher(hosts).refresh(expired_tokens(hosts))
    assert 290 <= caught.value.retry_after <= 300


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_on_the_token_endpoint_is_transient_and_the_token_still_works(hosts: PostingHosts, status: int) -> None:
    tokens = expired_tokens(hosts)
    hosts.sandboxes["x"].refresh_faults.push(status, {"title": "Service Unavailable"})
    with pytest.raises(Transient, match=str(status)):
        publisher(hosts).refresh(tokens)
    assert publisher(hosts).refresh(tokens)["access_token"]  # nothing was redeemed: the retry succeeds


def test_unreachable_token_endpoint_is_transient(hosts: PostingHosts) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    hosts.sandboxes["x"].register_client(CLIENT, SECRET)
    gone = hosts.publisher("x", client_id=CLIENT, client_secret=SECRET, api_base=dead)
    with pytest.raises(Transient, match="did not answer"):
        gone.refresh(expired_tokens(hosts))  # type: ignore[attr-defined]


def test_refresh_goes_to_xs_token_endpoint_in_production() -> None:
    from providers.base import ProviderSettings
    from providers.x import X

    settings = ProviderSettings(name="x", client_id="id", client_secret="secret")
    assert X(settings).endpoints()["token_endpoint"] == "https://api.x.com/2/oauth2/token"
    assert X.token_auth_method == "client_secret_basic"
