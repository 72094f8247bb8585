"""Failed client authentication at /oauth/token and /oauth/revoke is limited per client id and per client address
(HUB_RATE_LIMIT_CLIENT_AUTH): past it the failure is 429 with Retry-After; a client that authenticates never is."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
import requests

from hub.idp import clients
from tests.addresses import from_address
from tests.idp.conftest import LMS_CALLBACK
from tests.live import LiveHub

LIMIT = 3
# A client that authenticates and presents an unknown refresh token: authenticated, then invalid_grant (400).
REFRESH = {"grant_type": "refresh_token", "refresh_token": "not-a-token"}


@pytest.fixture
def hub_env(hub_env: dict[str, str]) -> dict[str, str]:
    return {**hub_env, "HUB_RATE_LIMIT_CLIENT_AUTH": f"{LIMIT}/minute"}


@dataclass
class Registered:
    client_id: str
    secret: str


def _register(live: LiveHub, name: str) -> Registered:
    with live.context() as session:
        issued = clients.add(session, name, [LMS_CALLBACK])
        session.commit()
        return Registered(issued.client.client_id, issued.secret)


def _token(live: LiveHub, address: str, client_id: str, secret: str, path: str = "/oauth/token") -> requests.Response:
    data = REFRESH if path == "/oauth/token" else {"token": "not-a-token"}
    return from_address(address).post(f"{live.url}{path}", auth=(client_id, secret), data=data)


def _is_failure(answer: requests.Response) -> bool:
    return answer.status_code == 401 and answer.json()["error"] == "invalid_client"


def _is_limited(answer: requests.Response) -> bool:
    assert answer.status_code == 429, answer.text
    assert answer.json()["error"] == "too_many_requests" and "retry in" in answer.json()["error_description"]
    assert 1 <= int(answer.headers["Retry-After"]) <= 60 and answer.headers["Cache-Control"] == "no-store"
    return True


def test_failures_for_one_client_id_are_limited_from_any_address(live: LiveHub) -> None:
    moodle, canvas = _register(live, "Moodle"), _register(live, "Canvas")
    for n in range(LIMIT):  # from a new address each time: only the client id's counter fills
        assert _is_failure(_token(live, f"127.0.1.{n + 1}", moodle.client_id, "hubcs_wrong"))
    assert _is_limited(_token(live, "127.0.1.9", moodle.client_id, "hubcs_wrong"))
    assert _is_limited(_token(live, "127.0.1.10", moodle.client_id, "hubcs_wrong", path="/oauth/revoke"))
    # The client itself, with its secret, is served: client ids are public, a stranger's failures can't lock it out.
    assert _token(live, "127.0.1.9", moodle.client_id, moodle.secret).json()["error"] == "invalid_grant"
    assert _token(live, "127.0.1.9", moodle.client_id, moodle.secret, path="/oauth/revoke").status_code == 200
    assert _is_failure(_token(live, "127.0.1.11", canvas.client_id, "hubcs_wrong"))  # another client: its own count


def test_failures_from_one_address_are_limited_whatever_client_they_name(live: LiveHub) -> None:
    moodle = _register(live, "Moodle")
    for n in range(LIMIT):  # a made-up id each time: only the address's counter fills
        assert _is_failure(_token(live, "127.0.2.1", f"hubc_guess{n}", "hubcs_wrong"))
    assert _is_limited(_token(live, "127.0.2.1", "hubc_guess9", "hubcs_wrong"))
    assert _is_limited(_token(live, "127.0.2.1", moodle.client_id, "hubcs_wrong"))
    assert _token(live, "127.0.2.1", moodle.client_id, moodle.secret).status_code == 400  # authenticated: served
    assert _is_failure(_token(live, "127.0.2.2", "hubc_guess9", "hubcs_wrong"))  # another address: its own count


def test_successful_authentications_do_not_count(live: LiveHub) -> None:
    moodle = _register(live, "Moodle")
    for _ in range(LIMIT * 4):
        assert _token(live, "127.0.3.1", moodle.client_id, moodle.secret).json()["error"] == "invalid_grant"
    for _ in range(LIMIT):  # the whole budget is still there
        assert _is_failure(_token(live, "127.0.3.1", moodle.client_id, "hubcs_wrong"))
    assert _is_limited(_token(live, "127.0.3.1", moodle.client_id, "hubcs_wrong"))


def test_two_ways_at_once_counts_as_a_failure(live: LiveHub) -> None:
    moodle = _register(live, "Moodle")
    session = from_address("127.0.4.1")
    both = {**REFRESH, "client_id": moodle.client_id, "client_secret": moodle.secret}
    for _ in range(LIMIT):
        assert _is_failure(session.post(f"{live.url}/oauth/token", auth=(moodle.client_id, moodle.secret), data=both))
    assert _is_limited(session.post(f"{live.url}/oauth/token", auth=(moodle.client_id, moodle.secret), data=both))
