"""Every journey closes (issue 13): a learner connects LinkedIn, X or Viva Engage from the account page or the share
page, over HTTP through the sandboxes, comes back where they started, and the post reaches the sandbox.

Each provider's sandbox client registers exactly the redirect URIs `hub provider add` prints (hub.redirect_uris),
so a URI missing from that list fails here as "redirect_uri is not registered", as it did in the demo.
"""
from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from hub import jobs, provider_access, redirect_uris
from hub.demo import tls
from hub.models import Connection, Consent, Delivery
from tests.live import Browser, LiveHub, csrf_token
from tests.sharing.test_share import ADA, plan_and_send, sign_in

LINH = "782bbtaQ"  # LinkedIn sandbox member
MEGAN = "contoso-megan"  # Microsoft sandbox user at Contoso, a member of Yammer group 123456
GROUP = "123456"


@pytest.fixture
def hub_env(hub_env: dict[str, str], tls_files: tls.TLSFiles) -> dict[str, str]:
    """The hub trusts the CA of the HTTPS Microsoft sandbox (msal refuses http authorities)."""
    return {**hub_env, "HUB_CA_BUNDLE": str(tls_files.ca)}


def register_as_printed(live: LiveHub, name: str, kind: str, client_id: str) -> list[str]:
    """The sandbox's client gets exactly the redirect URIs the hub tells an admin to register."""
    uris = [uri.url for uri in redirect_uris.for_provider(live.url, name, kind)]
    sandbox = live.sandboxes[kind]
    sandbox.register_client(client_id, "sandbox-secret", uris)
    return uris


@dataclass(frozen=True)
class Network:
    kind: str
    sandbox_user: Callable[[LiveHub], str]
    destination: str
    posts: Callable[[LiveHub], list[str]]  # the texts the sandbox holds


NETWORKS = {
    "linkedin": Network("linkedin", lambda live: LINH, "linkedin:me",
                        lambda live: [p["commentary"] for p in live.sandboxes["linkedin"].posts]),
    "x": Network("x", lambda live: live.sandboxes["x"].users[0]["sub"], "x:me",
                 lambda live: [t["text"] for t in live.sandboxes["x"].tweets]),
    "yammer": Network("yammer", lambda live: MEGAN, f"yammer:{GROUP}", lambda live: [
        m["body"]["plain"] for m in live.sandboxes["microsoft"].yammer.group_messages(GROUP)]),
}


@pytest.fixture
def hub(live: LiveHub, add_microsoft: Callable[..., str]) -> LiveHub:
    """Google to sign in; LinkedIn, X and Microsoft (which Viva Engage connects through) registered as printed."""
    live.add_provider("google")
    for kind in ("linkedin", "x"):
        register_as_printed(live, kind, kind, live.add_provider(kind))
    uris = register_as_printed(live, "microsoft", "microsoft", add_microsoft())
    assert f"{live.url}/connect/yammer/callback" in uris  # the Microsoft app must register Viva Engage's connect
    return live


def _consent(live: LiveHub, user_id: int, kind: str, choice: str) -> None:
    with live.context() as session:
        session.add(Consent(user_id=user_id, destination_kind=kind, choice=choice, text_version="v1"))
        session.commit()


def _connect(browser: Browser, href: str, user: str) -> Any:
    """Follow a Connect link, pick the sandbox user; the hub's answer to the callback (not followed)."""
    start = browser.get(href)
    assert start.status_code == 302, start.text
    callback = browser.pick_user(start.headers["Location"], user)
    assert callback.startswith(browser.hub.url + "/connect/"), callback
    return browser.http.get(callback, allow_redirects=False)


def _connection(live: LiveHub, user_id: int, kind: str) -> Connection | None:
    with live.context() as session:
        row = session.scalar(select(Connection).where(Connection.user_id == user_id, Connection.kind == kind))
        if row is not None:
            session.expunge(row)
        return row


@pytest.mark.parametrize("kind", sorted(NETWORKS))
def test_connect_from_the_account_page_returns_there_and_the_next_post_reaches_the_sandbox(
        hub: LiveHub, kind: str) -> None:
    network = NETWORKS[kind]
    browser, user_id = sign_in(hub, ADA)
    page = html.unescape(browser.get("/account").text)
    assert f'href="/connect/{kind}"' in page, page
    answer = _connect(browser, f"/connect/{kind}", network.sandbox_user(hub))
    assert answer.status_code == 302 and urlsplit(answer.headers["Location"]).path == "/account", answer.text
    row = _connection(hub, user_id, kind)
    assert row is not None and row.scopes
    assert "Reconnect" in browser.get("/account").text

    _consent(hub, user_id, kind, "always")
    delivery_id = plan_and_send(hub, user_id, network.destination, external_id=f"evt-{kind}")
    with hub.context() as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery.status == "sent", delivery.last_error
    assert any("Security Basics" in text for text in network.posts(hub))


