"""Sign-in under hub/emails.py, the policy SCIM and the LMS events use: a provider's verified directory address on a
reserved name (test.user@okta.local) links and places like any other; a claim that is not an address counts as no
email, so the user is asked for one rather than stored with it."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from hub.models import Identity, User
from tests.auth.helpers import callback_url, counts
from tests.live import Browser, LiveHub


def oidc_user(live: LiveHub, email: str) -> str:
    """The generic OIDC sandbox of this hub signs in one user with `email`, verified (a list of this app's own)."""
    live.add_provider("oidc")
    person: dict[str, Any] = {"sub": "okta-00ujl29u0le5T6Aj10h7", "email": email, "email_verified": True,
                              "name": "Test User"}
    live.sandboxes["oidc"].users = [person]
    return person["sub"]


def test_a_verified_directory_address_claims_the_account_scim_made(live: LiveHub) -> None:
    with live.context() as session:  # pre-provisioned, as Okta's SCIM push leaves it
        session.add(User(email="test.user@okta.local", email_verified=True, email_from_scim=True))
        session.commit()
    subject = oidc_user(live, "Test.User@okta.LOCAL")
    browser = Browser(live)
    answer = browser.http.get(callback_url(browser, "oidc", subject, next="/account"), allow_redirects=False)
    assert answer.status_code == 302 and answer.headers["Location"] == "/account", answer.text
    assert counts(live) == (1, 1)
    with live.context() as session:
        identity = session.scalar(select(Identity))
        assert identity.user.email == "test.user@okta.local" and identity.subject == subject


def test_a_provider_email_that_is_not_an_address_counts_as_none(live: LiveHub) -> None:
    subject = oidc_user(live, "test user@okta.local")
    browser = Browser(live)
    answer = browser.http.get(callback_url(browser, "oidc", subject), allow_redirects=False)
    assert answer.status_code == 302 and answer.headers["Location"] == "/auth/email", answer.text
    assert counts(live) == (0, 0)
