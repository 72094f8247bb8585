"""prompt=login, max_age and prompt=none (OpenID Connect Core 3.1.2.1, 3.1.2.6) over HTTP."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import update

from hub.models import OAuthClient
from tests.clock import movable_clock
from tests.idp.conftest import LMS_CALLBACK, Lms
from tests.live import Browser


def _start(lms: Lms, browser: Browser, **extra: str) -> tuple[Any, dict[str, Any]]:
    start = lms.rp.ok("authorize_url", redirect_uri=LMS_CALLBACK, extra=extra)
    return browser.http.get(start["url"], allow_redirects=False), start


def _sent_to_sign_in(answer: Any) -> bool:
    return answer.status_code == 302 and urlsplit(answer.headers["Location"]).path == "/login"


def _lms_query(answer: Any) -> dict[str, list[str]]:
    assert answer.status_code == 302 and answer.headers["Location"].startswith(LMS_CALLBACK), answer.text
    return parse_qs(urlsplit(answer.headers["Location"]).query)


def test_prompt_none_without_a_session_is_login_required_at_the_lms(lms: Lms) -> None:
    answer, start = _start(lms, lms.browser(), prompt="none")
    query = _lms_query(answer)
    assert query["error"] == ["login_required"] and query["state"] == [start["state"]] and "code" not in query


def test_prompt_none_with_a_session_issues_the_code_silently(lms: Lms) -> None:
    browser = lms.browser()
    lms.sign_in(browser)
    answer, _ = _start(lms, browser, prompt="none")
    tokens = lms.rp.ok("callback", url=answer.headers["Location"])
    assert tokens["claims"]["email"] == "ada@partner.example"


def test_prompt_none_for_a_third_party_client_without_consent_is_consent_required(lms: Lms) -> None:
    browser = lms.browser()
    lms.sign_in(browser)  # first-party while signing in, so no consent is stored
    with lms.live.context() as session:
        session.execute(update(OAuthClient).values(first_party=False))
        session.commit()
    answer, start = _start(lms, browser, prompt="none")
    query = _lms_query(answer)
    assert query["error"] == ["consent_required"] and query["state"] == [start["state"]]


def test_prompt_login_signs_in_at_the_provider_again_and_auth_time_moves(lms: Lms) -> None:
    clock = movable_clock(lms.live.app)
    browser = lms.browser()
    first = lms.sign_in(browser)["claims"]
    again, _ = _start(lms, browser)
    assert _lms_query(again)["code"]  # without prompt the session is enough
    clock.advance(seconds=2)  # auth_time counts whole seconds

    answer, _ = _start(lms, browser, prompt="login")
    assert _sent_to_sign_in(answer)  # signed in, and still sent to the social provider
    claims = lms.rp.ok("callback", url=lms.follow_sign_in(browser, answer))["claims"]
    assert claims["sub"] == first["sub"]
    assert claims["auth_time"] > first["auth_time"] and claims["sid"] != first["sid"]

    # The fresh sign-in served that one request: the next prompt=login asks again.
    answer, _ = _start(lms, browser, prompt="login")
    assert _sent_to_sign_in(answer)


def test_prompt_login_cannot_be_satisfied_by_resuming_without_signing_in(lms: Lms) -> None:
    browser = lms.browser()
    lms.sign_in(browser)
    answer, _ = _start(lms, browser, prompt="login")
    resume = parse_qs(urlsplit(answer.headers["Location"]).query)["next"][0]
    replayed = browser.get(browser.get(resume).headers["Location"])  # /oauth/resume/<id> -> /oauth/authorize
    assert _sent_to_sign_in(replayed), replayed.headers.get("Location")


def test_max_age_sends_an_old_sign_in_back_to_the_provider(lms: Lms) -> None:
    clock = movable_clock(lms.live.app)
    browser = lms.browser()
    first = lms.sign_in(browser)["claims"]
    recent, _ = _start(lms, browser, max_age="3600")
    assert _lms_query(recent)["code"]  # signed in less than an hour ago
    clock.advance(seconds=2.1)

    answer, _ = _start(lms, browser, max_age="1")
    assert _sent_to_sign_in(answer)
    claims = lms.rp.ok("callback", url=lms.follow_sign_in(browser, answer))["claims"]
    assert claims["auth_time"] >= first["auth_time"] + 2 and claims["auth_time"] >= clock.now().timestamp() - 5


def test_max_age_zero_is_met_by_the_new_sign_in(lms: Lms) -> None:
    browser = lms.browser()
    lms.sign_in(browser)
    answer, _ = _start(lms, browser, max_age="0")
    assert _sent_to_sign_in(answer)
    claims = lms.rp.ok("callback", url=lms.follow_sign_in(browser, answer))["claims"]
    assert claims["auth_time"] >= datetime.now(UTC).timestamp() - 5


def test_prompt_none_with_an_old_sign_in_is_login_required(lms: Lms) -> None:
    clock = movable_clock(lms.live.app)
    browser = lms.browser()
    lms.sign_in(browser)
    clock.advance(seconds=1.1)
    answer, start = _start(lms, browser, prompt="none", max_age="0")
    query = _lms_query(answer)
    assert query["error"] == ["login_required"] and query["state"] == [start["state"]]


def test_malformed_max_age_is_invalid_request_at_the_lms(lms: Lms) -> None:
    browser = lms.browser()
    lms.sign_in(browser)
    answer, start = _start(lms, browser, max_age="soon")
    query = _lms_query(answer)
    assert query["error"] == ["invalid_request"] and query["state"] == [start["state"]] and "code" not in query


def test_resuming_replays_every_parameter_in_the_query(lms: Lms) -> None:
    # The parked request is the LMS's: none of its parameters may become an option of the URL the hub builds
    # (Flask's url_for reads _anchor, _external, _scheme and _method as its own).
    browser = lms.browser()
    answer, _ = _start(lms, browser, _anchor="top", _external="1")
    assert _sent_to_sign_in(answer)
    resume = parse_qs(urlsplit(answer.headers["Location"]).query)["next"][0]
    replayed = urlsplit(browser.get(resume).headers["Location"])
    assert (replayed.scheme, replayed.netloc, replayed.path, replayed.fragment) == ("", "", "/oauth/authorize", "")
    query = parse_qs(replayed.query)
    assert query["_anchor"] == ["top"] and query["_external"] == ["1"] and query["client_id"]