@pytest.mark.parametrize("kind", sorted(NETWORKS))
def test_connect_from_the_share_page_comes_back_to_it_and_post_is_enabled_then_posted(hub: LiveHub, kind: str) -> None:
    network = NETWORKS[kind]
    browser, user_id = sign_in(hub, ADA)
    _consent(hub, user_id, kind, "ask")
    delivery_id = plan_and_send(hub, user_id, network.destination, external_id=f"evt-{kind}")
    share = f"/share/{delivery_id}"

    page = browser.get(share).text
    assert 'data-connected="no"' in page and 'id="share-post" disabled' in page
    href = html.unescape(re.search(r'id="share-connect" href="([^"]+)"', page).group(1))
    assert urlsplit(href).path == f"/connect/{kind}" and parse_qs(urlsplit(href).query)["next"] == [share]
    # Post stays refused until the account is connected: nothing changes, nothing is queued.
    refused = browser.post(share, data={"csrf_token": csrf_token(page), "text": "too early"})
    assert refused.status_code == 409 and "not connected" in refused.text
    with hub.context() as session:
        assert session.get(Delivery, delivery_id).status == "skipped"

    answer = _connect(browser, href, network.sandbox_user(hub))
    assert answer.status_code == 302 and answer.headers["Location"] == share, answer.text
    page = browser.get(share).text
    assert 'data-connected="yes"' in page and 'id="share-post" disabled' not in page

    posted = browser.post(share, data={"csrf_token": csrf_token(page), "text": "Security Basics, done."})
    assert posted.status_code == 303, posted.text
    jobs.run_worker(hub.app, burst=True)
    with hub.context() as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery.status == "sent", delivery.last_error
    assert any(text.startswith("Security Basics, done.") for text in network.posts(hub))
    assert 'data-status="sent"' in browser.get(share).text


@pytest.mark.parametrize("target", ["https://evil.example/phish", "//evil.example/phish", "/\\evil.example",
                                    "/%2F%2Fevil.example", "javascript:alert(1)", "https:evil.example"])
def test_an_external_return_url_is_ignored_for_the_account_page(hub: LiveHub, target: str) -> None:
    browser, user_id = sign_in(hub, ADA)
    answer = _connect(browser, f"/connect/linkedin?next={target.replace('%', '%25')}", LINH)
    assert answer.status_code == 302 and answer.headers["Location"] == "/account", answer.headers
    assert _connection(hub, user_id, "linkedin") is not None  # connected all the same


def test_viva_engage_keeps_only_the_refresh_token_and_checks_the_id_token(hub: LiveHub) -> None:
    browser, user_id = sign_in(hub, ADA)
    start = browser.get("/connect/yammer")
    query = parse_qs(urlsplit(start.headers["Location"]).query)
    assert "https://www.yammer.com/.default" in query["scope"][0].split()
    assert query["code_challenge_method"] == ["S256"] and query["nonce"]  # msal's PKCE and nonce
    assert urlsplit(start.headers["Location"]).path.endswith("/organizations/oauth2/v2.0/authorize")
    # A tampered ID token (another audience) is refused and nothing is stored.
    hub.sandboxes["microsoft"].faults.id_token_claims = lambda claims: {**claims, "aud": "someone-else"}
    callback = browser.pick_user(start.headers["Location"], MEGAN)
    answer = browser.http.get(callback, allow_redirects=False)
    assert answer.status_code == 400 and "ID token" in answer.text
    assert _connection(hub, user_id, "yammer") is None
    hub.sandboxes["microsoft"].faults.id_token_claims = None

    assert _connect(browser, "/connect/yammer", MEGAN).status_code == 302
    row = _connection(hub, user_id, "yammer")
    assert row is not None and row.remote_id.startswith("5f2b1c3e-")  # tid:oid, as Microsoft sign-in keys people
    with hub.context() as session:
        assert set(provider_access.tokens_of(session.get(Connection, row.id))) == {"refresh_token"}


def test_without_the_connect_redirect_uri_registered_the_sandbox_refuses(live: LiveHub) -> None:
    """What the demo did before: only /auth/<kind>/callback registered, so connecting stopped at the provider."""
    live.add_provider("google")
    live.add_provider("linkedin")  # registers the sign-in callback alone
    browser, _ = sign_in(live, ADA)
    start = browser.get("/connect/linkedin")
    refused = browser.http.get(start.headers["Location"])
    assert refused.status_code == 400 and "redirect_uri is not registered" in refused.text


def test_cancelling_at_the_provider_leads_back_to_the_share_page_and_stores_nothing(hub: LiveHub) -> None:
    browser, user_id = sign_in(hub, ADA)
    _consent(hub, user_id, "linkedin", "ask")
    share = f"/share/{plan_and_send(hub, user_id, 'linkedin:me')}"
    start = browser.get(f"/connect/linkedin?next={share}")
    callback = browser.pick_user(start.headers["Location"], LINH, decision="deny")
    answer = browser.http.get(callback, allow_redirects=False)
    assert answer.status_code == 400 and "did not sign you in (access_denied)" in answer.text
    assert f'<a href="{share}" id="error-back">Back to the share page</a>' in answer.text
    assert _connection(hub, user_id, "linkedin") is None
    assert 'data-connected="no"' in browser.get(share).text
