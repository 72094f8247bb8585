"""Google sign-in end to end over HTTP through the Google sandbox."""
from __future__ import annotations

from sqlalchemy import select

from hub.models import Identity, User
from tests.live import Browser, LiveHub


def test_google_sign_in_creates_user_and_session(live: LiveHub) -> None:
    live.add_provider("google")
    browser = Browser(live)
    answer = browser.sign_in("google", user="110169484474386276334", next="/account")
    assert answer.status_code == 302, answer.text
    assert answer.headers["Location"] == "/account"
    account = browser.get("/account")
    assert account.status_code == 200
    assert "ada@partner.example" in account.text
    with live.context() as session:
        user = session.scalar(select(User).where(User.email == "ada@partner.example"))
        assert user is not None and user.email_verified and user.name == "Ada Lovelace"
        identity = session.scalar(select(Identity).where(Identity.user_id == user.id))
        assert identity.provider == "google" and identity.subject == "110169484474386276334"
        assert identity.tokens_sealed and "access_token" not in identity.tokens_sealed


def test_google_hd_allow_list_is_checked_in_the_token(live: LiveHub) -> None:
    live.add_provider("google", hd_allow=["partner.example"])
    browser = Browser(live)
    refused = browser.sign_in("google", user="110169484474386276335")  # a gmail account: no hd claim
    assert refused.status_code == 400
    assert "Workspace domain" in refused.text
    with live.context() as session:
        assert session.scalar(select(User)) is None
    allowed = Browser(live).sign_in("google", user="110169484474386276334")
    assert allowed.status_code == 302
