"""Hostile inputs: each gets the protocol's own error (never a 500) and changes nothing.

Run these against PostgreSQL too (HUB_TEST_DATABASE_URL): it refuses a NUL byte in a query, where
SQLite takes it, so a NUL that reached the database would be a 500 there.
"""
from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from sqlalchemy import func, select

from hub.idp import clients
from hub.models import AuthorizationCode
from tests.idp.conftest import LMS_CALLBACK, Lms


def _query(lms: Lms, **params: str) -> str:
    base = {"response_type": "code", "client_id": lms.client_id, "scope": "openid", "redirect_uri": LMS_CALLBACK,
            "state": "st"}
    return urlencode({**base, **params})


def _codes(lms: Lms) -> int:
    with lms.live.context() as session:
        return int(session.scalar(select(func.count()).select_from(AuthorizationCode)) or 0)


@pytest.mark.parametrize("name, value", [
    ("client_id", "hubc_\x00"), ("client_id", "hubc_\r\nX: y"),
    ("redirect_uri", LMS_CALLBACK + "\x00"), ("redirect_uri", LMS_CALLBACK + "\r\nX: y"),
    ("redirect_uri", LMS_CALLBACK + '"'), ("redirect_uri", LMS_CALLBACK + "é"),
    ("response_type", "co\r\nde"), ("response_type", 'code"'), ("response_type", "códe"),
])
def test_untrusted_parameters_with_bad_characters_get_the_error_page(lms: Lms, name: str, value: str) -> None:
    """Before the client and redirect URI are trusted, nothing is redirected: the hub's 400 page."""
    browser = lms.browser()
    lms.sign_in(browser)
    before = _codes(lms)
    answer = browser.http.get(f"{lms.live.url}/oauth/authorize?{_query(lms, **{name: value})}", allow_redirects=False)
    assert answer.status_code == 400 and "Location" not in answer.headers, answer.text[-500:]
    assert "reference" in answer.text
    assert _codes(lms) == before


@pytest.mark.parametrize("name, value", [
    ("nonce", "n\x00once"), ("state", "st\x00ate"), ("scope", "openid\x00"), ("prompt", "\x00"),
    ("login_hint", "ada\x00@partner.example"), ("ui_locales", "en\r\n"),
])
def test_control_characters_elsewhere_are_invalid_request_at_the_lms(lms: Lms, name: str, value: str) -> None:
    """RFC 6749 Appendix A: parameters are printable; a control character is invalid_request, with state."""
    browser = lms.browser()
    lms.sign_in(browser)
    before = _codes(lms)
    answer = browser.http.get(f"{lms.live.url}/oauth/authorize?{_query(lms, **{name: value})}", allow_redirects=False)
    assert answer.status_code == 302, answer.text[-500:]
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == LMS_CALLBACK
    query = parse_qs(location.query)
    assert query["error"] == ["invalid_request"] and "code" not in query
    assert query["state"] == [value if name == "state" else "st"] and query["iss"] == [lms.live.url]
    assert _codes(lms) == before


@pytest.mark.parametrize("credentials", [
    {"auth": ("hubc_\x00", "secret")},
    {"data": {"client_id": "hubc_\x00", "client_secret": "secret"}},
    {"data": {"client_id": "x" * 65, "client_secret": "secret"}},
])
def test_token_and_revoke_with_a_malformed_client_id_are_invalid_client(lms: Lms, credentials: dict) -> None:
    code_grant = {"grant_type": "authorization_code", "code": "x", "redirect_uri": LMS_CALLBACK}
    for path, form in (("/oauth/token", code_grant), ("/oauth/revoke", {"token": "x"})):
        answer = requests.post(f"{lms.live.url}{path}", auth=credentials.get("auth"),
                               data={**form, **credentials.get("data", {})})
        # 401 is a MUST only when the client used the Authorization header (RFC 6749 5.2)
        assert answer.status_code in ((401,) if "auth" in credentials else (400, 401)), (path, answer.text[:300])
        assert answer.json()["error"] == "invalid_client"


def test_logout_with_a_malformed_client_id_is_refused_not_a_500(lms: Lms) -> None:
    answer = requests.get(f"{lms.live.url}/oauth/logout", params={"client_id": "hubc_\x00",
                                                                   "post_logout_redirect_uri": "https://lms.example.edu/"},
                          allow_redirects=False)
    assert answer.status_code in (200, 400) and "Location" not in answer.headers, answer.status_code


@pytest.mark.parametrize("uri", [LMS_CALLBACK + "\x00", LMS_CALLBACK + " x", LMS_CALLBACK + '"', LMS_CALLBACK + "é",
                                 LMS_CALLBACK + "\\"])
def test_client_redirect_uris_must_be_printable_ascii(lms: Lms, uri: str) -> None:
    """So a registered URI is never one authlib cannot quote in an error (views.authorize's pre-check)."""
    with lms.live.context() as session, pytest.raises(clients.ClientError):
        clients.add(session, "Bad", [uri])


def test_basic_credentials_that_are_not_utf8_are_invalid_client(lms: Lms) -> None:
    """authlib decodes Basic credentials as UTF-8 and would raise (a 500): the hub answers invalid_client."""
    header = "Basic " + base64.b64encode(b"hubc_\xff\xfe:secret").decode()
    for path, form in (("/oauth/token", {"grant_type": "refresh_token", "refresh_token": "x"}),
                       ("/oauth/revoke", {"token": "x"})):
        answer = requests.post(f"{lms.live.url}{path}", headers={"Authorization": header}, data=form)
        assert answer.status_code == 401 and answer.json()["error"] == "invalid_client", (path, answer.text[:300])
