"""Sign in with Slack end to end over HTTP through the Slack sandbox."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from hub import orgs
from hub.models import AuditEvent, Identity, Organisation, User
from tests.live import Browser, LiveHub

PARTNER_USER, OTHER_USER = "U0PARTNER01", "U0OTHER0002"
PARTNER_TEAM = "T0PARTNER1"


def test_slack_sign_in_creates_user_with_profile_and_identity(live: LiveHub) -> None:
    live.add_provider("slack")
    browser = Browser(live)
    start = browser.start_login("slack", next="/account")
    query = parse_qs(urlsplit(start.headers["Location"]).query)
    assert query["scope"] == ["openid profile email"]
    assert "code_challenge" not in query  # Slack documents no PKCE for Sign in with Slack
    answer = browser.http.get(browser.pick_user(start.headers["Location"], PARTNER_USER), allow_redirects=False)
    assert answer.status_code == 302, answer.text
    assert answer.headers["Location"] == "/account"
    with live.context() as session:
        user = session.scalar(select(User).where(User.email == "sam@partner.example"))
        assert user is not None and user.email_verified
        assert user.name == "Sam Slack" and user.picture == "https://secure.gravatar.com/avatar/sam.png"
        identity = session.scalar(select(Identity).where(Identity.user_id == user.id))
        assert identity.provider == "slack" and identity.subject == PARTNER_USER
        assert identity.claims["https://slack.com/team_id"] == PARTNER_TEAM


def test_slack_team_allow_list_refuses_other_workspaces_and_creates_nothing(live: LiveHub) -> None:
    live.add_provider("slack", team_allow=[PARTNER_TEAM])
    refused = Browser(live).sign_in("slack", user=OTHER_USER)
    assert refused.status_code == 400
    assert "Slack workspace is not allowed" in refused.text
    with live.context() as session:
        assert session.scalar(select(User)) is None
        assert session.scalar(select(Identity)) is None
        audit = session.scalar(select(AuditEvent).where(AuditEvent.reason == "team_not_allowed"))
        assert audit is not None and audit.outcome == "failure"
    allowed = Browser(live).sign_in("slack", user=PARTNER_USER)
    assert allowed.status_code == 302, allowed.text


def test_slack_team_maps_to_an_organisation(live: LiveHub) -> None:
    live.add_provider("slack")
    with live.context() as session:
        # The member's email domain is unknown to the hub: only the team claim can place them.
        org = orgs.add_org(session, "Partner Co", [], "open")
        session.flush()
        orgs.add_mapping(session, "slack", "team", PARTNER_TEAM, org, "slack-partners")
        session.commit()
    assert Browser(live).sign_in("slack", user=PARTNER_USER).status_code == 302
    assert Browser(live).sign_in("slack", user=OTHER_USER).status_code == 302
    with live.context() as session:
        partner = session.scalar(select(User).where(User.email == "sam@partner.example"))
        other = session.scalar(select(User).where(User.email == "olga@other.example"))
        assert partner.org is not None and partner.org.name == "Partner Co"
        assert partner.groups == ["slack-partners"]
        assert other.org is None and other.groups == []
        assert session.scalar(select(Organisation).where(Organisation.name == "Partner Co")) is not None


def test_slack_ok_false_token_error_gives_a_clear_error_page(live: LiveHub) -> None:
    client_id = live.add_provider("slack")
    sandbox = live.sandboxes["slack"]
    sandbox.register_client(client_id, "rotated-secret")  # the admin rotated the secret at Slack only
    before = sandbox.token_requests
    answer = Browser(live).sign_in("slack", user=PARTNER_USER)
    assert sandbox.token_requests == before + 1
    assert answer.status_code == 400
    assert "Slack refused to finish the sign-in (bad_client_secret)" in answer.text
    with live.context() as session:
        assert session.scalar(select(User)) is None
        assert session.scalar(select(AuditEvent).where(AuditEvent.reason == "token_refused")) is not None


def test_slack_sandbox_answers_token_errors_like_slack(live: LiveHub) -> None:
    """HTTP 200 with ok:false, as Slack's Web API does; the provider test above relies on it."""
    import requests

    client_id = live.add_provider("slack")
    answer = requests.post(f"{live.url}/sandbox/slack/api/openid.connect.token", timeout=5, data={
        "grant_type": "authorization_code", "code": "nope", "client_id": client_id,
        "client_secret": "sandbox-secret"})
    assert answer.status_code == 200
    assert answer.json() == {"ok": False, "error": "invalid_code"}
