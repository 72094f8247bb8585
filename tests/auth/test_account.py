"""/account: linking, unlinking (never the last way in), signing out everywhere, and CSRF on every form."""
from __future__ import annotations

import html

import pytest
from sqlalchemy import select

from hub.models import AuditEvent, Identity, User
from tests.auth.helpers import ADA, callback_url, counts, last_failure, signed_in
from tests.live import Browser, LiveHub, csrf_token


def _signed_in_as_ada(live: LiveHub) -> Browser:
    browser = Browser(live)
    answer = browser.http.get(callback_url(browser, "google", ADA), allow_redirects=False)
    assert answer.status_code == 302, answer.text
    return browser


def _olive(live: LiveHub) -> str:
    return live.sandboxes["oidc"].users[0]["sub"]


def _link_oidc(live: LiveHub, browser: Browser):  # type: ignore[no-untyped-def]
    return browser.http.get(callback_url(browser, "oidc", _olive(live), link="1", next="/account"),
                            allow_redirects=False)


def _identities(live: LiveHub, email: str) -> dict[str, int]:
    with live.context() as session:
        user = session.scalar(select(User).where(User.email == email))
        return {i.provider: i.id for i in user.identities}


@pytest.fixture
def two_providers(live: LiveHub) -> LiveHub:
    live.add_provider("google")
    live.add_provider("oidc")
    return live


def test_link_a_second_provider_to_the_signed_in_user(two_providers: LiveHub) -> None:
    live = two_providers
    browser = _signed_in_as_ada(live)
    answer = _link_oidc(live, browser)
    assert answer.status_code == 302 and answer.headers["Location"] == "/account"
    assert counts(live) == (1, 2)
    assert set(_identities(live, "ada@partner.example")) == {"google", "oidc"}
    page = html.unescape(browser.get("/account").text)
    assert "olive@oidc.example" in page
    # Both ways now lead to the same account.
    other = Browser(live)
    assert other.http.get(callback_url(other, "oidc", _olive(live)), allow_redirects=False).status_code == 302
    assert "ada@partner.example" in other.get("/account").text


def test_linking_an_identity_of_another_user_is_refused(two_providers: LiveHub) -> None:
    live = two_providers
    olive = Browser(live)
    assert olive.http.get(callback_url(olive, "oidc", _olive(live)), allow_redirects=False).status_code == 302
    browser = _signed_in_as_ada(live)
    answer = _link_oidc(live, browser)
    assert answer.status_code == 403
    assert "That account is already linked to another user." in html.unescape(answer.text)
    assert counts(live) == (2, 2)
    assert set(_identities(live, "ada@partner.example")) == {"google"}
    assert set(_identities(live, "olive@oidc.example")) == {"oidc"}
    event = last_failure(live)
    assert event.reason == "identity_taken" and event.ref in answer.text
    assert "ada@partner.example" in browser.get("/account").text  # Ada's own session is untouched


def test_link_requires_a_signed_in_user(two_providers: LiveHub) -> None:
    browser = Browser(two_providers)
    answer = browser.get("/login/oidc", params={"link": "1"})
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/login")
    assert "/sandbox/" not in answer.headers["Location"]


def test_unlink_works_but_never_the_last_identity(two_providers: LiveHub) -> None:
    live = two_providers
    browser = _signed_in_as_ada(live)
    _link_oidc(live, browser)
    ids = _identities(live, "ada@partner.example")
    token = csrf_token(browser.get("/account").text)
    answer = browser.post(f"/account/identities/{ids['oidc']}/unlink", data={"csrf_token": token})
    assert answer.status_code == 303
    assert "Unlinked oidc." in html.unescape(browser.get("/account").text)
    assert set(_identities(live, "ada@partner.example")) == {"google"}
    answer = browser.post(f"/account/identities/{ids['google']}/unlink", data={"csrf_token": token})
    assert answer.status_code == 303
    assert "You can't unlink your only way to sign in." in html.unescape(browser.get("/account").text)
    assert set(_identities(live, "ada@partner.example")) == {"google"}
    with live.context() as session:
        assert session.scalar(select(AuditEvent).where(AuditEvent.action == "unlink")).provider == "oidc"


def test_unlink_of_another_users_identity_is_refused(two_providers: LiveHub) -> None:
    live = two_providers
    olive = Browser(live)
    olive.http.get(callback_url(olive, "oidc", _olive(live)), allow_redirects=False)
    browser = _signed_in_as_ada(live)
    olive_identity = _identities(live, "olive@oidc.example")["oidc"]
    token = csrf_token(browser.get("/account").text)
    browser.post(f"/account/identities/{olive_identity}/unlink", data={"csrf_token": token})
    assert "That sign-in is not linked to your account." in html.unescape(browser.get("/account").text)
    assert set(_identities(live, "olive@oidc.example")) == {"oidc"}


def test_sign_out_everywhere_ends_the_other_sessions(live: LiveHub) -> None:
    live.add_provider("google")
    laptop, phone = _signed_in_as_ada(live), _signed_in_as_ada(live)
    assert signed_in(laptop) and signed_in(phone)
    token = csrf_token(laptop.get("/account").text)
    answer = laptop.post("/account/sign-out-everywhere", data={"csrf_token": token})
    assert answer.status_code == 303
    assert not signed_in(laptop)
    assert not signed_in(phone)
    again = _signed_in_as_ada(live)  # a fresh sign-in starts a new epoch
    assert signed_in(again)


@pytest.mark.parametrize("token", [None, "not-a-token"])
def test_state_changing_posts_without_a_valid_csrf_token_are_refused(two_providers: LiveHub,
                                                                   token: str | None) -> None:
    live = two_providers
    browser = _signed_in_as_ada(live)
    _link_oidc(live, browser)
    ids = _identities(live, "ada@partner.example")
    with live.context() as session:
        epoch = session.scalar(select(User)).session_epoch
    data = {} if token is None else {"csrf_token": token}
    for path in (f"/account/identities/{ids['oidc']}/unlink", "/account/sign-out-everywhere", "/logout"):
        answer = browser.post(path, data=data)
        assert answer.status_code == 400, (path, answer.text)
        assert "This form expired or did not come from this site." in answer.text
    assert signed_in(browser)
    assert set(_identities(live, "ada@partner.example")) == {"google", "oidc"}
    with live.context() as session:
        assert session.scalar(select(User)).session_epoch == epoch
        assert session.scalar(select(Identity).where(Identity.id == ids["oidc"])) is not None


def test_csrf_token_of_another_session_is_refused(live: LiveHub) -> None:
    live.add_provider("google")
    victim, attacker = _signed_in_as_ada(live), _signed_in_as_ada(live)
    foreign = csrf_token(attacker.get("/account").text)
    answer = victim.post("/account/sign-out-everywhere", data={"csrf_token": foreign})
    assert answer.status_code == 400
    assert signed_in(victim) and signed_in(attacker)
