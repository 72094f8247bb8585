"""LinkedIn token refresh against the LinkedIn sandbox: refresh tokens only for approved apps, client_secret_post."""
from __future__ import annotations

import pytest

from providers.base import AuthExpired, Permanent, Post, Target
from providers.linkedin.publish import LinkedInPublisher
from tests.providers.posting import LINKEDIN_SUB, PostingHosts

CLIENT, SECRET = "hub-linkedin-app", "hub-linkedin-secret"
POST = Post("Linh completed Data", None, None, None, "hub-l01")


def publisher(hosts: PostingHosts, *, approved: bool = True) -> LinkedInPublisher:
    """The LinkedIn publisher as the hub builds it: the sign-in app's credentials and issuer, pointed at the sandbox."""
    sandbox = hosts.sandboxes["linkedin"]
    sandbox.register_client(CLIENT, SECRET)
    if approved:
        sandbox.approve_refresh_tokens(CLIENT)
    made = hosts.publisher("linkedin", client_id=CLIENT, client_secret=SECRET,
                           issuer=hosts.base("linkedin") + "/oauth")
    assert isinstance(made, LinkedInPublisher)
    return made


def test_an_expired_token_is_auth_expired(hosts: PostingHosts) -> None:
    linkedin = publisher(hosts)
    tokens = hosts.sandboxes["linkedin"].issue_tokens(CLIENT, LINKEDIN_SUB)
    hosts.sandboxes["linkedin"].expire(tokens["access_token"])
    with pytest.raises(AuthExpired):
        linkedin.publish(Target("me", tokens, account_id=LINKEDIN_SUB), POST)
    assert hosts.sandboxes["linkedin"].posts == []


def test_an_approved_apps_refresh_token_gives_a_new_access_token_and_stays(hosts: PostingHosts) -> None:
    linkedin, sandbox = publisher(hosts), hosts.sandboxes["linkedin"]
    old = sandbox.issue_tokens(CLIENT, LINKEDIN_SUB)
    sandbox.expire(old["access_token"])
    sandbox.client_auth_seen.clear()
    fresh = linkedin.refresh(old)
    assert sandbox.refresh_hits == 1 and sandbox.client_auth_seen == ["client_secret_post"]
    assert fresh["access_token"] != old["access_token"] and fresh["refresh_token"] == old["refresh_token"]
    assert 0 < fresh["refresh_token_expires_in"] <= old["refresh_token_expires_in"]
    linkedin.publish(Target("me", fresh, account_id=LINKEDIN_SUB), POST)
    assert len(sandbox.posts) == 1


def test_without_a_refresh_token_the_learner_must_reconnect(hosts: PostingHosts) -> None:
    linkedin, sandbox = publisher(hosts, approved=False), hosts.sandboxes["linkedin"]
    tokens = sandbox.issue_tokens(CLIENT, LINKEDIN_SUB)
    assert "refresh_token" not in tokens  # not an approved partner: LinkedIn gives none
    with pytest.raises(Permanent, match="approved partners: reconnect the account"):
        linkedin.refresh(tokens)
    assert sandbox.refresh_hits == 0


def test_a_revoked_refresh_token_is_permanent(hosts: PostingHosts) -> None:
    linkedin, sandbox = publisher(hosts), hosts.sandboxes["linkedin"]
    tokens = sandbox.issue_tokens(CLIENT, LINKEDIN_SUB)
    sandbox.refresh_tokens.pop(tokens["refresh_token"])
    with pytest.raises(Permanent, match=r"LinkedIn refused the refresh token \(invalid_grant\): reconnect"):
        linkedin.refresh(tokens)


def test_the_token_endpoint_follows_the_issuer(hosts: PostingHosts) -> None:
    from providers.base import ProviderSettings

    for issuer in (None, "https://www.linkedin.com/oauth", "https://www.linkedin.com"):
        settings = ProviderSettings(name="linkedin", client_id="id", client_secret="s", issuer=issuer)
        assert LinkedInPublisher(settings).token_url() == "https://www.linkedin.com/oauth/v2/accessToken"
    assert publisher(hosts).token_url() == hosts.base("linkedin") + "/oauth/v2/accessToken"
