"""RFC 7009 token revocation at /oauth/revoke, driven by openid-client's tokenRevocation."""
from __future__ import annotations

import requests
from sqlalchemy import func, select

from hub.idp import clients
from hub.models import IdpToken
from tests.idp.conftest import LMS_CALLBACK, Lms


def _userinfo(lms: Lms, access_token: str) -> int:
    answer = requests.get(f"{lms.live.url}/oauth/userinfo", headers={"Authorization": f"Bearer {access_token}"})
    return answer.status_code


def _revoked(lms: Lms) -> int:
    with lms.live.context() as session:
        return session.scalar(select(func.count()).select_from(IdpToken).where(IdpToken.revoked_at.is_not(None))) or 0


def test_discovery_names_the_revocation_endpoint(lms: Lms) -> None:
    metadata = requests.get(f"{lms.live.url}/.well-known/openid-configuration").json()
    assert metadata["revocation_endpoint"] == f"{lms.live.url}/oauth/revoke"
    assert set(metadata["revocation_endpoint_auth_methods_supported"]) == {"client_secret_basic",
                                                                           "client_secret_post"}


def test_revoking_a_refresh_token_ends_the_whole_grant(lms: Lms) -> None:
    tokens = lms.sign_in()
    rotated = lms.rp.ok("refresh", refresh_token=tokens["refresh_token"])
    assert _userinfo(lms, rotated["access_token"]) == 200
    lms.rp.ok("revoke", token=rotated["refresh_token"], hint="refresh_token")
    refreshed = lms.rp.call("refresh", refresh_token=rotated["refresh_token"])
    assert not refreshed["ok"] and refreshed["code"] == "invalid_grant", refreshed
    assert _userinfo(lms, rotated["access_token"]) == 401  # the access tokens of the grant end with it
    assert _revoked(lms) == 2  # both generations


def test_revoking_an_access_token_ends_it_and_leaves_other_grants(lms: Lms) -> None:
    browser = lms.browser()
    first = lms.sign_in(browser)
    second = lms.sign_in(browser)
    lms.rp.ok("revoke", token=first["access_token"])  # no hint: the hub finds it anyway
    assert _userinfo(lms, first["access_token"]) == 401
    assert _userinfo(lms, second["access_token"]) == 200
    assert lms.rp.ok("refresh", refresh_token=second["refresh_token"])["access_token"]


def test_a_wrong_hint_still_revokes(lms: Lms) -> None:
    tokens = lms.sign_in()
    lms.rp.ok("revoke", token=tokens["refresh_token"], hint="access_token")
    refreshed = lms.rp.call("refresh", refresh_token=tokens["refresh_token"])
    assert not refreshed["ok"] and refreshed["code"] == "invalid_grant"


def test_unknown_and_repeated_tokens_answer_200(lms: Lms) -> None:
    tokens = lms.sign_in()
    url = f"{lms.live.url}/oauth/revoke"
    assert requests.post(url, auth=(lms.client_id, lms.secret), data={"token": "not-a-token"}).status_code == 200
    for _ in range(2):
        answer = requests.post(url, data={"token": tokens["access_token"], "client_id": lms.client_id,
                                          "client_secret": lms.secret})  # client_secret_post
        assert answer.status_code == 200, answer.text
    assert _userinfo(lms, tokens["access_token"]) == 401


def test_revocation_needs_the_tokens_own_client(lms: Lms) -> None:
    tokens = lms.sign_in()
    url = f"{lms.live.url}/oauth/revoke"
    wrong = requests.post(url, auth=(lms.client_id, "hubcs_wrong"), data={"token": tokens["access_token"]})
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    with lms.live.context() as session:
        other = clients.add(session, "Canvas", [LMS_CALLBACK])
        session.commit()
        other_id, other_secret = other.client.client_id, other.secret
    foreign = requests.post(url, auth=(other_id, other_secret), data={"token": tokens["refresh_token"]})
    assert foreign.status_code == 400 and foreign.json()["error"] == "invalid_grant"
    missing = requests.post(url, auth=(lms.client_id, lms.secret), data={})
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    assert _userinfo(lms, tokens["access_token"]) == 200 and _revoked(lms) == 0


def test_an_unknown_hint_is_ignored_as_rfc_7009_says(lms: Lms) -> None:
    tokens = lms.sign_in()
    answer = requests.post(f"{lms.live.url}/oauth/revoke", auth=(lms.client_id, lms.secret),
                           data={"token": tokens["access_token"], "token_type_hint": "id_token"})
    assert answer.status_code == 200, answer.text
    assert _userinfo(lms, tokens["access_token"]) == 401
