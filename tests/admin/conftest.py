"""Fixtures for the admin console: the hub with Google configured and browsers signed in."""
from __future__ import annotations

import pytest

from tests.live import Browser, LiveHub

ADA = "110169484474386276334"  # ada@partner.example, a plain user
GRACE = "110169484474386276335"  # grace@gmail.example
ADMIN = "110169484474386276337"  # admin@hub.example, in HUB_ADMIN_EMAILS


def signed_in(live: LiveHub, sub: str) -> Browser:
    browser = Browser(live)
    answer = browser.sign_in("google", user=sub)
    assert answer.status_code == 302, answer.text
    return browser


@pytest.fixture
def hub(live: LiveHub) -> LiveHub:
    live.add_provider("google")
    return live


@pytest.fixture
def admin(hub: LiveHub) -> Browser:
    return signed_in(hub, ADMIN)
