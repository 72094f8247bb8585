"""Login state: forged, replayed, moved to another browser or another provider's callback; replayed codes; RFC 9207."""
from __future__ import annotations

from urllib.parse import urlsplit

from hub.auth.state import TTL_SECONDS
from tests.auth.helpers import ADA, assert_refused, callback_url, sign_out, with_params
from tests.clock import movable_clock
from tests.live import Browser, LiveHub

INVALID_STATE = "This sign-in link is invalid or was already used. Please start again."


def test_forged_state_is_refused_before_any_token_request(live: LiveHub) -> None:
    live.add_provider("google")
    browser = Browser(live)
    browser.start_login("google")  # a login in progress: the forged state still must not match it
    answer = browser.get("/auth/google/callback", params={"state": "forged-state", "code": "attacker-code"})
    assert_refused(live, browser, answer, status=400, message=INVALID_STATE, reason="invalid_state")
    assert live.sandboxes["google"].token_requests == 0


def test_missing_state_is_refused(live: LiveHub) -> None:
    live.add_provider("google")
    browser = Browser(live)
    answer = browser.get("/auth/google/callback", params={"code": "attacker-code"})
    assert_refused(live, browser, answer, status=400, message=INVALID_STATE, reason="invalid_state")
    assert live.sandboxes["google"].token_requests == 0


def test_state_replayed_is_refused(live: LiveHub) -> None:
    live.add_provider("google")
    browser = Browser(live)
    url = callback_url(browser, "google", ADA)
    assert browser.http.get(url, allow_redirects=False).status_code == 302
    sign_out(browser)
    again = browser.http.get(url, allow_redirects=False)
    assert_refused(live, browser, again, status=400, message=INVALID_STATE, reason="invalid_state",
                   users=1, identities=1)
    assert live.sandboxes["google"].token_requests == 1


def test_state_lives_its_lifetime_by_the_hubs_clock(live: LiveHub) -> None:
    live.add_provider("google")
    clock = movable_clock(live.app)
    prompt, late = Browser(live), Browser(live)
    prompt_url, late_url = callback_url(prompt, "google", ADA), callback_url(late, "google", ADA)
    clock.advance(seconds=TTL_SECONDS - 5)
    assert prompt.http.get(prompt_url, allow_redirects=False).status_code == 302
    clock.advance(seconds=10)
    answer = late.http.get(late_url, allow_redirects=False)
    assert_refused(live, late, answer, status=400, message=INVALID_STATE, reason="invalid_state",
                   users=1, identities=1)
    assert live.sandboxes["google"].token_requests == 1


def test_state_from_another_browser_is_refused(live: LiveHub) -> None:
    live.add_provider("google")
    victim, attacker = Browser(live), Browser(live)
    url = callback_url(attacker, "google", ADA)  # the attacker's own login, planted in the victim's browser
    answer = victim.http.get(url, allow_redirects=False)
    assert_refused(live, victim, answer, status=400, message=INVALID_STATE, reason="invalid_state")
    assert live.sandboxes["google"].token_requests == 0


def test_state_of_one_provider_at_another_providers_callback_is_refused(live: LiveHub) -> None:
    live.add_provider("google")
    live.add_provider("oidc")
    browser = Browser(live)
    url = callback_url(browser, "google", ADA)
    moved = urlsplit(url)._replace(path="/auth/oidc/callback").geturl()
    answer = browser.http.get(moved, allow_redirects=False)
    assert_refused(live, browser, answer, status=400, message=INVALID_STATE, reason="invalid_state")
    assert live.sandboxes["google"].token_requests == 0
    assert live.sandboxes["oidc"].token_requests == 0


def test_replayed_code_is_refused_by_the_provider_and_shown_clearly(live: LiveHub) -> None:
    live.add_provider("google")
    browser = Browser(live)
    first = callback_url(browser, "google", ADA)
    assert browser.http.get(first, allow_redirects=False).status_code == 302
    sign_out(browser)
    fresh = browser.start_login("google").headers["Location"]
    state = dict(p.split("=", 1) for p in urlsplit(fresh).query.split("&"))["state"]
    answer = browser.http.get(with_params(first, state=state), allow_redirects=False)
    assert_refused(live, browser, answer, status=400, message="Google refused the sign-in code (invalid_grant)",
                   reason="token_refused", users=1, identities=1)
    assert live.sandboxes["google"].token_requests == 2


def test_iss_response_parameter_naming_another_issuer_is_refused_before_the_token_request(live: LiveHub) -> None:
    live.add_provider("google")
    live.sandboxes["google"].faults.response_params = {"iss": "https://evil.test"}
    browser = Browser(live)
    answer = browser.http.get(callback_url(browser, "google", ADA), allow_redirects=False)
    assert_refused(live, browser, answer, status=400, message="The sign-in response came from an unexpected issuer.",
                   reason="issuer_mismatch")
    assert live.sandboxes["google"].token_requests == 0


def test_iss_of_another_configured_provider_is_refused(live: LiveHub) -> None:
    """Mix-up: the response claims to come from the other provider the hub trusts."""
    live.add_provider("google")
    live.add_provider("oidc")
    live.sandboxes["google"].faults.response_params = {"iss": f"{live.url}/sandbox/oidc"}
    browser = Browser(live)
    answer = browser.http.get(callback_url(browser, "google", ADA), allow_redirects=False)
    assert_refused(live, browser, answer, status=400, message="unexpected issuer", reason="issuer_mismatch")
    assert live.sandboxes["google"].token_requests == 0


def test_user_cancelling_at_the_provider_gets_a_clear_error(live: LiveHub) -> None:
    live.add_provider("google")
    browser = Browser(live)
    start = browser.start_login("google")
    answer = browser.http.get(browser.pick_user(start.headers["Location"], ADA, decision="deny"),
                              allow_redirects=False)
    assert_refused(live, browser, answer, status=400, message="Google did not sign you in (access_denied).",
                   reason="provider_denied")
    assert live.sandboxes["google"].token_requests == 0


def test_iss_stripped_from_the_response_is_refused_when_the_provider_promises_it(live: LiveHub) -> None:
    """Google's metadata advertises RFC 9207 `iss`: a response without it is a mix-up attempt."""
    live.add_provider("google")
    browser = Browser(live)
    url = callback_url(browser, "google", ADA)
    parts = urlsplit(url)
    stripped = parts._replace(query="&".join(p for p in parts.query.split("&") if not p.startswith("iss="))).geturl()
    answer = browser.http.get(stripped, allow_redirects=False)
    assert_refused(live, browser, answer, status=400, message="The sign-in response did not name its issuer.",
                   reason="issuer_missing")
    assert live.sandboxes["google"].token_requests == 0
