"""A real browser goes from an LMS (its own port) through the hub's sign-in and consent screen, back with a code."""
from __future__ import annotations

import base64
import hashlib
import html
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode

import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from hub.idp import clients
from tests.browser.conftest import ADA_SUB, Pages, screenshot
from tests.live import LiveHub

LMS_NAME = "Northwind Academy"


@dataclass
class FakeLms:
    """A tiny LMS on another port: a "Log in with the hub" link and a redirect URI that shows what came back."""

    url: str
    verifier: str
    state: str
    client_id: str = ""

    @property
    def callback(self) -> str:
        return self.url + "/callback"

    def authorize_url(self, hub: str) -> str:
        challenge = base64.urlsafe_b64encode(hashlib.sha256(self.verifier.encode()).digest()).rstrip(b"=").decode()
        return hub + "/oauth/authorize?" + urlencode({
            "response_type": "code", "client_id": self.client_id, "redirect_uri": self.callback,
            "scope": "openid profile email", "state": self.state, "nonce": secrets.token_urlsafe(8),
            "code_challenge": challenge, "code_challenge_method": "S256"})

    def app(self, hub: str):  # type: ignore[no-untyped-def]
        def wsgi(environ, start_response):  # type: ignore[no-untyped-def]
            request = Request(environ)
            if request.path == "/callback":
                body = "".join(f'<dd id="got-{html.escape(k)}">{html.escape(v)}</dd>' for k, v in request.args.items())
                page = f"<!doctype html><title>LMS</title><h1>Back at the LMS</h1><dl>{body}</dl>"
            else:
                link = html.escape(self.authorize_url(hub))
                page = (f'<!doctype html><title>LMS</title><h1>{LMS_NAME}</h1>'
                        f'<a id="hub-login" href="{link}">Log in with the hub</a>')
            return Response(page, mimetype="text/html")(environ, start_response)

        return wsgi


@pytest.fixture
def lms(live: LiveHub) -> Iterator[FakeLms]:
    server = make_server("127.0.0.1", 0, lambda e, s: [])  # the port first: the client's redirect URI names it
    fake = FakeLms(f"http://127.0.0.1:{server.server_port}", secrets.token_urlsafe(48), secrets.token_urlsafe(12))
    with live.context() as session:
        fake.client_id = clients.add(session, LMS_NAME, [fake.callback], first_party=False).client.client_id
        session.commit()
    server.app = fake.app(live.url)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()


def test_lms_sign_in_shows_the_lms_name_then_consent_and_returns_a_code(live: LiveHub, lms: FakeLms, pages: Pages,
                                                                        axe: Any) -> None:
    live.add_provider("google")
    page = pages.new()
    page.goto(lms.url)
    page.click("#hub-login")
    page.wait_for_url(live.url + "/login?**")
    assert LMS_NAME in page.locator("#signing-in-to").inner_text()  # the sign-in page names who asked
    axe(page, "the sign-in page started by an LMS")

    page.click('a.provider-button[data-provider="google"]')
    page.wait_for_url("**/sandbox/google/**")
    page.check(f'input[type=radio][value="{ADA_SUB}"]')
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live.url + "/oauth/authorize?**")

    assert page.locator("h1").inner_text() == f"Allow {LMS_NAME} to sign you in?"
    assert "ada@partner.example" in page.locator("#consent").inner_text()
    scopes = {li.get_attribute("data-scope"): li.inner_text() for li in page.locator("ul.scopes li").all()}
    assert set(scopes) == {"openid", "profile", "email"}
    assert "email address" in scopes["email"] and "organisation" in scopes["profile"]
    axe(page, "the consent screen")
    screenshot(page, "idp-consent")

    page.get_by_role("button", name="Allow", exact=True).click()
    page.wait_for_url(lms.callback + "?**")
    assert page.locator("h1").inner_text() == "Back at the LMS"
    assert page.locator("#got-state").inner_text() == lms.state
    code = page.locator("#got-code").inner_text()

    # The code is real: the LMS redeems it with its PKCE verifier (and the consent is remembered).
    with live.context() as session:
        secret = clients.rotate_secret(session, LMS_NAME).secret
        session.commit()
    answer = requests.post(f"{live.url}/oauth/token", auth=(lms.client_id, secret), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": lms.callback, "code_verifier": lms.verifier})
    assert answer.status_code == 200, answer.text
    assert answer.json()["id_token"] and "openid" in answer.json()["scope"]

    page.goto(lms.url)
    page.click("#hub-login")  # asked once: straight back to the LMS
    page.wait_for_url(lms.callback + "?**")
    assert parse_qs(page.url.split("?", 1)[1])["state"] == [lms.state]


def test_dont_allow_returns_access_denied_to_the_lms(live: LiveHub, lms: FakeLms, pages: Pages) -> None:
    live.add_provider("google")
    page = pages.new()
    page.goto(lms.url)
    page.click("#hub-login")
    page.click('a.provider-button[data-provider="google"]')
    page.check(f'input[type=radio][value="{ADA_SUB}"]')
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live.url + "/oauth/authorize?**")
    page.get_by_role("button", name="Don't allow").click()
    page.wait_for_url(lms.callback + "?**")
    assert page.locator("#got-error").inner_text() == "access_denied"
    assert page.locator("#got-state").inner_text() == lms.state
    assert page.locator("#got-code").count() == 0
