"""LinkedIn sign-in end to end over HTTP through the LinkedIn sandbox."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from hub.models import Identity, User
from tests.live import Browser, LiveHub

NEW_ISSUER_USER, OLD_ISSUER_USER = "782bbtaQ", "Qx9Lm2Pe"


def test_linkedin_sign_in_creates_user_with_profile_and_identity(live: LiveHub) -> None:
    live.add_provider("linkedin")
    browser = Browser(live)
    answer = browser.sign_in("linkedin", user=NEW_ISSUER_USER, next="/account")
    assert answer.status_code == 302, answer.text
    assert answer.headers["Location"] == "/account"
    assert "linh@partner.example" in browser.get("/account").text
    with live.context() as session:
        user = session.scalar(select(User).where(User.email == "linh@partner.example"))
        assert user is not None and user.email_verified
        assert (user.name, user.given_name, user.family_name) == ("Linh Nguyen", "Linh", "Nguyen")
        assert user.picture == "https://media.licdn.com/dms/image/linh"
        identity = session.scalar(select(Identity).where(Identity.user_id == user.id))
        assert identity.provider == "linkedin" and identity.subject == NEW_ISSUER_USER
        assert identity.claims["iss"].endswith("/sandbox/linkedin/oauth")


def test_linkedin_accepts_the_old_issuer_too(live: LiveHub) -> None:
    live.add_provider("linkedin")
    answer = Browser(live).sign_in("linkedin", user=OLD_ISSUER_USER)
    assert answer.status_code == 302, answer.text
    with live.context() as session:
        identity = session.scalar(select(Identity).where(Identity.subject == OLD_ISSUER_USER))
        assert identity is not None
        assert identity.claims["iss"].endswith("/sandbox/linkedin")  # no /oauth: the pre-2024 value


def test_linkedin_refuses_any_other_issuer(live: LiveHub) -> None:
    live.add_provider("linkedin")
    live.sandboxes["linkedin"].faults.id_token_claims = lambda c: {**c, "iss": c["iss"] + "/evil"}
    try:
        answer = Browser(live).sign_in("linkedin", user=NEW_ISSUER_USER)
    finally:
        live.sandboxes["linkedin"].faults.id_token_claims = None
    assert answer.status_code == 400
    assert "ID token failed a check (iss)" in answer.text
    with live.context() as session:
        assert session.scalar(select(User)) is None


def test_linkedin_sends_no_pkce_and_uses_client_secret_post(live: LiveHub) -> None:
    live.add_provider("linkedin")
    sandbox = live.sandboxes["linkedin"]
    browser = Browser(live)
    start = browser.start_login("linkedin")
    query = parse_qs(urlsplit(start.headers["Location"]).query)
    assert "code_challenge" not in query and "code_challenge_method" not in query
    assert query["scope"] == ["openid profile email"]
    assert "w_member_social" not in query["scope"][0]  # sharing is asked for separately
    before = len(sandbox.client_auth_seen)
    callback = browser.pick_user(start.headers["Location"], NEW_ISSUER_USER)
    assert browser.http.get(callback, allow_redirects=False).status_code == 302
    assert sandbox.client_auth_seen[before:] == ["client_secret_post"]


def test_linkedin_sandbox_refuses_pkce_like_linkedin(live: LiveHub) -> None:
    """The sandbox must catch a client that sends a code_challenge, or the no-PKCE test proves nothing."""
    client_id = live.add_provider("linkedin")
    browser = Browser(live)
    redirect = f"{live.url}/auth/linkedin/callback"
    answer = browser.http.get(f"{live.url}/sandbox/linkedin/oauth/v2/authorization", allow_redirects=False, params={
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect, "scope": "openid",
        "state": "s", "code_challenge": "x" * 43, "code_challenge_method": "S256"})
    assert answer.status_code == 302
    assert "error=invalid_request" in answer.headers["Location"]
