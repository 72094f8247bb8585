"""A real relying party (openid-client) signs in through the hub end to end over HTTP."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import requests
from sqlalchemy import select

from hub.models import UserSession
from tests.auth.helpers import signed_in
from tests.idp.conftest import LMS_LOGGED_OUT, Lms


def test_sign_in_userinfo_refresh_and_logout(lms: Lms) -> None:
    browser = lms.browser()
    tokens = lms.sign_in(browser)
    claims = tokens["claims"]
    assert claims["iss"] == lms.live.url and claims["aud"] == lms.client_id
    assert claims["email"] == "ada@partner.example" and claims["email_verified"] is True
    assert claims["idp"] == "google" and claims["amr"] == ["google"]
    assert claims["sub"] and "@" not in claims["sub"] and claims["sid"] and claims["auth_time"]
    info = lms.rp.ok("userinfo", access_token=tokens["access_token"], sub=claims["sub"])["userinfo"]
    assert info["sub"] == claims["sub"] and info["email"] == "ada@partner.example"

    refreshed = lms.rp.ok("refresh", refresh_token=tokens["refresh_token"])
    assert refreshed["refresh_token"] and refreshed["refresh_token"] != tokens["refresh_token"]
    assert refreshed["claims"]["sub"] == claims["sub"]
    reused = lms.rp.call("refresh", refresh_token=tokens["refresh_token"])
    assert not reused["ok"] and reused["code"] == "invalid_grant", reused
    # Reuse of a spent refresh token means it leaked: the whole family ends, the newest one too.
    again = lms.rp.call("refresh", refresh_token=refreshed["refresh_token"])
    assert not again["ok"] and again["code"] == "invalid_grant", again

    assert signed_in(browser)
    out = lms.rp.ok("logout_url", id_token=tokens["id_token"], post_logout_redirect_uri=LMS_LOGGED_OUT,
                    state="bye-123")["url"]
    answer = browser.http.get(out, allow_redirects=False)
    assert answer.status_code == 302, answer.text
    target = urlsplit(answer.headers["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == LMS_LOGGED_OUT
    assert parse_qs(target.query)["state"] == ["bye-123"]
    assert not signed_in(browser)


def test_rp_initiated_logout_ends_the_hub_session_for_a_copied_cookie_too(lms: Lms) -> None:
    browser = lms.browser()
    tokens = lms.sign_in(browser)
    copied = browser.http.cookies["hub_session"]
    out = lms.rp.ok("logout_url", id_token=tokens["id_token"], post_logout_redirect_uri=LMS_LOGGED_OUT)["url"]
    assert browser.http.get(out, allow_redirects=False).status_code == 302
    replayed = requests.get(f"{lms.live.url}/account", headers={"Cookie": f"hub_session={copied}"},
                            allow_redirects=False)
    assert replayed.status_code == 302 and urlsplit(replayed.headers["Location"]).path == "/login"
    with lms.live.context() as session:
        assert session.scalar(select(UserSession.ended_at)) is not None
