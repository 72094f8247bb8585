"""The OpenID Provider reads no JSON request bodies, but it decodes the JSON inside an id_token_hint (joserfc, with
Python's json): nested past json_input.MAX_DEPTH it is a refused sign-out, never a 500; JSON bodies posted to the
machine endpoints get their OAuth error, never a 500, and a body past the hub's ceiling a JSON 413."""
from __future__ import annotations

import base64
import json

import pytest
import requests

from hub.app import MAX_REQUEST_BYTES
from tests.live import LiveHub
from tests.raw_http import announce_body

NESTED = b"[" * 100_000


def segment(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize("nested_part", ["header", "claims"])
@pytest.mark.parametrize(("method", "depth"), [
    ("POST", 100_000),
    ("GET", 3_000),  # a URL has room for less, and it is already past the json module's recursion limit
])
def test_an_id_token_hint_nested_too_deep_is_a_refused_sign_out(live: LiveHub, nested_part: str, method: str,
                                                                depth: int) -> None:
    header, claims = b'{"alg": "RS256", "kid": "k"}', b'{"sub": "1"}'
    if nested_part == "header":
        header = NESTED[:depth]
    else:
        claims = NESTED[:depth]
    hint = {"id_token_hint": f"{segment(header)}.{segment(claims)}.c2ln"}
    sent = {"params": hint} if method == "GET" else {"data": hint}
    answer = requests.request(method, f"{live.url}/oauth/logout", timeout=10, **sent)  # type: ignore[arg-type]
    assert answer.status_code == 400, answer.text
    assert "Sign-out request refused" in answer.text


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/revoke", "/oauth/userinfo"])
def test_a_nested_json_body_gets_the_endpoints_oauth_error(live: LiveHub, path: str) -> None:
    answer = requests.post(f"{live.url}{path}", data=NESTED, headers={"Content-Type": "application/json"}, timeout=10)
    assert answer.status_code in (400, 401), answer.text
    assert answer.headers["Content-Type"].startswith("application/json")


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/revoke", "/oauth/userinfo"])
def test_a_body_past_the_hubs_ceiling_is_a_json_413(live: LiveHub, path: str) -> None:
    answer = announce_body(live.url, "POST", path, MAX_REQUEST_BYTES * 4,
                           {"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status == 413 and answer.content_type == "application/json"
    assert json.loads(answer.body)["error"] == "too_large"
