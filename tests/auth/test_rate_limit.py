"""Sign-in starts are limited per client address (HUB_RATE_LIMIT_LOGIN): 429 on the hub's page, with Retry-After."""
from __future__ import annotations

import pytest

from tests.addresses import from_address
from tests.live import Browser, LiveHub


@pytest.fixture
def hub_env(hub_env: dict[str, str]) -> dict[str, str]:
    return {**hub_env, "HUB_RATE_LIMIT_LOGIN": "3/minute"}


def test_sign_in_starts_past_the_limit_are_429_for_that_address_only(live: LiveHub) -> None:
    live.add_provider("google")
    browser = Browser(live)
    for _ in range(3):
        browser.start_login("google")
    refused = browser.get("/login/google")
    assert refused.status_code == 429 and refused.headers["Content-Type"].startswith("text/html")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "Too many attempts" in refused.text and "Location" not in refused.headers
    assert browser.get("/login/nosuchprovider").status_code == 429  # every start counts, before any lookup
    neighbour = Browser(live)
    from_address("127.0.0.2", neighbour.http)
    assert neighbour.start_login("google").status_code == 302
    assert neighbour.sign_in("google").status_code == 302  # the whole sign-in, from the other address
    assert browser.get("/login/google").status_code == 429  # still refused where the starts came from
