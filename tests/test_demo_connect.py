"""`hub demo` registers every redirect URI with its sandboxes (issue 13): a learner connects LinkedIn, X and Viva
Engage for posting from the account page and comes back to it, where the demo once answered "redirect_uri is not
registered" (only /auth/<kind>/callback was)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from hub import demo
from hub.demo import tls
from hub.models import Connection
from tests.live import Browser, LiveHub
from tests.sharing.test_share import ADA

SANDBOX_USERS = {"linkedin": "782bbtaQ", "x": "1427384956271038465", "yammer": "contoso-megan"}


@pytest.fixture
def hub_env(hub_env: dict[str, str], tls_files: tls.TLSFiles) -> dict[str, str]:
    """As the demo runs: the Microsoft sandbox's CA trusted (msal wants https)."""
    return {**hub_env, "HUB_CA_BUNDLE": str(tls_files.ca), "HUB_FEED_ALLOW_HOSTS": "127.0.0.1"}


def test_the_demo_lets_a_learner_connect_linkedin_x_and_viva_engage(live: LiveHub, tls_url: str) -> None:
    demo.seed(live.app, {"*": live.url, "microsoft": tls_url})
    browser = Browser(live)
    assert browser.sign_in("google", user=ADA).status_code == 302
    page = browser.get("/account").text
    for kind, sandbox_user in SANDBOX_USERS.items():
        assert f'href="/connect/{kind}"' in page, kind
        start = browser.get(f"/connect/{kind}")
        assert start.status_code == 302, start.text
        callback = browser.pick_user(start.headers["Location"], sandbox_user)  # the sandbox accepted the URI
        assert callback.startswith(f"{live.url}/connect/{kind}/callback?"), callback
        answer = browser.http.get(callback, allow_redirects=False)
        assert answer.status_code == 302 and answer.headers["Location"] == "/account", (kind, answer.text)
    with live.context() as session:
        mine = set(session.scalars(select(Connection.kind).where(Connection.user_id.is_not(None))))
    assert mine == set(SANDBOX_USERS)
