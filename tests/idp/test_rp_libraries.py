"""Relying-party libraries LMSs are built on sign in through the hub unchanged: social-core's OpenIdConnectAuth
(Open edX's third_party_auth; the newest and the version Open edX pins), pyoidc (`oic`) and mozilla-django-oidc.

Each library does its own OpenID Connect work against the live hub over loopback HTTP (discovery or configured
endpoints, the code exchange, its own ID token checks, userinfo, refresh where it has one) and the logout goes back
to the client from the ID token alone, as these libraries send it (no client_id)."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from sqlalchemy import select

from hub.idp import claims, clients
from hub.models import IdpSubject
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


def test_pyoidc(lms: Lms) -> None:
    """pyoidc (`oic`) as its docs set up an RP: discovery, a static registration, its own ID token checks."""
    from oic import rndstr
    from oic.oic import Client
    from oic.oic.message import AuthorizationResponse, RegistrationResponse
    from oic.utils.authn.client import CLIENT_AUTHN_METHOD

    rp = Client(client_authn_method=CLIENT_AUTHN_METHOD)
    rp.provider_config(lms.live.url)
    rp.store_registration_info(RegistrationResponse(
        client_id=lms.client_id, client_secret=lms.secret, redirect_uris=[LMS_CALLBACK],
        post_logout_redirect_uris=[LMS_LOGGED_OUT]))
    state, nonce = rndstr(), rndstr()
    request = rp.construct_AuthorizationRequest(request_args={
        "client_id": lms.client_id, "response_type": "code", "scope": ["openid", "profile", "email"],
        "nonce": nonce, "redirect_uri": LMS_CALLBACK, "state": state})
    browser = lms.browser()
    callback = _sign_in(lms, browser, request.request(rp.authorization_endpoint))
    answer = rp.parse_response(AuthorizationResponse, info=urlsplit(callback).query, sformat="urlencoded")
    assert answer["state"] == state
    tokens = rp.do_access_token_request(state=state, request_args={"code": answer["code"],
                                                                  "redirect_uri": LMS_CALLBACK},
                                        authn_method="client_secret_basic")
    id_token = tokens["id_token"]  # verified by pyoidc: signature (JWKS), iss, aud, nonce, exp
    assert id_token["aud"] == [lms.client_id] or id_token["aud"] == lms.client_id
    assert id_token["nonce"] == nonce and id_token["preferred_username"] == claims.username(id_token["sub"])
    info = rp.do_user_info_request(state=state)
    assert info["sub"] == id_token["sub"] and info["email"] == "ada@partner.example"

    refreshed = rp.do_access_token_refresh(state=state, authn_method="client_secret_basic")
    assert refreshed["access_token"] != tokens["access_token"] and refreshed["refresh_token"]
    assert refreshed["id_token"]["sub"] == id_token["sub"]

    end = rp.construct_EndSessionRequest(state=state, request_args={"post_logout_redirect_uri": LMS_LOGGED_OUT,
                                                                    "state": "pyoidc"})
    _logs_out_back_to_the_lms(lms, browser, end.request(rp.end_session_endpoint), state="pyoidc")


DJANGO_LMS = "https://lms.example.edu"  # mozilla_django_oidc.urls at the root: /authenticate/, /callback/, /logout/


@pytest.fixture(scope="module")
def django_lms() -> Iterator[None]:
    """The smallest Django site mozilla-django-oidc runs in: auth and sessions (signed cookies) over an in-memory
    SQLite database, its own URLs at the root. The hub's addresses differ per test: override_settings.

    Playwright's sync API (the browser tests earlier in the same run) leaves an asyncio loop running in the main
    thread, and Django then refuses every database call as "async unsafe"; nothing here is async, so Django's own
    switch for such hosts (DJANGO_ALLOW_ASYNC_UNSAFE) is set while this module runs."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        _configure_django()
        yield


def _configure_django() -> None:
    import django
    from django.conf import settings
    from django.core.management import call_command

    if not settings.configured:
        settings.configure(
            SECRET_KEY="tests-only", ALLOWED_HOSTS=["lms.example.edu"], ROOT_URLCONF="mozilla_django_oidc.urls",
            INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "mozilla_django_oidc"],
            DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
            SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies", USE_TZ=True,
            AUTHENTICATION_BACKENDS=["mozilla_django_oidc.auth.OIDCAuthenticationBackend"])
        django.setup()
        call_command("migrate", verbosity=0)


def django_username(email: str, claims: dict[str, Any]) -> str:
    """OIDC_USERNAME_ALGO: the account's username is the hub's preferred_username, as an LMS would take it."""
    return str(claims["preferred_username"])


