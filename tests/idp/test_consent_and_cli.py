"""Consent for third-party clients, the `hub client` commands, and the deprovisioning handlers."""
from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import requests
from click.testing import CliRunner
from sqlalchemy import func, select

from hub.cli import main
from hub.idp import revocation
from hub.models import IdpConsent, IdpToken, OAuthClient, User
from tests.auth.helpers import ADA
from tests.idp.conftest import LMS_CALLBACK, Lms
from tests.live import Browser, csrf_token


def _third_party(lms: Lms) -> None:
    with lms.live.context() as session:
        session.query(OAuthClient).update({"first_party": False})
        session.commit()


def _consent_action(page: str) -> str:
    found = re.search(r'<form method="post" action="([^"]+)" class="card" id="consent">', page)
    assert found is not None, page
    return found.group(1).replace("&amp;", "&")


def _to_consent(lms: Lms, browser: Browser) -> tuple[requests.Response, dict]:
    start = lms.rp.ok("authorize_url", redirect_uri=LMS_CALLBACK)
    answer = browser.http.get(start["url"], allow_redirects=False)
    if answer.status_code == 200:  # already signed in to the hub: the consent screen at once
        return answer, start
    next_url = parse_qs(urlsplit(answer.headers["Location"]).query)["next"][0]
    login = browser.start_login("google", next=next_url)
    answer = browser.http.get(browser.pick_user(login.headers["Location"], ADA), allow_redirects=False)
    while answer.status_code == 302:
        answer = browser.get(answer.headers["Location"])
    return answer, start


def test_third_party_client_asks_once_and_deny_is_access_denied(lms: Lms) -> None:
    _third_party(lms)
    browser = lms.browser()
    page, start = _to_consent(lms, browser)
    assert page.status_code == 200 and "Allow Moodle to sign you in?" in page.text
    action = _consent_action(page.text)
    refused = browser.post(action, data={"decision": "allow"})  # no CSRF token
    assert refused.status_code == 400, refused.text
    denied = browser.post(action, data={"csrf_token": csrf_token(page.text), "decision": "deny"})
    assert denied.status_code == 302, denied.text
    query = parse_qs(urlsplit(denied.headers["Location"]).query)
    assert query["error"] == ["access_denied"] and query["state"] == [start["state"]]

    page, start = _to_consent(lms, browser)
    action = _consent_action(page.text)
    allowed = browser.post(action, data={"csrf_token": csrf_token(page.text), "decision": "allow"})
    tokens = lms.rp.ok("callback", url=allowed.headers["Location"])
    assert tokens["claims"]["email"] == "ada@partner.example"
    with lms.live.context() as session:
        assert session.scalar(select(IdpConsent.scopes)) == ["email", "openid", "profile"]
    # Asked once: the next sign-in of this browser goes straight back to the LMS.
    again = lms.rp.ok("authorize_url", redirect_uri=LMS_CALLBACK)
    answer = browser.http.get(again["url"], allow_redirects=False)
    assert answer.headers["Location"].startswith(LMS_CALLBACK)


def test_client_commands(lms: Lms) -> None:
    run = lambda *a: CliRunner().invoke(main, list(a), env=lms.live.env)  # noqa: E731
    added = run("client", "add", "Canvas", "--redirect-uri", "https://canvas.example.edu/login/oauth2/callback",
                "--post-logout-uri", "https://canvas.example.edu/logout")
    assert added.exit_code == 0, added.output
    secret = re.search(r"client_secret: (\S+)", added.output).group(1)
    listing = run("client", "list", "--json")
    assert secret not in listing.output
    rows = {r["name"]: r for r in json.loads(listing.output)}
    assert rows["Canvas"]["redirect_uris"] == ["https://canvas.example.edu/login/oauth2/callback"]
    rotated = run("client", "rotate-secret", "Canvas")
    assert rotated.exit_code == 0 and secret not in rotated.output
    bad = run("client", "add", "Evil", "--redirect-uri", "http://evil.example/cb")
    assert bad.exit_code != 0 and "https" in bad.output and "Traceback" not in bad.output
    assert run("client", "add", "Canvas", "--redirect-uri", "https://x.example/cb").exit_code != 0
    assert run("client", "remove", "Canvas").exit_code == 0
    assert "Canvas" not in {r["name"] for r in json.loads(run("client", "list", "--json").output)}


def test_disable_and_erase_handlers_delete_the_users_grants(lms: Lms) -> None:
    tokens = lms.sign_in()
    with lms.live.context() as session:
        user_id = session.scalar(select(User.id))
        assert session.scalar(select(func.count()).select_from(IdpToken)) == 1
    with lms.live.app.app_context():
        revocation.on_user_disabled(None, user_id=user_id)
    with lms.live.context() as session:
        assert session.scalar(select(func.count()).select_from(IdpToken)) == 0
    info = requests.get(f"{lms.live.url}/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 401


def test_deprovision_disable_ends_the_idp_grants_through_the_signal(lms: Lms) -> None:
    from hub import deprovision

    tokens = lms.sign_in()
    with lms.live.context() as session:
        deprovision.disable(session, session.scalar(select(User)), actor="test", reason="left the partner")
        session.commit()
        assert session.scalar(select(func.count()).select_from(IdpToken)) == 0
    refreshed = lms.rp.call("refresh", refresh_token=tokens["refresh_token"])
    assert not refreshed["ok"] and refreshed["code"] == "invalid_grant", refreshed
