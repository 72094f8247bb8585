"""Viva Engage organisation posts (issue 14): Yammer takes delegated tokens only (Graph cannot post), so an
organisation's community posts go out as its connected service account. Over HTTP through the HTTPS Microsoft
sandbox: an organisation admin connects the service account (/connect/yammer?as=org), a `yammer:org:<group>` rule
posts a learner's completion with that organisation connection (no learner connection needed, the name only with
the learner's consent); a learner cannot connect for the organisation."""
from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from hub import orgs, redirect_uris, tenancy
from hub.demo import tls
from hub.models import Connection, Consent, Delivery, Organisation, User
from tests.auth.helpers import add_sandbox_user
from tests.live import Browser, LiveHub
from tests.sharing.test_share import ADA, plan_and_send, sign_in

MEGAN = "contoso-megan"  # the Microsoft sandbox user the organisation uses as its service account
MEGAN_OID = "3f7a2b9c-1d4e-4f5a-8b6c-7d8e9f0a1b2c"
GROUP = "123456"  # a Yammer group Megan belongs to
LEARNER = "tenancy-learner-yammer"


@pytest.fixture
def hub_env(hub_env: dict[str, str], tls_files: tls.TLSFiles) -> dict[str, str]:
    """The hub trusts the CA of the HTTPS Microsoft sandbox (msal refuses http authorities)."""
    return {**hub_env, "HUB_CA_BUNDLE": str(tls_files.ca)}


@pytest.fixture
def hub(live: LiveHub, add_microsoft: Callable[..., str]) -> LiveHub:
    """Google to sign in; the Microsoft app (which Viva Engage connects through) registered as the hub prints it; an
    organisation for partner.example whose member Ada is its admin."""
    live.add_provider("google")
    client_id = add_microsoft()
    uris = [uri.url for uri in redirect_uris.for_provider(live.url, "microsoft", "microsoft")]
    live.sandboxes["microsoft"].register_client(client_id, "sandbox-secret", uris)
    with live.context() as session:
        orgs.add_org(session, "Partner Co", ["partner.example"], "open")
        session.commit()
    return live


def _connect(browser: Browser, href: str, user: str) -> Any:
    start = browser.get(href)
    assert start.status_code == 302, start.text
    callback = browser.pick_user(start.headers["Location"], user)
    return browser.http.get(callback, allow_redirects=False)


def _org_admin(hub: LiveHub) -> tuple[Browser, int]:
    browser, user_id = sign_in(hub, ADA)
    with hub.context() as session:
        user = session.get(User, user_id)
        org = session.scalar(select(Organisation).where(Organisation.name == "Partner Co"))
        assert user is not None and org is not None and user.org_id == org.id
        tenancy.set_org_admin(session, user, org, grant=True)
        session.commit()
        return browser, org.id


def _learner(hub: LiveHub) -> tuple[Browser, int]:
    add_sandbox_user(hub, "google", sub=LEARNER, email="lin@partner.example", email_verified=True, name="Lin Learner")
    return sign_in(hub, LEARNER)


def test_the_service_account_connected_by_an_org_admin_posts_the_organisations_community_posts(hub: LiveHub) -> None:
    admin, org_id = _org_admin(hub)
    page = html.unescape(admin.get("/account").text)
    assert 'href="/connect/yammer?as=org"' in page and "service account of Partner Co" in page
    answer = _connect(admin, "/connect/yammer?as=org", MEGAN)
    assert answer.status_code == 302, answer.text
    with hub.context() as session:
        [row] = session.scalars(select(Connection).where(Connection.kind == "yammer")).all()
        assert (row.user_id, row.org_id) == (None, org_id)  # the organisation's, not the admin's own

    _, learner_id = _learner(hub)  # no Viva Engage account of their own, no consent asked
    delivery_id = plan_and_send(hub, learner_id, f"yammer:org:{GROUP}", external_id="evt-org-yammer")
    with hub.context() as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None and delivery.status == "sent", delivery and delivery.last_error
    [message] = hub.sandboxes["microsoft"].yammer.group_messages(GROUP)[-1:]
    assert message["sender_id"] == MEGAN_OID  # posted as the service account
    assert message["body"]["plain"].startswith("A learner completed Security Basics")  # named only with consent
    assert "Lin" not in message["body"]["plain"]


def test_a_learners_own_yammer_rule_still_needs_their_own_connection(hub: LiveHub) -> None:
    admin, _ = _org_admin(hub)
    assert _connect(admin, "/connect/yammer?as=org", MEGAN).status_code == 302
    _, learner_id = _learner(hub)
    with hub.context() as session:  # the learner says "always", yet has no Viva Engage account connected
        session.add(Consent(user_id=learner_id, destination_kind="yammer", choice="always", text_version="v1"))
        session.commit()
    delivery_id = plan_and_send(hub, learner_id, f"yammer:{GROUP}", external_id="evt-own-yammer")
    with hub.context() as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None and delivery.status == "skipped"
        assert delivery.last_error == "no yammer connection (the learner's) to post with"  # never the org's


def test_a_learner_cannot_connect_for_the_organisation_and_other_kinds_have_no_org_accounts(hub: LiveHub) -> None:
    learner, _ = _learner(hub)
    assert learner.get("/connect/yammer?as=org").status_code == 403
    assert "service account" not in learner.get("/account").text
    hub.add_provider("linkedin")
    refused = learner.get("/connect/linkedin?as=org")
    assert refused.status_code == 400 and "cannot be connected for an organisation" in refused.text
    with hub.context() as session:
        assert session.scalars(select(Connection)).all() == []
