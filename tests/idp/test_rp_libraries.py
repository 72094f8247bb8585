"""Relying-party libraries LMSs are built on sign in through the hub unchanged: social-core's OpenIdConnectAuth
(Open edX's third_party_auth; the newest and the version Open edX pins), pyoidc (`oic`) and mozilla-django-oidc.

Each library does its own OpenID Connect work against the live hub over loopback HTTP (discovery or configured
endpoints, the code exchange, its own ID token checks, userinfo, refresh where it has one) and the logout goes back
to the client from the ID token alone, as these libraries send it (no client_id)."""
from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

from hub.idp import claims
from tests.auth.helpers import signed_in
from tests.idp.conftest import LMS_CALLBACK, LMS_LOGGED_OUT, Lms, RelyingParty
from tests.live import Browser


def _sign_in(lms: Lms, browser: Browser, authorize_url: str) -> str:
    """The learner at the hub: from the library's authorization URL to the callback it redirects back to."""
    assert authorize_url.startswith(f"{lms.live.url}/oauth/authorize?"), authorize_url
    return lms.follow_sign_in(browser, browser.http.get(authorize_url, allow_redirects=False))


def _logs_out_back_to_the_lms(lms: Lms, browser: Browser, url: str, state: str | None = None) -> None:
    assert signed_in(browser)
    answer = browser.http.get(url, allow_redirects=False)
    assert answer.status_code == 302, answer.text[-300:]
    target = urlsplit(answer.headers["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == LMS_LOGGED_OUT
    assert parse_qs(target.query).get("state") == ([state] if state else None)
    assert not signed_in(browser)


def _userinfo(lms: Lms, access_token: str) -> dict[str, Any]:
    answer = requests.get(f"{lms.live.url}/oauth/userinfo", headers={"Authorization": f"Bearer {access_token}"})
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_social_core_open_id_connect_auth(lms: Lms, social_core_rp: RelyingParty) -> None:
    """What Open edX makes a learner from: details["username"] is preferred_username, uid the sub."""
    social_core_rp.ok("configure", issuer=lms.live.url, client_id=lms.client_id, client_secret=lms.secret,
                      redirect_uri=LMS_CALLBACK)
    browser = lms.browser()
    callback = _sign_in(lms, browser, social_core_rp.ok("authorize_url")["url"])
    done = social_core_rp.ok("callback", url=callback)
    sub = done["uid"]
    assert done["details"]["username"] == claims.username(sub)
    assert done["details"]["email"] == "ada@partner.example"
    assert done["details"]["fullname"] and done["details"]["first_name"]
    assert done["userinfo_sub"] == sub  # social-core read userinfo too (do_auth merges it into the response)

    refreshed = social_core_rp.ok("refresh", refresh_token=done["refresh_token"])
    assert refreshed["refresh_token"] not in (None, done["refresh_token"]) and refreshed["id_token"]
    assert _userinfo(lms, refreshed["access_token"])["preferred_username"] == claims.username(sub)

    end_session = social_core_rp.ok("end_session_endpoint")["url"]
    assert end_session == f"{lms.live.url}/oauth/logout"
    query = urlencode({"id_token_hint": done["id_token"], "post_logout_redirect_uri": LMS_LOGGED_OUT, "state": "edx"})
    _logs_out_back_to_the_lms(lms, browser, f"{end_session}?{query}", state="edx")


def test_social_core_refuses_a_tampered_callback(lms: Lms, social_core_rp: RelyingParty) -> None:
    """The control: the library under test does check what comes back (state), so its passes above mean something."""
    social_core_rp.ok("configure", issuer=lms.live.url, client_id=lms.client_id, client_secret=lms.secret,
                      redirect_uri=LMS_CALLBACK)
    callback = _sign_in(lms, lms.browser(), social_core_rp.ok("authorize_url")["url"])
    tampered = callback.replace("state=", "state=x")
    answer = social_core_rp.call("callback", url=tampered)
    assert not answer["ok"], answer
