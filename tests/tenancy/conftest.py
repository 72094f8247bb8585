"""Two organisations behind their walls: each with an organisation admin (signed in), learners, a SCIM token,
an LMS source, a rule, an organisation connection, a tile, a delivery, an invitation, a claim mapping and an audit
row. The tenancy tests try every route and CLI path of one side against the other's objects."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from hub import orgs, sources, tenancy, tokens
from hub.models import AuditEvent, ClaimMapping, Connection, Delivery, Invite, User
from hub.sharing import rules
from hub.tiles import store
from tests.auth.helpers import add_sandbox_user
from tests.live import Browser, LiveHub

HUB_ADMIN = "110169484474386276337"  # admin@hub.example, in HUB_ADMIN_EMAILS (the google sandbox's user)


@dataclass
class Side:
    """One organisation and everything it owns; ids are what the other side will try to reach."""

    key: str  # "a" or "b"
    org_id: int
    org_name: str
    domain: str
    admin_email: str
    admin_id: int
    admin: Browser
    learner_id: int
    learner_email: str
    pending_id: int  # a user waiting for approval
    scim_token: str
    source_name: str
    source_secret: str
    rule_id: int
    connection_id: int
    tile_id: int
    delivery_id: int
    invite_id: int
    mapping_id: int
    audit_ref: str
    extra: dict[str, int] = field(default_factory=dict)


@dataclass
class Wall:
    live: LiveHub
    a: Side
    b: Side
    hub_admin: Browser


def _side(live: LiveHub, key: str) -> Side:
    name, domain = f"Org {key.upper()}", f"{key}.example"
    admin_email, admin_sub = f"admin-{key}@{domain}", f"tenancy-admin-{key}"
    add_sandbox_user(live, "google", sub=admin_sub, email=admin_email, email_verified=True,
                     name=f"Admin {key.upper()}")
    vault = live.app.extensions["vault"]
    with live.context() as session:
        org = orgs.add_org(session, name, [domain], "open")
        session.flush()
        admin = User(email=admin_email, email_verified=True, name=f"Admin {key.upper()}", org_id=org.id, groups=[])
        learner = User(email=f"learner-{key}@{domain}", email_verified=True, name=f"Learner {key.upper()}",
                       org_id=org.id, groups=[])
        pending = User(email=f"pending-{key}@{domain}", email_verified=True, name=f"Pending {key.upper()}",
                       org_id=org.id, groups=[], status="pending")
        session.add_all([admin, learner, pending])
        session.flush()
        tenancy.set_org_admin(session, admin, org, grant=True)
        token = tokens.create(session, scope="scim", name=f"lms-{key}", home_page=f"https://lms-{key}.example",
                              orgs=[org])
        source, secret = sources.add_source(session, vault, f"lms-{key}", orgs=[org])
        rule = rules.add_rule(session, org_id=org.id, event_type="course.completed", destination="slack:#wins")
        connection = Connection(kind="slack", org_id=org.id, user_id=None, remote_id=f"workspace-{key}", scopes=[],
                                tokens_sealed="")
        session.add(connection)
        session.flush()
        connection.tokens_sealed = vault.seal(json.dumps({"access_token": f"xoxb-{key}"}), connection.seal_context)
        tile = store.create_tile(session, kind="rss", title=f"News {key.upper()}",
                                 address=f"https://news.{domain}/feed.xml", org_id=org.id, audience=[org.id])
        delivery = Delivery(key=f"tenancy:{key}", org_id=org.id, user_id=learner.id, destination="slack:#wins",
                            status="dead", text=f"Learner {key.upper()} completed a course", last_error="test")
        session.add(delivery)
        orgs.create_invite(session, org, days=7, email=f"friend@{domain}")
        invite = session.query(Invite).filter_by(org_id=org.id).one()
        orgs.add_mapping(session, "google", "hd", domain, org, None)
        session.flush()
        mapping_id = session.query(ClaimMapping).filter_by(org_id=org.id).one().id
        audit_ref = f"tenancy{key}00000"
        session.add(AuditEvent(ref=audit_ref, action="test.tenancy", outcome="success", org_id=org.id,
                               at=datetime.now(UTC) - timedelta(minutes=1), detail={}))
        session.commit()
        ids = {"org_id": org.id, "admin_id": admin.id, "learner_id": learner.id, "pending_id": pending.id,
               "rule_id": rule.id, "connection_id": connection.id, "tile_id": tile.id, "delivery_id": delivery.id,
               "invite_id": invite.id, "mapping_id": mapping_id}
    browser = Browser(live)
    answer = browser.sign_in("google", user=admin_sub)
    assert answer.status_code == 302, answer.text
    return Side(key=key, org_name=name, domain=domain, admin_email=admin_email, admin=browser,
                learner_email=f"learner-{key}@{domain}", scim_token=token.secret, source_name=f"lms-{key}",
                source_secret=secret, audit_ref=audit_ref, **ids)


@pytest.fixture
def wall(live: LiveHub) -> Wall:
    """Org A and Org B, each fully furnished, and a signed-in hub admin."""
    live.add_provider("google")
    a, b = _side(live, "a"), _side(live, "b")
    hub_admin = Browser(live)
    assert hub_admin.sign_in("google", user=HUB_ADMIN).status_code == 302
    return Wall(live=live, a=a, b=b, hub_admin=hub_admin)