def django_logout_url(request: Any) -> str:
    """OIDC_OP_LOGOUT_URL_METHOD, as mozilla-django-oidc's docs show it: the ID token as the hint, no client_id."""
    from django.conf import settings

    return f"{settings.HUB_END_SESSION_ENDPOINT}?" + urlencode({
        "id_token_hint": request.session["oidc_id_token"], "post_logout_redirect_uri": LMS_LOGGED_OUT})


@pytest.fixture
def django_settings(lms: Lms, django_lms: None) -> Iterator[None]:
    from django.test import override_settings

    with lms.live.context() as session:
        issued = clients.add(session, "Django LMS", [f"{DJANGO_LMS}/callback/"], [LMS_LOGGED_OUT], first_party=True)
        session.commit()
    base = lms.live.url
    with override_settings(
            OIDC_RP_CLIENT_ID=issued.client.client_id, OIDC_RP_CLIENT_SECRET=issued.secret,
            OIDC_OP_AUTHORIZATION_ENDPOINT=f"{base}/oauth/authorize", OIDC_OP_TOKEN_ENDPOINT=f"{base}/oauth/token",
            OIDC_OP_USER_ENDPOINT=f"{base}/oauth/userinfo", OIDC_OP_JWKS_ENDPOINT=f"{base}/oauth/jwks",
            HUB_END_SESSION_ENDPOINT=f"{base}/oauth/logout", OIDC_RP_SIGN_ALGO="RS256",
            OIDC_RP_SCOPES="openid profile email", OIDC_USE_PKCE=True, OIDC_STORE_ID_TOKEN=True,
            OIDC_USERNAME_ALGO=f"{__name__}.django_username", OIDC_OP_LOGOUT_URL_METHOD=f"{__name__}.django_logout_url",
            OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS=900, LOGIN_REDIRECT_URL="/signed-in/",
            LOGIN_REDIRECT_URL_FAILURE="/sign-in-failed/", LOGOUT_REDIRECT_URL="/signed-out/",
            MIDDLEWARE=["django.contrib.sessions.middleware.SessionMiddleware",
                        "django.contrib.auth.middleware.AuthenticationMiddleware",
                        "mozilla_django_oidc.middleware.SessionRefresh"]):
        yield
    from django.contrib.auth import get_user_model

    get_user_model().objects.all().delete()


def _django_callback(lms: Lms, client: Any, browser: Browser, authorize_url: str, lands: str = "/signed-in/") -> Any:
    """Through the hub and back to the library's callback view, which signs the Django user in and moves on."""
    callback = urlsplit(_sign_in(lms, browser, authorize_url))
    assert f"{callback.scheme}://{callback.netloc}{callback.path}" == f"{DJANGO_LMS}/callback/"
    answer = client.get(f"{callback.path}?{callback.query}", secure=True)
    assert answer.status_code == 302 and answer["Location"] == lands, answer  # not LOGIN_REDIRECT_URL_FAILURE
    return answer


def test_mozilla_django_oidc(lms: Lms, django_settings: None) -> None:
    """mozilla-django-oidc's own views: sign-in with PKCE, a Django user from userinfo, the silent re-check of
    its SessionRefresh middleware (prompt=none: it has no refresh-token support), and logout back to the LMS."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    client, browser = Client(HTTP_HOST="lms.example.edu"), lms.browser()
    start = client.get("/authenticate/", secure=True)
    assert start.status_code == 302 and "code_challenge=" in start["Location"]
    _django_callback(lms, client, browser, start["Location"])
    user = get_user_model().objects.get()
    assert user.email == "ada@partner.example"  # the library keeps username and email only
    with lms.live.context() as db_session:
        sub = db_session.scalar(select(IdpSubject.sub))
    assert user.username == claims.username(sub)

    # SessionRefresh: once the ID token's time is up, the next page goes to the hub with prompt=none and comes back
    # signed in without a page shown (the hub session is still there).
    session = client.session
    session["oidc_id_token_expiration"] = 0
    session.save()
    client.cookies["sessionid"] = session.session_key
    silent = client.get("/any-page/", secure=True)
    assert silent.status_code == 302 and "prompt=none" in silent["Location"], silent
    _django_callback(lms, client, browser, silent["Location"], lands="/any-page/")
    assert client.session["oidc_id_token_expiration"] > 0
    assert get_user_model().objects.count() == 1  # the same account, found again by email

    out = client.post("/logout/", secure=True)
    assert out.status_code == 302
    _logs_out_back_to_the_lms(lms, browser, out["Location"])
    assert "_auth_user_id" not in client.session
