"""What the OpenID Foundation's Basic and Config OP test plans send, over HTTP against the live hub.

Each test names the conformance module (oidcc-...) or RFC section it stands for. The RP library
(openid-client) judges the success cases; the error cases read the redirect the RP would get.
"""
from __future__ import annotations

import json
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from sqlalchemy import select

from hub.idp import clients
from hub.models import AuthorizationCode, IdpConsent, OAuthClient
from tests.idp.conftest import LMS_CALLBACK, Lms
from tests.live import Browser, csrf_token


def _request(lms: Lms, **params: str | None) -> dict[str, str]:
    """A plain authorization request, as the conformance suite builds it (no PKCE, fresh state and nonce)."""
    base = {"response_type": "code", "client_id": lms.client_id, "scope": "openid email",
            "redirect_uri": LMS_CALLBACK, "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8)}
    return {k: v for k, v in {**base, **params}.items() if v is not None}


def _authorize(browser: Browser, lms: Lms, params: dict[str, str]) -> requests.Response:
    return browser.http.get(f"{lms.live.url}/oauth/authorize?{urlencode(params)}", allow_redirects=False)


def _at_lms(answer: requests.Response, redirect_uri: str = LMS_CALLBACK) -> dict[str, list[str]]:
    """The query the LMS receives; fails unless the hub redirected there."""
    assert answer.status_code in (302, 303), answer.text[:300]
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == redirect_uri.split("?")[0], location
    return parse_qs(location.query)


def _redeem(lms: Lms, code: str, **extra: str) -> requests.Response:
    return requests.post(f"{lms.live.url}/oauth/token", auth=(lms.client_id, lms.secret),
                         data={"grant_type": "authorization_code", "code": code, "redirect_uri": LMS_CALLBACK,
                               **extra})


def _signed_in(lms: Lms) -> Browser:
    browser = lms.browser()
    lms.sign_in(browser)
    return browser


@pytest.mark.parametrize("extra", [
    {"foo": "bar"},  # oidcc-ensure-request-with-unknown-parameter-succeeds
    {"display": "page"}, {"display": "popup"},  # oidcc-display-page / -popup
    {"ui_locales": "se"}, {"claims_locales": "se"},  # oidcc-ui-locales / oidcc-claims-locales
    {"acr_values": "1 2"},  # oidcc-ensure-request-with-acr-values-succeeds
    {"login_hint": "ada@partner.example"},  # oidcc-login-hint
    {"claims": json.dumps({"id_token": {"email": {"essential": True}}})},  # claims_parameter_supported: false
    {"scope": "email profile openid"},  # oidcc-ensure-other-scope-order-succeeds
], ids=lambda extra: "-".join(extra))
def test_optional_parameters_are_accepted(lms: Lms, extra: dict[str, str]) -> None:
    browser = _signed_in(lms)
    callback, _ = lms.authorize(browser, **extra)
    assert lms.rp.ok("callback", url=callback)["claims"]["email"] == "ada@partner.example"


def test_id_token_hint_with_prompt_none_succeeds(lms: Lms) -> None:
    """oidcc-id-token-hint: the ID token of the last sign-in, sent back with prompt=none."""
    browser = lms.browser()
    first = lms.sign_in(browser)
    callback, _ = lms.authorize(browser, prompt="none", id_token_hint=first["id_token"])
    assert lms.rp.ok("callback", url=callback)["claims"]["sub"] == first["claims"]["sub"]


def test_request_without_nonce_succeeds_for_the_code_flow(lms: Lms) -> None:
    """oidcc-ensure-request-without-nonce-succeeds-for-code-flow (nonce is optional for response_type=code)."""
    browser = _signed_in(lms)
    query = _at_lms(_authorize(browser, lms, _request(lms, nonce=None)))
    answer = _redeem(lms, query["code"][0])
    assert answer.status_code == 200, answer.text
    claims = lms.rp.ok("verify_id_token", id_token=answer.json()["id_token"])["claims"]
    assert "nonce" not in claims and claims["auth_time"] and claims["sub"]


def test_token_response_is_bearer_and_never_cached(lms: Lms) -> None:
    """The token response: token_type Bearer, Cache-Control no-store, Pragma no-cache (RFC 6749 5.1);
    the ID token carries what OIDC Core 2 and 3.1.3.6 ask, its signature checked against JWKS."""
    browser = _signed_in(lms)
    params = _request(lms)
    answer = _redeem(lms, _at_lms(_authorize(browser, lms, params))["code"][0])
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0 and body["refresh_token"]
    assert answer.headers["Cache-Control"] == "no-store" and answer.headers["Pragma"] == "no-cache"
    claims = lms.rp.ok("verify_id_token", id_token=body["id_token"])["claims"]
    assert claims["nonce"] == params["nonce"] and claims["at_hash"]
    assert {"iss", "sub", "aud", "exp", "iat", "auth_time"} <= set(claims)


def test_post_authorization_request_succeeds(lms: Lms) -> None:
    """oidcc-ensure-post-request-succeeds: the request form-encoded in a POST body (OIDC Core 3.1.2.1)."""
    browser = _signed_in(lms)
    start = lms.rp.ok("authorize_url", redirect_uri=LMS_CALLBACK)
    url = urlsplit(start["url"])
    posted = browser.http.post(f"{lms.live.url}{url.path}", data=parse_qs(url.query), allow_redirects=False)
    assert posted.status_code == 303 and "Location" in posted.headers, posted.text[:300]
    answer = browser.get(posted.headers["Location"])
    assert lms.rp.ok("callback", url=answer.headers["Location"])["claims"]["email"] == "ada@partner.example"


def test_post_authorization_request_signed_out_goes_to_sign_in(lms: Lms) -> None:
    """A POSTed request from a browser with no session is parked like a GET one, and completes."""
    browser = lms.browser()
    start = lms.rp.ok("authorize_url", redirect_uri=LMS_CALLBACK)
    url = urlsplit(start["url"])
    posted = browser.http.post(f"{lms.live.url}{url.path}", data=parse_qs(url.query), allow_redirects=False)
    callback = lms.follow_sign_in(browser, posted)
    assert lms.rp.ok("callback", url=callback)["claims"]["email"] == "ada@partner.example"


def _third_party(lms: Lms) -> None:
    with lms.live.context() as session:
        session.scalar(select(OAuthClient)).first_party = False
        session.commit()


def test_consent_answer_without_its_csrf_token_changes_nothing(lms: Lms) -> None:
    """The authorize view takes RP POSTs without CSRF, but a consent answer must still carry its token."""
    browser = _signed_in(lms)
    _third_party(lms)
    params = _request(lms, scope="openid email")
    page = _authorize(browser, lms, params)
    assert page.status_code == 200 and "Allow" in page.text
    action = f"{lms.live.url}/oauth/authorize?{urlencode(params)}"
    for fields in ({"decision": "allow"}, {"decision": "allow", "csrf_token": "forged"}):
        refused = browser.http.post(action, data=fields, allow_redirects=False)
        assert refused.status_code == 400 and "Location" not in refused.headers, refused.text[:300]
    with lms.live.context() as session:
        assert session.scalar(select(IdpConsent)) is None
        assert session.scalar(select(AuthorizationCode).where(AuthorizationCode.nonce == params["nonce"])) is None
    allowed = browser.http.post(action, data={"decision": "allow", "csrf_token": csrf_token(page.text)},
                                allow_redirects=False)
    assert _at_lms(allowed)["code"]


def test_authorization_responses_carry_iss(lms: Lms) -> None:
    """RFC 9207: `iss` on the code and on every error redirect; advertised in discovery."""
    metadata = requests.get(f"{lms.live.url}/.well-known/openid-configuration").json()
    assert metadata["authorization_response_iss_parameter_supported"] is True
    signed_out = lms.browser()
    cases = [
        (_signed_in(lms), {}, "code"),
        (signed_out, {"response_type": None}, "unsupported_response_type"),  # oidcc-response-type-missing
        (signed_out, {"prompt": "none"}, "login_required"),  # oidcc-prompt-none-not-logged-in
        (signed_out, {"max_age": "soon"}, "invalid_request"),  # refused before any sign-in page
        (signed_out, {"prompt": "none login"}, "invalid_request"),
    ]
    for browser, extra, expected in cases:
        params = _request(lms, **extra)
        query = _at_lms(_authorize(browser, lms, params))
        assert query["iss"] == [lms.live.url], (extra, query)
        assert query["state"] == [params["state"]], (extra, query)
        assert (expected in query) if expected == "code" else (query["error"] == [expected]), (extra, query)


def test_unknown_scopes_are_ignored_not_refused(lms: Lms) -> None:
    """OIDC Core 5.4: scope values the OP does not understand are ignored (oidcc-scope-address/-phone/-all
    on an OP without those claims); the code and the token carry only the scopes the hub knows."""
    browser = _signed_in(lms)
    params = _request(lms, scope="openid email address phone offline_access")
    query = _at_lms(_authorize(browser, lms, params))
    answer = _redeem(lms, query["code"][0])
    assert answer.status_code == 200, answer.text
    assert set(answer.json()["scope"].split()) == {"openid", "email"}
    claims = lms.rp.ok("verify_id_token", id_token=answer.json()["id_token"])["claims"]
    assert claims["email"] == "ada@partner.example" and "address" not in claims and "phone_number" not in claims


@pytest.mark.parametrize("name, value, error", [
    ("request", "eyJhbGciOiJub25lIn0.eyJzdGF0ZSI6Im90aGVyIn0.", "request_not_supported"),
    ("request_uri", "https://lms.example.edu/request.jwt", "request_uri_not_supported"),
])
def test_request_objects_are_refused_not_ignored(lms: Lms, name: str, value: str, error: str) -> None:
    """oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported, oidcc-request-uri-...:
    discovery says request(_uri)_parameter_supported false, so OIDC Core 3.1.2.6's error, with state."""
    browser = _signed_in(lms)
    params = _request(lms, **{name: value})
    query = _at_lms(_authorize(browser, lms, params))
    assert query["error"] == [error] and query["state"] == [params["state"]] and "code" not in query


def test_redirect_uri_with_a_query_matches_exactly(lms: Lms) -> None:
    """oidcc-ensure-registered-redirect-uri: exact string match, query included (RFC 9700 2.1); the code is
    added to the registered query, which is kept."""
    registered = "https://lms.example.edu/auth/oidc/callback?tenant=7"
    with lms.live.context() as session:
        clients.named(session, lms.name).redirect_uris = [LMS_CALLBACK, registered]
        session.commit()
    browser = _signed_in(lms)
    query = _at_lms(_authorize(browser, lms, _request(lms, redirect_uri=registered)), registered)
    assert query["tenant"] == ["7"] and query["code"]
    for other in (registered.replace("7", "8"), registered + "&x=1", "https://lms.example.edu/auth/oidc/callback?",
                  "https://LMS.example.edu/auth/oidc/callback?tenant=7"):
        answer = _authorize(browser, lms, _request(lms, redirect_uri=other))
        assert answer.status_code == 400 and "Location" not in answer.headers, other


def test_userinfo_takes_the_token_as_header_or_form_body(lms: Lms) -> None:
    """oidcc-userinfo-get, -post-header, -post-body (RFC 6750 2.1, 2.2)."""
    tokens = lms.sign_in()
    url, token = f"{lms.live.url}/oauth/userinfo", tokens["access_token"]
    header = {"Authorization": f"Bearer {token}"}
    for answer in (requests.get(url, headers=header), requests.post(url, headers=header),
                   requests.post(url, data={"access_token": token})):
        assert answer.status_code == 200, answer.text
        assert answer.json()["sub"] == tokens["claims"]["sub"]


def test_userinfo_errors_are_rfc_6750(lms: Lms) -> None:
    """No token (or another scheme): 401 with a bare `Bearer` challenge (RFC 6750 3.1); a bad token:
    invalid_token; the token sent two ways: 400 invalid_request; never a token from the query."""
    tokens = lms.sign_in()
    url, token = f"{lms.live.url}/oauth/userinfo", tokens["access_token"]
    bare: list[Any] = [requests.get(url), requests.get(url, headers={"Authorization": "Basic eDp5"}),
                       requests.get(url, params={"access_token": token}), requests.post(url, data={"other": "x"}),
                       requests.get(url, headers={"Authorization": "Bearer "})]
    for answer in bare:
        assert answer.status_code == 401 and answer.headers["WWW-Authenticate"] == "Bearer", answer.headers
        assert "error" not in answer.json()
    bad = requests.get(url, headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401 and 'error="invalid_token"' in bad.headers["WWW-Authenticate"]
    twice = requests.post(url, headers={"Authorization": f"Bearer {token}"}, data={"access_token": token})
    assert twice.status_code == 400 and twice.json()["error"] == "invalid_request"
    assert 'error="invalid_request"' in twice.headers["WWW-Authenticate"]


def test_discovery_and_jwks_are_readable_cross_origin_and_keys_are_complete(lms: Lms) -> None:
    """Config OP: jwks_uri keys name kid, use and alg; both documents readable from browser-based tools."""
    origin = {"Origin": "https://lms.example.edu"}
    metadata = requests.get(f"{lms.live.url}/.well-known/openid-configuration", headers=origin)
    jwks = requests.get(metadata.json()["jwks_uri"], headers=origin)
    for answer in (metadata, jwks):
        assert answer.headers["Access-Control-Allow-Origin"] == "*"
    keys = jwks.json()["keys"]
    assert keys and all(key["kid"] and key["use"] == "sig" and key["alg"] == "RS256" for key in keys)
    assert len({key["kid"] for key in keys}) == len(keys)
    assert all("d" not in key and "p" not in key for key in keys)  # public halves only
