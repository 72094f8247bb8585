"""SCIM requests are limited per token (HUB_RATE_LIMIT_SCIM), and those without a valid token per client address:
past the limit, a SCIM Error with status 429 and Retry-After."""
from __future__ import annotations

import socket

import pytest
import redis
import requests

from hub import tokens
from hub.rate_limits import RateLimits
from tests.addresses import from_address
from tests.live import LiveHub
from tests.scim.conftest import HOME_PAGE, Scim
from tests.scim.test_hostile import scim_error

LIMIT = 3


@pytest.fixture
def hub_env(hub_env: dict[str, str]) -> dict[str, str]:
    return {**hub_env, "HUB_RATE_LIMIT_SCIM": f"{LIMIT}/minute"}


def _another_token(live: LiveHub) -> str:
    with live.context() as session:
        created = tokens.create(session, scope="scim", name="lms-2", home_page=HOME_PAGE, all_orgs=True)
        session.commit()
    return created.secret


def _limited(answer: requests.Response) -> None:
    body = scim_error(answer, 429)
    assert "retry in" in body["detail"]
    assert 1 <= int(answer.headers["Retry-After"]) <= 60


def test_a_token_past_its_limit_gets_429_and_other_tokens_do_not(live: LiveHub, scim: Scim) -> None:
    for _ in range(LIMIT):
        assert scim("GET", "/Users").status_code == 200
    _limited(scim("GET", "/Users"))
    _limited(scim("GET", "/ServiceProviderConfig"))  # every SCIM path, one count per token
    other = Scim(live, _another_token(live))  # same address, another token
    assert other("GET", "/Users").status_code == 200
    from_address("127.0.5.1", scim.http)  # the limited token from elsewhere: the token's count, not the address's
    _limited(scim("GET", "/Users"))


def test_requests_without_a_valid_token_are_limited_per_address(live: LiveHub, scim_token: str) -> None:
    stranger = Scim(live, "hub_made_up_token")
    from_address("127.0.6.1", stranger.http)
    for _ in range(LIMIT):
        assert stranger("GET", "/Users").status_code == 401
    _limited(stranger("GET", "/Users"))
    anonymous = Scim(live, None)
    from_address("127.0.6.1", anonymous.http)
    _limited(anonymous("GET", "/Users"))  # no token at all: the same address's count
    elsewhere = Scim(live, "hub_made_up_token")
    from_address("127.0.6.2", elsewhere.http)
    assert elsewhere("GET", "/Users").status_code == 401  # another address: its own count
    valid = Scim(live, scim_token)
    from_address("127.0.6.1", valid.http)
    assert valid("GET", "/Users").status_code == 200  # a valid token is counted as itself, not as its address


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_limit_fails_open_when_redis_is_unreachable(live: LiveHub, scim: Scim) -> None:
    """A limiter that cannot count must not turn a Redis outage into a SCIM outage."""
    for _ in range(LIMIT):
        scim("GET", "/Users")
    _limited(scim("GET", "/Users"))
    working = live.app.extensions["rate_limits"]
    dead = redis.Redis(host="127.0.0.1", port=_closed_port(), socket_connect_timeout=1)
    live.app.extensions["rate_limits"] = RateLimits.build(dead, live.app.extensions["settings"])
    try:
        assert scim("GET", "/Users").status_code == 200
    finally:
        live.app.extensions["rate_limits"] = working
    _limited(scim("GET", "/Users"))
