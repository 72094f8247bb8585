"""Facebook Login end to end over HTTP through the Facebook sandbox."""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from hub.models import Identity, MailMessage, PendingSignup, User
from providers.facebook import GRAPH_VERSION
from tests.live import Browser, LiveHub, csrf_token

WITH_EMAIL, WITHOUT_EMAIL = "10229876543210001", "10229876543210002"


def confirm_by_mail(live: LiveHub, browser: Browser, email: str) -> str:
    """Name an email on /auth/email, open the one-time link from the outbox, confirm; returns the redirect."""
    form = browser.get("/auth/email")
    assert form.status_code == 200, form.text
    sent = browser.post("/auth/email", data={"email": email, "csrf_token": csrf_token(form.text)})
    assert sent.status_code == 200 and "We sent a link" in sent.text
    with live.context() as session:
        message = session.scalar(select(MailMessage).where(MailMessage.to == email))
        link = re.search(r"(/auth/confirm/\S+)", message.body).group(1)
    page = browser.get(link)
    assert page.status_code == 200, page.text
    done = browser.post(link, data={"csrf_token": csrf_token(page.text)})
    assert done.status_code == 302, done.text
    return done.headers["Location"]


def test_facebook_sign_in_uses_pinned_version_pkce_and_creates_user(live: LiveHub) -> None:
    live.add_provider("facebook", trust_email=True)
    sandbox = live.sandboxes["facebook"]
    browser = Browser(live)
    start = browser.start_login("facebook", next="/account")
    authorize = urlsplit(start.headers["Location"])
    assert authorize.path.endswith(f"/{GRAPH_VERSION}/dialog/oauth")
    query = parse_qs(authorize.query)
    assert query["scope"] == ["public_profile,email"]
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    answer = browser.http.get(browser.pick_user(start.headers["Location"], WITH_EMAIL), allow_redirects=False)
    assert answer.status_code == 302, answer.text
    assert answer.headers["Location"] == "/account"
    profile_call = urlsplit(sandbox.profile_requests[-1])
    assert profile_call.path.endswith(f"/{GRAPH_VERSION}/me")
    assert parse_qs(profile_call.query)["fields"] == ["id,name,email,picture"]
    assert "access_token" not in parse_qs(profile_call.query)  # sent as a header, kept out of URLs
    with live.context() as session:
        user = session.scalar(select(User).where(User.email == "fatima@mail.example"))
        assert user is not None and user.email_verified and user.name == "Fatima Facebook"
        assert user.picture.startswith("https://platform-lookaside.fbsbx.com/")
        identity = session.scalar(select(Identity).where(Identity.user_id == user.id))
        assert identity.provider == "facebook" and identity.subject == WITH_EMAIL


def test_facebook_email_is_confirmed_by_the_user_unless_trusted(live: LiveHub) -> None:
    live.add_provider("facebook")
    browser = Browser(live)
    answer = browser.sign_in("facebook", user=WITH_EMAIL, next="/account")
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/auth/email")
    with live.context() as session:
        assert session.scalar(select(User)) is None
    assert confirm_by_mail(live, browser, "fatima@mail.example") == "/account"
    with live.context() as session:
        user = session.scalar(select(User).where(User.email == "fatima@mail.example"))
        assert user is not None and user.email_verified


def test_facebook_user_without_email_confirms_one_before_anything_is_created(live: LiveHub) -> None:
    live.add_provider("facebook", trust_email="true")  # as `hub provider add --option trust_email=true` stores it
    browser = Browser(live)
    answer = browser.sign_in("facebook", user=WITHOUT_EMAIL, next="/account")
    assert answer.status_code == 302, answer.text
    assert answer.headers["Location"].endswith("/auth/email")
    with live.context() as session:
        assert session.scalar(select(User)) is None
        assert session.scalar(select(Identity)) is None
        signup = session.scalar(select(PendingSignup))
        assert signup is not None and signup.subject == WITHOUT_EMAIL
        assert "10229876543210002" not in (signup.payload_sealed or "")  # the parked sign-in is sealed
    assert confirm_by_mail(live, browser, "pedro@phone.example") == "/account"
    with live.context() as session:
        user = session.scalar(select(User).where(User.email == "pedro@phone.example"))
        assert user is not None and user.email_verified and user.name == "Pedro Phone"
        identity = session.scalar(select(Identity).where(Identity.user_id == user.id))
        assert identity.subject == WITHOUT_EMAIL and identity.email is None


def test_facebook_pkce_can_be_turned_off_from_the_command_line(live: LiveHub) -> None:
    live.add_provider("facebook", pkce="false", trust_email="false")
    browser = Browser(live)
    start = browser.start_login("facebook")
    assert "code_challenge" not in parse_qs(urlsplit(start.headers["Location"]).query)
    answer = browser.http.get(browser.pick_user(start.headers["Location"], WITH_EMAIL), allow_redirects=False)
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/auth/email")  # "false" is false


def test_facebook_graph_error_body_gives_a_clear_error_page(live: LiveHub) -> None:
    client_id = live.add_provider("facebook")
    live.sandboxes["facebook"].register_client(client_id, "rotated-secret")
    answer = Browser(live).sign_in("facebook", user=WITH_EMAIL)
    assert answer.status_code == 400
    assert "Facebook refused to finish the sign-in (OAuthException 1" in answer.text
    with live.context() as session:
        assert session.scalar(select(User)) is None


def test_facebook_sandbox_serves_only_the_pinned_version(live: LiveHub) -> None:
    client_id = live.add_provider("facebook")
    browser = Browser(live)
    other = browser.http.get(f"{live.url}/sandbox/facebook/v19.0/dialog/oauth", params={
        "client_id": client_id, "response_type": "code"})
    assert other.status_code == 404
    bad_token = browser.http.get(f"{live.url}/sandbox/facebook/{GRAPH_VERSION}/me",
                                 headers={"Authorization": "Bearer nope"})
    assert bad_token.status_code == 400
    error = bad_token.json()["error"]
    assert error["type"] == "OAuthException" and error["code"] == 190 and error["fbtrace_id"]
