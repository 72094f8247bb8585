"""`next` after sign-in: only a same-origin path or an allowed LMS origin; redirect URIs ignore Host."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from hub.auth.redirects import DEFAULT, safe_next
from tests.auth.helpers import ADA, callback_url
from tests.live import Browser, LiveHub

LMS = ("https://lms.example.edu",)
HOSTILE = [
    "//evil.test",
    "/\\evil.test",
    "/%2F%2Fevil.test",
    "/%5Cevil.test",
    "https:evil.test",
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "https://evil.test/",
    "http://lms.example.edu.evil.test",
    "https://lms.example.edu.evil.test/",
    "https://lms.example.edu@evil.test/",
    "http://lms.example.edu/",  # the allowed origin is https only
    "/\t/evil.test",
    "data:text/html,hi",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_next_falls_back_to_the_account_page(value: str) -> None:
    assert safe_next(value, LMS) == DEFAULT == "/account"


@pytest.mark.parametrize("value", ["/courses/7?tab=2", "https://lms.example.edu/course/1", "/account"])
def test_same_origin_paths_and_allowed_lms_origins_are_kept(value: str) -> None:
    assert safe_next(value, LMS) == value


@pytest.mark.parametrize("value", ["//evil.test", "/\\evil.test", "/%2F%2Fevil.test", "https:evil.test",
                                   "javascript:alert(1)", "https://evil.test/", "http://lms.example.edu.evil.test"])
def test_hostile_next_ends_on_the_account_page_after_a_real_sign_in(live: LiveHub, value: str) -> None:
    live.add_provider("google")
    browser = Browser(live)
    page = browser.get("/login", params={"next": value})
    assert value not in page.text and 'name="next" value="/account"' in page.text
    answer = browser.http.get(callback_url(browser, "google", ADA, next=value), allow_redirects=False)
    assert answer.status_code == 302, answer.text
    assert answer.headers["Location"] == "/account"


def test_an_allowed_lms_origin_is_honoured(live: LiveHub) -> None:
    live.add_provider("google")
    browser = Browser(live)
    target = "https://lms.example.edu/course/42?unit=3"
    answer = browser.http.get(callback_url(browser, "google", ADA, next=target), allow_redirects=False)
    assert answer.status_code == 302, answer.text
    assert answer.headers["Location"] == target


def test_a_spoofed_host_header_does_not_change_the_redirect_uri(live: LiveHub) -> None:
    live.add_provider("google")
    browser = Browser(live)
    for headers in ({"Host": "evil.test"}, {"X-Forwarded-Host": "evil.test", "X-Forwarded-Proto": "https"}):
        answer = browser.get("/login/google", headers=headers)
        assert answer.status_code == 302, answer.text
        sent = parse_qs(urlsplit(answer.headers["Location"]).query)
        assert sent["redirect_uri"] == [f"{live.url}/auth/google/callback"]
        assert "evil.test" not in answer.headers["Location"]
