"""Negative cases, each with the OAuth error RFC 6749 5.2 / 4.1.2.1 names."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from sqlalchemy import func, select, update

from hub.idp import clients
from hub.models import AuthorizationCode, User, UserStatus
from tests.auth.helpers import ADA
from tests.idp.conftest import LMS_CALLBACK, Lms


def _code(callback: str) -> str:
    return parse_qs(urlsplit(callback).query)["code"][0]


def _exchange(lms: Lms, code: str, verifier: str, *, secret: str | None = None, basic: bool = True,
              redirect_uri: str = LMS_CALLBACK) -> requests.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "code_verifier": verifier}
    if basic:
        return requests.post(f"{lms.live.url}/oauth/token", data=data, auth=(lms.client_id, secret or lms.secret))
    return requests.post(f"{lms.live.url}/oauth/token",
                         data={**data, "client_id": lms.client_id, "client_secret": secret or lms.secret})


def _signed_code(lms: Lms) -> tuple[str, str]:
    callback, start = lms.authorize(lms.browser())
    return _code(callback), start["verifier"]


def test_wrong_redirect_uri_shows_an_error_page_and_never_redirects(lms: Lms) -> None:
    query = urlencode({"response_type": "code", "client_id": lms.client_id, "scope": "openid",
                       "redirect_uri": "https://evil.example/cb", "state": "s"})
    answer = requests.get(f"{lms.live.url}/oauth/authorize?{query}", allow_redirects=False)
    assert answer.status_code == 400 and "Location" not in answer.headers
    assert "not valid" in answer.text and "reference" in answer.text
    assert "is not supported by client" in answer.text  # the description names the problem


def test_unknown_client_is_not_redirected(lms: Lms) -> None:
    query = urlencode({"response_type": "code", "client_id": "hubc_nobody", "scope": "openid",
                       "redirect_uri": LMS_CALLBACK})
    answer = requests.get(f"{lms.live.url}/oauth/authorize?{query}", allow_redirects=False)
    assert answer.status_code == 400 and "Location" not in answer.headers


def test_replayed_code_is_invalid_grant_and_revokes_its_tokens(lms: Lms) -> None:
    code, verifier = _signed_code(lms)
    first = _exchange(lms, code, verifier)
    assert first.status_code == 200, first.text
    access = first.json()["access_token"]
    assert requests.get(f"{lms.live.url}/oauth/userinfo", headers={"Authorization": f"Bearer {access}"}).ok
    second = _exchange(lms, code, verifier)
    assert second.status_code == 400 and second.json()["error"] == "invalid_grant"
    after = requests.get(f"{lms.live.url}/oauth/userinfo", headers={"Authorization": f"Bearer {access}"})
    assert after.status_code == 401 and "invalid_token" in after.headers["WWW-Authenticate"]
    refresh = requests.post(f"{lms.live.url}/oauth/token", auth=(lms.client_id, lms.secret),
                            data={"grant_type": "refresh_token", "refresh_token": first.json()["refresh_token"]})
    assert refresh.status_code == 400 and refresh.json()["error"] == "invalid_grant"


def test_pkce_mismatch_is_invalid_grant(lms: Lms) -> None:
    code, _verifier = _signed_code(lms)
    answer = _exchange(lms, code, "x" * 64)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant", answer.text


def test_expired_code_is_invalid_grant(lms: Lms) -> None:
    code, verifier = _signed_code(lms)
    with lms.live.context() as session:
        session.execute(update(AuthorizationCode).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
        session.commit()
    answer = _exchange(lms, code, verifier)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant", answer.text


def test_wrong_client_secret_is_invalid_client_401_both_ways(lms: Lms) -> None:
    code, verifier = _signed_code(lms)
    for basic in (True, False):
        answer = _exchange(lms, code, verifier, secret="hubcs_wrong", basic=basic)
        assert answer.status_code == 401 and answer.json()["error"] == "invalid_client", answer.text
    assert _exchange(lms, code, verifier, basic=False).status_code == 200  # the code survived: post auth works


def test_revoked_client_is_invalid_client_and_its_tokens_stop(lms: Lms) -> None:
    tokens = lms.sign_in()
    with lms.live.context() as session:
        clients.revoke(session, lms.name)
        session.commit()
    answer = requests.post(f"{lms.live.url}/oauth/token", auth=(lms.client_id, lms.secret),
                           data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"
    info = requests.get(f"{lms.live.url}/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 401


def _disable(lms: Lms) -> None:
    with lms.live.context() as session:
        session.execute(update(User).values(status=UserStatus.DISABLED.value))
        session.commit()


def test_disabled_user_refresh_is_invalid_grant_and_userinfo_401(lms: Lms) -> None:
    tokens = lms.sign_in()
    _disable(lms)  # the status itself, with no signal: every token request checks it
    refreshed = lms.rp.call("refresh", refresh_token=tokens["refresh_token"])
    assert not refreshed["ok"] and refreshed["code"] == "invalid_grant", refreshed
    info = requests.get(f"{lms.live.url}/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 401


def test_disabled_user_gets_access_denied_at_the_lms(lms: Lms) -> None:
    lms.sign_in()
    _disable(lms)
    callback, start = lms.authorize(lms.browser(), ADA)
    query = parse_qs(urlsplit(callback).query)
    assert query["error"] == ["access_denied"] and query["state"] == [start["state"]]
    assert "code" not in query


def test_disabled_user_code_exchange_is_invalid_grant(lms: Lms) -> None:
    code, verifier = _signed_code(lms)
    _disable(lms)
    answer = _exchange(lms, code, verifier)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant", answer.text


def test_code_for_another_client_is_invalid_grant(lms: Lms) -> None:
    code, verifier = _signed_code(lms)
    with lms.live.context() as session:
        other = clients.add(session, "Canvas", [LMS_CALLBACK])
        session.commit()
        other_id, other_secret = other.client.client_id, other.secret
    answer = requests.post(f"{lms.live.url}/oauth/token", auth=(other_id, other_secret),
                           data={"grant_type": "authorization_code", "code": code, "redirect_uri": LMS_CALLBACK,
                                 "code_verifier": verifier})
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
    with lms.live.context() as session:  # and the rightful client can still redeem it
        assert session.scalar(select(AuthorizationCode.used_at)) is None


@pytest.mark.parametrize("method", [None, "plain"])
def test_pkce_other_than_s256_is_invalid_request_at_the_lms(lms: Lms, method: str | None) -> None:
    """Discovery lists S256 only; a challenge without its method would mean plain (RFC 7636 4.3): both refused."""
    browser = lms.browser()
    lms.sign_in(browser)
    params = {"response_type": "code", "client_id": lms.client_id, "scope": "openid", "redirect_uri": LMS_CALLBACK,
              "state": "st", "code_challenge": "c" * 43, **({"code_challenge_method": method} if method else {})}
    answer = browser.http.get(f"{lms.live.url}/oauth/authorize?{urlencode(params)}", allow_redirects=False)
    assert answer.status_code == 302, answer.text[-500:]
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == LMS_CALLBACK
    query = parse_qs(location.query)
    assert query["error"] == ["invalid_request"] and "code" not in query, query
    assert query["state"] == ["st"] and query["iss"] == [lms.live.url]
    assert "code_challenge_method" in query["error_description"][0]
    with lms.live.context() as session:
        assert session.scalar(select(func.count()).select_from(AuthorizationCode)) == 1  # the sign-in's own


def test_two_client_authentications_at_once_are_invalid_client(lms: Lms) -> None:
    """RFC 6749 2.3: one method per request. Basic and a body secret, or Basic and another client's id: 401."""
    code, verifier = _signed_code(lms)
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": LMS_CALLBACK, "code_verifier": verifier}
    for extra in ({"client_id": lms.client_id, "client_secret": lms.secret}, {"client_secret": lms.secret},
                  {"client_id": "hubc_someone_else"}):
        answer = requests.post(f"{lms.live.url}/oauth/token", auth=(lms.client_id, lms.secret), data={**data, **extra})
        assert answer.status_code == 401 and answer.json()["error"] == "invalid_client", (extra, answer.text)
        assert answer.headers["WWW-Authenticate"].startswith("Basic ")
    # Nothing was spent: Basic alone (with the client's own id in the body, which RFC 6749 4.1.3 allows) works.
    answer = requests.post(f"{lms.live.url}/oauth/token", auth=(lms.client_id, lms.secret),
                           data={**data, "client_id": lms.client_id})
    assert answer.status_code == 200, answer.text
