"""What strict relying parties rely on: aud as a string, preferred_username, no empty claims, RP-initiated logout
from the id_token_hint alone (no client_id), and PKCE codes redeemed without their verifier.

panva's openid-client (tests/oidc_rp) verifies every token it receives; the logout and PKCE requests are plain HTTP,
as an LMS that builds them by hand sends them."""
from __future__ import annotations

import base64
import json
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from joserfc import jwt
from sqlalchemy import select, update

from hub.idp import claims, clients, keys
from hub.models import IdpSubject, User
from tests.auth.helpers import signed_in
from tests.clock import movable_clock
from tests.idp.conftest import LMS_CALLBACK, LMS_LOGGED_OUT, Lms


def _payload(id_token: str) -> dict[str, Any]:
    """The claims exactly as sent (openid-client already checked the signature)."""
    part = id_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))  # type: ignore[no-any-return]


def _logout(lms: Lms, browser: Any, **params: str) -> requests.Response:
    return browser.http.get(f"{lms.live.url}/oauth/logout", params=params, allow_redirects=False)


def _refresh(lms: Lms, refresh_token: str) -> dict[str, Any]:
    answer = requests.post(f"{lms.live.url}/oauth/token", auth=(lms.client_id, lms.secret),
                           data={"grant_type": "refresh_token", "refresh_token": refresh_token})
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_aud_is_the_client_id_as_a_string_in_every_id_token(lms: Lms) -> None:
    tokens = lms.sign_in()
    assert _payload(tokens["id_token"])["aud"] == lms.client_id
    refreshed = lms.rp.ok("refresh", refresh_token=tokens["refresh_token"])
    assert _payload(refreshed["id_token"])["aud"] == lms.client_id


def test_preferred_username_is_derived_from_sub_and_survives_an_email_change(lms: Lms) -> None:
    tokens = lms.sign_in()
    sub, username = tokens["claims"]["sub"], tokens["claims"]["preferred_username"]
    assert username == claims.username(sub) and len(username) == 27 and username.isascii()
    assert username == username.lower() and "ada" not in username
    info = lms.rp.ok("userinfo", access_token=tokens["access_token"], sub=sub)["userinfo"]
    assert info["preferred_username"] == username
    with lms.live.context() as session:
        session.execute(update(User).values(email="ada.lovelace@elsewhere.example", name="Ada King"))
        session.commit()
    refreshed = _refresh(lms, tokens["refresh_token"])
    after = _payload(refreshed["id_token"])
    assert after["email"] == "ada.lovelace@elsewhere.example" and after["name"] == "Ada King"  # the change shows
    assert after["preferred_username"] == username and after["sub"] == sub


def test_usernames_are_one_to_one_with_sub() -> None:
    subs = [secrets.token_urlsafe(16) for _ in range(200)]  # as hub.idp.claims.subject makes them
    made = [claims.username(sub) for sub in subs]
    assert len(set(made)) == 200
    assert all(base64.b32decode(name[1:].upper() + "======") == base64.urlsafe_b64decode(sub + "==")
               for name, sub in zip(made, subs, strict=True))  # the sub's own bytes, not a digest of them
    # Odd subs (none is made) are hashed: two base64 spellings of the same bytes still get two names.
    assert len({claims.username(f"{i:0>22}") for i in range(200)}) == 200
    assert claims.username("not-a-22-character-sub").startswith("u")  # a hash, still 27 characters
    assert len(claims.username("not-a-22-character-sub")) == 27


def test_preferred_username_only_with_the_profile_scope(lms: Lms) -> None:
    start = lms.rp.ok("authorize_url", redirect_uri=LMS_CALLBACK, scope="openid email")
    browser = lms.browser()
    callback = lms.follow_sign_in(browser, browser.http.get(start["url"], allow_redirects=False))
    tokens = lms.rp.ok("callback", url=callback)
    assert "preferred_username" not in tokens["claims"] and "name" not in tokens["claims"]
    assert tokens["claims"]["email"] == "ada@partner.example"


def test_empty_groups_are_left_out_and_groups_with_members_are_sent(lms: Lms) -> None:
    tokens = lms.sign_in()
    with lms.live.context() as session:
        assert session.scalar(select(User.groups)) in ([], None)
    assert "groups" not in _payload(tokens["id_token"])
    info = lms.rp.ok("userinfo", access_token=tokens["access_token"], sub=tokens["claims"]["sub"])["userinfo"]
    assert "groups" not in info
    with lms.live.context() as session:
        session.execute(update(User).values(groups=["teachers"]))
        session.commit()
    info = lms.rp.ok("userinfo", access_token=tokens["access_token"], sub=tokens["claims"]["sub"])["userinfo"]
    assert info["groups"] == ["teachers"]


