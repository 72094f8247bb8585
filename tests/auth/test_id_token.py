"""ID token validation over real sign-ins: one claim or one signature property wrong at a time."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.auth.helpers import ADA, assert_refused, callback_url, counts, sign_out
from tests.live import Browser, LiveHub


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _sign_in(live: LiveHub, provider: str = "google", user: str = ADA) -> tuple[Browser, Any]:
    browser = Browser(live)
    return browser, browser.http.get(callback_url(browser, provider, user), allow_redirects=False)


def _claims(change: Callable[[dict], dict]) -> Callable[[dict], dict]:
    return lambda claims: change(dict(claims))


NOW = lambda: int(time.time())  # noqa: E731


CLAIM_CASES = {
    "wrong_nonce": (lambda c: {**c, "nonce": "not-the-nonce-we-sent"}, "The ID token failed a check (nonce)."),
    "wrong_iss": (lambda c: {**c, "iss": "https://evil.test"}, "The ID token failed a check (iss)."),
    "wrong_aud": (lambda c: {**c, "aud": "client-someone-else"}, "The ID token failed a check (aud)."),
    "untrusted_extra_aud_without_azp": (lambda c: {**c, "aud": [c["aud"], "client-untrusted"]},
                                        "The ID token was issued to another client (azp)."),
    "azp_of_another_client": (lambda c: {**c, "azp": "client-someone-else"},
                              "The ID token was issued to another client (azp)."),
    "expired": (lambda c: {**c, "iat": NOW() - 400, "exp": NOW() - 120}, "The ID token failed a check (exp)."),
    "iat_far_in_the_past": (lambda c: {**c, "iat": NOW() - 24 * 3600}, "The ID token is too old (iat)."),
    "iat_in_the_future": (lambda c: {**c, "iat": NOW() + 3600}, "The ID token failed a check (iat)."),
    "missing_sub": (lambda c: {k: v for k, v in c.items() if k != "sub"}, "The ID token failed a check (sub)."),
    "missing_nonce": (lambda c: {k: v for k, v in c.items() if k != "nonce"}, "The ID token failed a check (nonce)."),
}


@pytest.mark.parametrize("case", sorted(CLAIM_CASES))
def test_one_wrong_claim_is_refused(live: LiveHub, case: str) -> None:
    change, message = CLAIM_CASES[case]
    live.add_provider("google")
    live.sandboxes["google"].faults.id_token_claims = _claims(change)
    browser, answer = _sign_in(live)
    assert_refused(live, browser, answer, status=400, message=message, reason="invalid_id_token")


def test_aud_list_with_our_client_and_matching_azp_is_accepted(live: LiveHub) -> None:
    """The control for the two aud/azp refusals: extra audiences are fine when azp names us."""
    client_id = live.add_provider("google")
    live.sandboxes["google"].faults.id_token_claims = lambda c: {**c, "aud": [client_id, "client-other"],
                                                                  "azp": client_id}
    _browser, answer = _sign_in(live)
    assert answer.status_code == 302, answer.text
    assert counts(live) == (1, 1)


def test_flipped_signature_byte_is_refused(live: LiveHub) -> None:
    live.add_provider("google")

    def flip(token: str) -> str:
        header, payload, signature = token.split(".")
        raw = bytearray(_unb64(signature))
        raw[len(raw) // 2] ^= 0x01
        return f"{header}.{payload}.{_b64(bytes(raw))}"

    live.sandboxes["google"].faults.raw_id_token = flip
    browser, answer = _sign_in(live)
    assert_refused(live, browser, answer, status=400, message="The ID token's signature does not verify.",
                   reason="invalid_id_token")


def test_unsigned_alg_none_is_refused(live: LiveHub) -> None:
    live.add_provider("google")
    live.sandboxes["google"].faults.id_token_header = {"alg": "none"}
    browser, answer = _sign_in(live)
    assert_refused(live, browser, answer, status=400, message="The ID token uses an algorithm we do not accept (none).",
                   reason="invalid_id_token")


def test_hs256_keyed_with_the_rsa_public_key_is_refused(live: LiveHub) -> None:
    """Algorithm confusion: an attacker who knows the public key signs with it as an HMAC secret."""
    live.add_provider("google")
    sandbox = live.sandboxes["google"]
    public_pem = sandbox.signing_key.as_pem(private=False)
    assert public_pem.startswith(b"-----BEGIN PUBLIC KEY-----")

    def resign(token: str) -> str:
        header = {"alg": "HS256", "kid": sandbox.signing_key.kid, "typ": "JWT"}
        signing_input = f"{_b64(json.dumps(header).encode())}.{token.split('.')[1]}"
        mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{_b64(mac)}"

    sandbox.faults.raw_id_token = resign
    browser, answer = _sign_in(live)
    assert_refused(live, browser, answer, status=400,
                   message="The ID token uses an algorithm we do not accept (HS256).", reason="invalid_id_token")


def test_unknown_kid_is_refetched_once_then_refused(live: LiveHub) -> None:
    live.add_provider("google")
    sandbox = live.sandboxes["google"]
    first, answer = _sign_in(live)  # the hub now holds the key set
    assert answer.status_code == 302
    sign_out(first)
    fetched = sandbox.jwks_requests
    sandbox.faults.id_token_header = {"kid": "kid-nobody-published"}
    browser, answer = _sign_in(live)
    assert_refused(live, browser, answer, status=400, message="The ID token's signature does not verify.",
                   reason="invalid_id_token", users=1, identities=1)
    assert sandbox.jwks_requests == fetched + 1  # looked once for a rotated key, found none


def test_rotated_key_is_accepted_after_one_refetch(live: LiveHub) -> None:
    live.add_provider("google")
    sandbox = live.sandboxes["google"]
    first, answer = _sign_in(live)
    assert answer.status_code == 302
    sign_out(first)
    fetched = sandbox.jwks_requests
    new_kid = sandbox.rotate_keys(keep_old=False)
    assert sandbox.signing_key.kid == new_kid
    _browser, answer = _sign_in(live)
    assert answer.status_code == 302, answer.text
    assert sandbox.jwks_requests == fetched + 1
    _browser, answer = _sign_in(live)  # the new key is cached now
    assert answer.status_code == 302, answer.text
    assert sandbox.jwks_requests == fetched + 1


@pytest.mark.parametrize("document", [{"error": "temporarily_unavailable"}, {"keys": {"kid": "one"}}, ["a list"]])
def test_a_key_set_without_a_keys_list_is_refused(live: LiveHub, document: Any) -> None:
    live.add_provider("google")
    live.sandboxes["google"].faults.jwks = lambda _published: document
    browser, answer = _sign_in(live)
    assert_refused(live, browser, answer, status=400, reason="invalid_jwks",
                   message="The provider's jwks_uri did not answer a JSON Web Key Set.")


def test_userinfo_naming_another_subject_is_refused(live: LiveHub) -> None:
    """The generic OIDC provider reads userinfo; its sub must be the ID token's."""
    live.add_provider("oidc")
    sandbox = live.sandboxes["oidc"]
    sandbox.faults.userinfo = lambda info: {**info, "sub": "someone-else", "email": "victim@oidc.example"}
    browser, answer = _sign_in(live, "oidc", sandbox.users[0]["sub"])
    assert_refused(live, browser, answer, status=400, message="The provider's user info names another user.",
                   reason="userinfo_sub_mismatch")
