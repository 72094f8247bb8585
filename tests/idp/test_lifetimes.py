"""The OpenID Provider's codes, tokens, ID tokens and keys live by the hub's clock (hub.clock), which these tests
move forward instead of sleeping (tests/clock.py)."""
from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from hub.idp import keys, lifetimes
from tests.clock import movable_clock
from tests.idp.conftest import LMS_CALLBACK, Lms


def _signed_code(lms: Lms) -> tuple[str, str]:
    callback, start = lms.authorize(lms.browser())
    return parse_qs(urlsplit(callback).query)["code"][0], start["verifier"]


def _exchange(lms: Lms, code: str, verifier: str) -> requests.Response:
    return requests.post(f"{lms.live.url}/oauth/token", auth=(lms.client_id, lms.secret), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": LMS_CALLBACK, "code_verifier": verifier})


def _refresh(lms: Lms, refresh_token: str) -> requests.Response:
    return requests.post(f"{lms.live.url}/oauth/token", auth=(lms.client_id, lms.secret),
                         data={"grant_type": "refresh_token", "refresh_token": refresh_token})


def _userinfo(lms: Lms, access_token: str) -> requests.Response:
    return requests.get(f"{lms.live.url}/oauth/userinfo", headers={"Authorization": f"Bearer {access_token}"})


def _claims(id_token: str) -> dict[str, Any]:
    """The payload as sent (the RP tests verify signatures; here only the times matter)."""
    payload = id_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))  # type: ignore[no-any-return]


def _kids(lms: Lms) -> list[str]:
    return [key["kid"] for key in requests.get(f"{lms.live.url}/oauth/jwks").json()["keys"]]


def test_a_code_expires_after_its_lifetime(lms: Lms) -> None:
    clock = movable_clock(lms.live.app)
    code, verifier = _signed_code(lms)
    clock.advance(seconds=lifetimes.CODE_SECONDS + 1)
    answer = _exchange(lms, code, verifier)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant", answer.text


def test_id_token_iat_and_exp_come_from_the_hubs_clock(lms: Lms) -> None:
    clock = movable_clock(lms.live.app)
    code, verifier = _signed_code(lms)
    clock.advance(seconds=lifetimes.CODE_SECONDS / 2)  # still redeemable, and far enough to tell the clocks apart
    before = int(clock.now().timestamp())
    answer = _exchange(lms, code, verifier)
    assert answer.status_code == 200, answer.text
    claims = _claims(answer.json()["id_token"])
    assert before <= claims["iat"] <= int(clock.now().timestamp())
    assert claims["exp"] == claims["iat"] + lifetimes.ID_TOKEN_SECONDS


def test_an_access_token_stops_working_after_its_lifetime(lms: Lms) -> None:
    clock = movable_clock(lms.live.app)
    tokens = lms.sign_in()
    assert _userinfo(lms, tokens["access_token"]).status_code == 200
    clock.advance(seconds=lifetimes.ACCESS_TOKEN_SECONDS + 1)
    expired = _userinfo(lms, tokens["access_token"])
    assert expired.status_code == 401 and "invalid_token" in expired.headers["WWW-Authenticate"]


def test_a_refresh_token_expires_after_its_lifetime(lms: Lms) -> None:
    clock = movable_clock(lms.live.app)
    tokens = lms.sign_in()
    clock.advance(seconds=lifetimes.REFRESH_TOKEN_SECONDS + 1)
    answer = _refresh(lms, tokens["refresh_token"])
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant", answer.text


def test_a_refresh_token_works_until_then(lms: Lms) -> None:
    clock = movable_clock(lms.live.app)
    tokens = lms.sign_in()
    clock.advance(seconds=lifetimes.REFRESH_TOKEN_SECONDS - 60)
    answer = _refresh(lms, tokens["refresh_token"])
    assert answer.status_code == 200, answer.text
    assert _userinfo(lms, answer.json()["access_token"]).status_code == 200  # issued at the moved time


def test_a_retired_key_leaves_jwks_once_the_tokens_it_signed_have_expired(lms: Lms) -> None:
    clock = movable_clock(lms.live.app)
    lms.sign_in()  # the hub has made its keys: the current one and the next
    published = set(_kids(lms))
    with lms.live.context() as session:
        current, _next = keys.rotate(session, lms.live.app.extensions["vault"])
        session.commit()
    (old,) = published - {current}
    assert old in _kids(lms)  # retired, still published while its ID tokens live
    clock.advance(seconds=lifetimes.KEY_RETIREMENT_SECONDS + 1)
    assert old not in _kids(lms)