def test_logout_with_the_hint_alone_redirects_back_with_state(lms: Lms) -> None:
    """No client_id: the client is the hint's aud (RP-Initiated Logout 1.0, 2), as Open edX and Canvas send it."""
    browser = lms.browser()
    tokens = lms.sign_in(browser)
    answer = _logout(lms, browser, id_token_hint=tokens["id_token"], post_logout_redirect_uri=LMS_LOGGED_OUT,
                     state="st-1")
    assert answer.status_code == 302, answer.text
    target = urlsplit(answer.headers["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == LMS_LOGGED_OUT
    assert parse_qs(target.query) == {"state": ["st-1"]}
    assert not signed_in(browser)


def test_logout_accepts_an_expired_hint(lms: Lms) -> None:
    """OIDC RP-Initiated Logout 1.0, 2: the OP SHOULD accept an ID token past its exp as the hint."""
    browser = lms.browser()
    tokens = lms.sign_in(browser)
    movable_clock(lms.live.app).advance(hours=3)  # the ID token lives an hour; the key is still current
    answer = _logout(lms, browser, id_token_hint=tokens["id_token"], post_logout_redirect_uri=LMS_LOGGED_OUT)
    assert answer.status_code == 302 and answer.headers["Location"] == LMS_LOGGED_OUT, answer.text


@pytest.mark.parametrize("uri", ["https://evil.example/logged-out", f"{LMS_LOGGED_OUT}?next=x", LMS_CALLBACK])
def test_logout_never_redirects_to_an_unregistered_uri(lms: Lms, uri: str) -> None:
    browser = lms.browser()
    tokens = lms.sign_in(browser)
    answer = _logout(lms, browser, id_token_hint=tokens["id_token"], post_logout_redirect_uri=uri, state="s")
    assert answer.status_code == 200 and "Location" not in answer.headers
    assert "You are signed out" in answer.text and "evil.example" not in answer.text
    assert not signed_in(browser)  # the hint was valid: the session still ends


def test_logout_never_redirects_to_another_clients_uri(lms: Lms) -> None:
    """Canvas's registered logout URI, with Moodle's hint: the hint names Moodle, whose list does not hold it."""
    with lms.live.context() as session:
        clients.add(session, "Canvas", ["https://canvas.example.edu/cb"], ["https://canvas.example.edu/bye"])
        session.commit()
    browser = lms.browser()
    tokens = lms.sign_in(browser)
    answer = _logout(lms, browser, id_token_hint=tokens["id_token"],
                     post_logout_redirect_uri="https://canvas.example.edu/bye")
    assert answer.status_code == 200 and "Location" not in answer.headers


def _forged(lms: Lms, **changes: Any) -> str:
    """An ID token signed with the hub's own current key, claims changed: only the hub's checks can refuse it."""
    with lms.live.context() as session:
        sub = session.scalar(select(IdpSubject.sub))
        key = keys.signing_key(session, lms.live.app.extensions["vault"], lms.live.app.extensions["idp_keys"])
    body = {"iss": lms.live.url, "aud": lms.client_id, "sub": sub, "iat": 1, "exp": 2, **changes}
    return jwt.encode({"alg": keys.ALG, "kid": key.kid}, body, key)


@pytest.mark.parametrize("changes", [{"iss": "https://other-issuer.example"},
                                     {"iss": None}])
def test_a_hint_from_another_issuer_is_refused_without_redirect(lms: Lms, changes: dict[str, Any]) -> None:
    browser = lms.browser()
    lms.sign_in(browser)
    hint = _forged(lms, **changes)
    answer = _logout(lms, browser, id_token_hint=hint, post_logout_redirect_uri=LMS_LOGGED_OUT)
    assert answer.status_code == 400 and "Location" not in answer.headers
    assert signed_in(browser)  # refused: nothing changed


def test_a_hint_for_several_audiences_names_no_client(lms: Lms) -> None:
    browser = lms.browser()
    lms.sign_in(browser)
    hint = _forged(lms, aud=[lms.client_id, "hubc_other"])
    answer = _logout(lms, browser, id_token_hint=hint, post_logout_redirect_uri=LMS_LOGGED_OUT)
    assert answer.status_code == 200 and "Location" not in answer.headers


def test_a_hint_with_aud_as_a_list_of_one_still_redirects(lms: Lms) -> None:
    """ID tokens issued before aud became a string, still in an LMS's session, log out as before."""
    browser = lms.browser()
    lms.sign_in(browser)
    hint = _forged(lms, aud=[lms.client_id])
    answer = _logout(lms, browser, id_token_hint=hint, post_logout_redirect_uri=LMS_LOGGED_OUT)
    assert answer.status_code == 302 and answer.headers["Location"] == LMS_LOGGED_OUT


@pytest.mark.parametrize("verifier", [None, "", "short"])
def test_a_pkce_code_without_its_verifier_is_invalid_grant(lms: Lms, verifier: str | None) -> None:
    callback, _start = lms.authorize(lms.browser())
    code = parse_qs(urlsplit(callback).query)["code"][0]
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": LMS_CALLBACK,
            **({"code_verifier": verifier} if verifier is not None else {})}
    answer = requests.post(f"{lms.live.url}/oauth/token", auth=(lms.client_id, lms.secret), data=data)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant", answer.text
    assert "code_verifier" in answer.json()["error_description"]
