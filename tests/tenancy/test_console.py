"""The admin console behind the walls: an organisation admin reaches only their organisation.

One table (CASES) names a request for every route of the admin blueprint, built from a side's ids. Organisation
admin A tries each with B's ids and with hub-level objects: 404, and the database and the queue are unchanged. A
tries each on A's own objects: it works and the change is made, except hub-level pages (404 whatever the ids). A
route added to the blueprint without a row here fails test_every_console_route_is_in_the_table.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import func, select

from hub import redis_conn
from hub.admin.access import CONSOLE_DOOR, HUB_DOOR
from hub.models import (
    AuditEvent,
    Base,
    ClaimMapping,
    Delivery,
    DeprovisioningHold,
    Invite,
    OrgAdmin,
    Organisation,
    ProviderConfig,
    Rule,
    Tile,
    TileAudience,
    User,
)
from hub.sharing import rules
from hub.tiles import store
from tests.live import Browser, LiveHub, csrf_token
from tests.tenancy.conftest import Wall

Target = Any  # a Side, or the hub-level objects (same attribute names)
OBJECT, HUB_LEVEL, PAGE = "object", "hub", "page"  # ids in the request; hub admins only; no ids at all


def _user(live: LiveHub, user_id: int) -> User:
    with live.context() as session:
        user = session.get(User, user_id)
        session.expunge(user)
        return user


def _count(live: LiveHub, model: type, *where: Any) -> int:
    with live.context() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def _tile_form(t: Target, **fields: Any) -> dict[str, Any]:
    return {"kind": "rss", "title": f"News {t.key.upper()}", "address": f"https://news.{t.domain}/feed.xml",
            "org_id": str(t.org_id), "refresh_seconds": "", "max_items": "10", "enabled": "on",
            "audience": [str(t.org_id)], **fields}


@dataclass(frozen=True)
class Case:
    """One request of the console, built from a target's ids, and how to tell that it did its work."""

    endpoint: str
    method: str
    kind: str  # OBJECT, HUB_LEVEL or PAGE
    path: Callable[[Target], str]
    form: Callable[[Target], dict[str, Any]] = lambda t: {}
    status: int = 200  # on one's own objects
    made: Callable[[LiveHub, Target], bool] | None = None  # on one's own objects: the change is there
    label: str = ""

    @property
    def name(self) -> str:
        return f"{self.method} {self.endpoint}{' ' + self.label if self.label else ''}"


# In the order they run on one's own side (deletion last). Every admin route is here.
CASES = [
    Case("admin.home", "GET", PAGE, lambda t: "/admin", status=302),
    Case("admin.providers", "GET", HUB_LEVEL, lambda t: "/admin/providers"),
    Case("admin.provider_add", "POST", HUB_LEVEL, lambda t: "/admin/providers",
         lambda t: {"name": f"intruder-{t.key}", "kind": "google", "client_id": "c", "client_secret": "s"}, 303,
         lambda live, t: _count(live, ProviderConfig, ProviderConfig.name == f"intruder-{t.key}") == 1),
    Case("admin.provider_switch", "POST", HUB_LEVEL, lambda t: "/admin/providers/google/disable", status=303,
         made=lambda live, t: _count(live, ProviderConfig, ProviderConfig.enabled.is_(False)) == 1),
    Case("admin.orgs_page", "GET", PAGE, lambda t: "/admin/orgs"),
    Case("admin.org_add", "POST", HUB_LEVEL, lambda t: "/admin/orgs",
         lambda t: {"name": f"Intruders {t.key}", "domains": f"intruders.{t.domain}", "policy": "open"}, 303,
         lambda live, t: _count(live, Organisation, Organisation.name == f"Intruders {t.key}") == 1),
    Case("admin.org_detail", "GET", OBJECT, lambda t: f"/admin/orgs/{t.org_id}"),
    Case("admin.org_policy", "POST", OBJECT, lambda t: f"/admin/orgs/{t.org_id}/policy",
         lambda t: {"policy": "approval"}, 303,
         lambda live, t: _count(live, Organisation, Organisation.id == t.org_id,
                                Organisation.policy == "approval") == 1),
    Case("admin.invite_create", "POST", OBJECT, lambda t: f"/admin/orgs/{t.org_id}/invites",
         lambda t: {"days": "7", "email": ""}, 200,
         lambda live, t: _count(live, Invite, Invite.org_id == t.org_id) == 2),
    Case("admin.mapping_add", "POST", OBJECT, lambda t: "/admin/mappings",
         lambda t: {"provider": "google", "claim": "hd", "value": f"new.{t.domain}", "org": str(t.org_id)}, 303,
         lambda live, t: _count(live, ClaimMapping, ClaimMapping.value == f"new.{t.domain}",
                                ClaimMapping.org_id == t.org_id) == 1),
    Case("admin.approvals", "GET", PAGE, lambda t: "/admin/approvals"),
    Case("admin.users", "GET", PAGE, lambda t: "/admin/users"),
    Case("admin.user_detail", "GET", OBJECT, lambda t: f"/admin/users/{t.learner_id}"),
    Case("admin.user_action", "POST", OBJECT, lambda t: f"/admin/users/{t.pending_id}/approve", status=303,
         made=lambda live, t: _user(live, t.pending_id).status == "active", label="approve"),
    Case("admin.user_action", "POST", OBJECT, lambda t: f"/admin/users/{t.extra['spare']}/reject", status=303,
         made=lambda live, t: _user(live, t.extra["spare"]).status == "disabled", label="reject"),
    Case("admin.user_action", "POST", OBJECT, lambda t: f"/admin/users/{t.learner_id}/disable", status=303,
         made=lambda live, t: _user(live, t.learner_id).status == "disabled", label="disable"),
    Case("admin.user_action", "POST", OBJECT, lambda t: f"/admin/users/{t.learner_id}/enable", status=303,
         made=lambda live, t: _user(live, t.learner_id).status == "active", label="enable"),
    Case("admin.user_action", "POST", HUB_LEVEL, lambda t: f"/admin/users/{t.learner_id}/grant-admin", status=303,
         made=lambda live, t: _user(live, t.learner_id).is_admin, label="grant-admin"),
    Case("admin.user_action", "POST", HUB_LEVEL, lambda t: f"/admin/users/{t.learner_id}/revoke-admin", status=303,
         made=lambda live, t: not _user(live, t.learner_id).is_admin, label="revoke-admin"),
    Case("admin.rules_page", "GET", PAGE, lambda t: "/admin/rules"),
    Case("admin.rule_add", "POST", OBJECT, lambda t: "/admin/rules",
         lambda t: {"org": str(t.org_id), "event_type": "course.completed", "destination": f"slack:#new-{t.key}",
                    "mode": "immediate", "action": "add"}, 303,
         lambda live, t: _count(live, Rule, Rule.destination == f"slack:#new-{t.key}", Rule.org_id == t.org_id) == 1),
    Case("admin.deliveries", "GET", PAGE, lambda t: "/admin/deliveries"),
    Case("admin.delivery_retry", "POST", OBJECT, lambda t: f"/admin/deliveries/{t.delivery_id}/retry", status=303,
         made=lambda live, t: _count(live, Delivery, Delivery.id == t.delivery_id, Delivery.status == "pending") == 1),
    Case("admin.tiles_page", "GET", PAGE, lambda t: "/admin/tiles"),
    Case("admin.tile_add", "POST", OBJECT, lambda t: "/admin/tiles",
         lambda t: _tile_form(t, title=f"Added {t.key.upper()}", address=f"https://news.{t.domain}/added.xml",
                              audience=[]), 303,
         lambda live, t: _count(live, Tile, Tile.title == f"Added {t.key.upper()}", Tile.org_id == t.org_id) == 1),
    Case("admin.tile_edit", "GET", OBJECT, lambda t: f"/admin/tiles/{t.tile_id}"),
    Case("admin.tile_save", "POST", OBJECT, lambda t: f"/admin/tiles/{t.tile_id}",
         lambda t: _tile_form(t, title=f"Renamed {t.key.upper()}"), 303,
         lambda live, t: _count(live, Tile, Tile.id == t.tile_id, Tile.title == f"Renamed {t.key.upper()}") == 1),
    # Through the organisation's Slack connection: another's must never be read, even for a preview.
    Case("admin.tile_preview", "POST", OBJECT, lambda t: "/admin/tiles/preview",
         lambda t: _tile_form(t, kind="slack:channel", address="#wins")),
    Case("admin.tile_preview_blank", "GET", PAGE, lambda t: "/admin/tiles/preview"),
    Case("admin.tile_fragment", "GET", OBJECT, lambda t: f"/admin/tiles/{t.tile_id}/fragment"),
    Case("admin.tile_refresh", "POST", OBJECT, lambda t: f"/admin/tiles/{t.tile_id}/refresh", status=303,
         made=lambda live, t: _count(live, AuditEvent, AuditEvent.action == "tile.refresh",
                                     AuditEvent.org_id == t.org_id, AuditEvent.outcome == "success") == 1),
    Case("admin.tile_delete_confirm", "GET", OBJECT, lambda t: f"/admin/tiles/{t.tile_id}/delete"),
    Case("admin.tile_delete", "POST", OBJECT, lambda t: f"/admin/tiles/{t.tile_id}/delete", status=303,
         made=lambda live, t: _count(live, Tile, Tile.id == t.tile_id) == 0),
    Case("admin.audit_log", "GET", PAGE, lambda t: "/admin/audit"),
    Case("admin.held_deactivations", "GET", PAGE, lambda t: "/admin/deprovisioning"),
    Case("admin.decide_held", "POST", OBJECT, lambda t: f"/admin/deprovisioning/{t.extra['hold']}/reject",
         status=303, made=lambda live, t: _count(live, DeprovisioningHold, DeprovisioningHold.id == t.extra["hold"],
                                                 DeprovisioningHold.status == "rejected") == 1),
    Case("admin.decide_held_in_org", "POST", OBJECT, lambda t: f"/admin/orgs/{t.org_id}/deprovisioning/confirm",
         status=303, made=lambda live, t: _count(live, DeprovisioningHold, DeprovisioningHold.org_id == t.org_id,
                                                 DeprovisioningHold.status == "confirmed") == 1),
]


def _request(browser: Browser, case: Case, target: Target) -> Any:
    if case.method == "GET":
        return browser.get(case.path(target))
    token = csrf_token(browser.get("/account").text)
    return browser.post(case.path(target), data={"csrf_token": token, **case.form(target)})


def _snapshot(live: LiveHub) -> dict[str, Any]:
    """Every row of every table (but the session records a request touches) and every Redis key."""
    with live.context() as session:
        rows = {table.name: sorted(repr(tuple(row)) for row in session.execute(select(table)))
                for table in Base.metadata.sorted_tables if table.name != "user_sessions"}
    rows["redis"] = sorted(redis_conn_keys(live))
    return rows


def redis_conn_keys(live: LiveHub) -> list[bytes]:
    with live.app.app_context():
        return list(redis_conn.get().keys("*"))


def _spare_pending(live: LiveHub, org_id: int | None, email: str) -> int:
    with live.context() as session:
        user = User(email=email, email_verified=True, org_id=org_id, groups=[], status="pending")
        session.add(user)
        session.commit()
        return user.id


@pytest.fixture
def beyond(wall: Wall) -> SimpleNamespace:
    """Objects no organisation admin reaches: an organisation without admins (C), and hub-level objects of no
    organisation (a user, a pending user, a rule for every organisation, a public tile, a delivery)."""
    live = wall.live
    with live.context() as session:
        org_c = Organisation(name="Org C", policy="open")
        session.add(org_c)
        session.flush()
        loner = User(email="loner@nowhere.example", email_verified=True, groups=[])
        session.add(loner)
        session.flush()
        rule = rules.add_rule(session, org_id=None, event_type="course.completed", destination="slack:#all")
        tile = store.create_tile(session, kind="rss", title="Public news", address="https://public.example/feed.xml")
        delivery = Delivery(key="tenancy:hub", org_id=None, user_id=loner.id, destination="webhook:https://x.example",
                            status="dead", text="Loner completed a course", last_error="test")
        session.add(delivery)
        admin_id = session.scalar(select(User.id).where(User.email == "admin@hub.example"))
        session.commit()
        ids = {"org_id": org_c.id, "learner_id": loner.id, "rule_id": rule.id, "tile_id": tile.id,
               "delivery_id": delivery.id, "admin_id": admin_id}
    pending = _spare_pending(live, None, "waiting@nowhere.example")
    spare = _spare_pending(live, None, "spare@nowhere.example")
    hold = _held(live, ids["org_id"], "held@c.example")
    return SimpleNamespace(key="c", domain="c.example", pending_id=pending, extra={"spare": spare, "hold": hold},
                           **ids)


def _held(live: LiveHub, org_id: int, email: str) -> int:
    """A plain user of the organisation whose SCIM deactivation the mass-suspension guard held; the hold's id."""
    with live.context() as session:
        user = User(email=email, email_verified=True, org_id=org_id, groups=[])
        session.add(user)
        session.flush()
        hold = DeprovisioningHold(org_id=org_id, user_id=user.id, actor="scim:test", reason="scim active=false")
        session.add(hold)
        session.commit()
        return hold.id


def _furnish(wall: Wall) -> None:
    for side in (wall.a, wall.b):
        side.extra["spare"] = _spare_pending(wall.live, side.org_id, f"spare-{side.key}@{side.domain}")
        side.extra["hold"] = _held(wall.live, side.org_id, f"held-{side.key}@{side.domain}")
        _held(wall.live, side.org_id, f"held-too-{side.key}@{side.domain}")  # for "confirm all"


def test_every_console_route_is_in_the_table(wall: Wall) -> None:
    """A route added to the admin blueprint without a row in CASES (or without a door) fails here."""
    app = wall.live.app
    routes = {(rule.endpoint, method) for rule in app.url_map.iter_rules() if rule.endpoint.startswith("admin.")
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    covered = {(case.endpoint, case.method) for case in CASES}
    assert routes - covered == set(), "console routes without a cross-wall case"
    assert covered - routes == set(), "cases for routes that no longer exist"
    for endpoint, _method in routes:
        door = getattr(app.view_functions[endpoint], "door", None)
        assert door in (CONSOLE_DOOR, HUB_DOOR), f"{endpoint} has no door (console_required/hub_admin_required)"
        hub_level = {case.kind == HUB_LEVEL for case in CASES if case.endpoint == endpoint}
        if door == HUB_DOOR:
            assert hub_level == {True}, f"{endpoint} is hub-only: its cases are HUB_LEVEL"


@pytest.mark.parametrize("whose", ["other organisation", "hub-level"])
def test_org_admin_gets_404_beyond_the_wall_and_nothing_changes(wall: Wall, beyond: SimpleNamespace,
                                                                whose: str) -> None:
    _furnish(wall)
    target = wall.b if whose == "other organisation" else beyond
    before = _snapshot(wall.live)
    for case in CASES:
        if case.kind == PAGE:
            continue
        answer = _request(wall.a.admin, case, target)
        assert answer.status_code == 404, f"{case.name} on {whose}: {answer.status_code}"
        assert _snapshot(wall.live) == before, f"{case.name} on {whose} changed something"
    assert wall.b.org_name not in wall.a.admin.get(f"/admin/orgs/{wall.b.org_id}").text


def test_org_admin_changes_their_own_objects_and_hub_level_pages_stay_404(wall: Wall) -> None:
    _furnish(wall)
    a, live = wall.a, wall.live
    for case in CASES:
        answer = _request(a.admin, case, a)
        expected = 404 if case.kind == HUB_LEVEL else case.status
        assert answer.status_code == expected, f"{case.name} on its own: {answer.status_code} {answer.text[:300]}"
        if case.made is not None and case.kind == HUB_LEVEL:
            assert not case.made(live, a) or case.label == "revoke-admin", f"{case.name}: a hub-level change was made"
        elif case.made is not None:
            assert case.made(live, a), f"{case.name} on its own: the change is not there"
    with live.context() as session:
        added = session.scalar(select(Tile).where(Tile.title == "Added A"))
        # None ticked: an organisation admin's tile is for their organisation, not for every user.
        assert list(session.scalars(select(TileAudience.org_id).where(TileAudience.tile_id == added.id))) == [a.org_id]
    # What A did is filed under A: A's audit log shows it, B's does not.
    mine, theirs = a.admin.get("/admin/audit").text, wall.b.admin.get("/admin/audit").text
    for action in ("org.policy", "invite.create", "org.map", "rule.add", "delivery.retry", "tile.add", "tile.remove"):
        assert f"<td>{action}</td>" in mine and f"<td>{action}</td>" not in theirs, action
    assert a.admin_email not in theirs


def test_listings_show_only_the_own_organisation(wall: Wall, beyond: SimpleNamespace) -> None:
    a, b = wall.a, wall.b
    theirs = [b.org_name, b.admin_email, b.learner_email, f"pending-b@{b.domain}", f"news.{b.domain}", "News B",
              b.audit_ref, f'data-rule="{b.rule_id}"', f'data-delivery="{b.delivery_id}"', f'data-tile="{b.tile_id}"',
              "Org C", "loner@nowhere.example", "waiting@nowhere.example", "Public news", "slack:#all",
              f'data-rule="{beyond.rule_id}"', f'data-delivery="{beyond.delivery_id}"', "admin@hub.example"]
    pages = {path: a.admin.get(path) for path in ("/admin/orgs", "/admin/approvals", "/admin/users", "/admin/rules",
                                                  "/admin/tiles", "/admin/deliveries", "/admin/audit",
                                                  f"/admin/orgs/{a.org_id}", f"/admin/tiles/{a.tile_id}")}
    for path, page in pages.items():
        assert page.status_code == 200, path
        for text in theirs:
            assert text not in page.text, f"{text!r} shown on {path}"
    ours = {"/admin/orgs": [a.org_name, f"<code>{a.domain}</code>"], "/admin/approvals": [f"pending-a@{a.domain}"],
            "/admin/users": [a.learner_email, a.admin_email], "/admin/rules": [f'data-rule="{a.rule_id}"'],
            "/admin/tiles": ["News A"], "/admin/deliveries": [f'data-delivery="{a.delivery_id}"'],
            "/admin/audit": [a.audit_ref]}
    for path, texts in ours.items():
        for text in texts:
            assert text in pages[path].text, f"{text!r} missing on {path}"
    # The navigation shows what A may open; the header links the console.
    nav = re.search(r'<nav class="admin-nav".*?</nav>', pages["/admin/users"].text, re.DOTALL).group(0)
    assert ">Providers</a>" not in nav
    for label in ("Organisations", "Approvals", "Users", "Sharing rules", "Tiles", "Deliveries", "Audit log"):
        assert f">{label}</a>" in nav
    assert 'href="/admin">Admin</a>' in a.admin.get("/account").text
    # Hub-level controls are not offered: adding an organisation, the hub admin role, every organisation.
    assert "Add an organisation" not in pages["/admin/orgs"].text
    assert "Make admin" not in a.admin.get(f"/admin/users/{a.learner_id}").text
    assert 'value="*"' not in pages["/admin/rules"].text
    assert "None (a public feed)" not in pages["/admin/tiles"].text
    assert a.admin.get("/admin").headers["Location"] == f"/admin/orgs/{a.org_id}"
    searched = a.admin.get("/admin/users?q=learner-b").text  # the search is filtered too
    assert b.learner_email not in searched and "No users match." in searched


def test_admins_of_the_hub_or_another_organisation_are_out_of_reach_even_as_members(wall: Wall) -> None:
    """An organisation admin can neither see, nor disable, nor change a hub admin or another organisation's admin
    who is a member of their organisation; nor close the organisation over them."""
    a, live = wall.a, wall.live
    with live.context() as session:
        boss = User(email=f"boss@{a.domain}", email_verified=True, org_id=a.org_id, groups=[], is_admin=True)
        dual = User(email=f"dual@{a.domain}", email_verified=True, org_id=a.org_id, groups=[])
        session.add_all([boss, dual])
        session.flush()
        session.add(OrgAdmin(user_id=dual.id, org_id=wall.b.org_id))
        session.commit()
        people = {"boss": boss.id, "dual": dual.id}
    token = csrf_token(a.admin.get("/account").text)
    listed = a.admin.get("/admin/users").text
    for name, user_id in people.items():
        assert f"{name}@{a.domain}" not in listed
        assert a.admin.get(f"/admin/users/{user_id}").status_code == 404, name
        assert a.admin.post(f"/admin/users/{user_id}/disable", data={"csrf_token": token}).status_code == 404, name
        assert _user(live, user_id).status == "active", name
    answer = a.admin.post(f"/admin/orgs/{a.org_id}/policy", data={"csrf_token": token, "policy": "closed"})
    assert answer.status_code == 303
    assert "ask a hub admin to close it" in a.admin.get(f"/admin/orgs/{a.org_id}").text
    with live.context() as session:
        assert session.get(Organisation, a.org_id).policy == "open"
    assert all(_user(live, user_id).status == "active" for user_id in people.values())
    # A fellow admin of A alone is within reach.
    with live.context() as session:
        session.delete(session.get(OrgAdmin, (people["dual"], wall.b.org_id)))
        session.add(OrgAdmin(user_id=people["dual"], org_id=a.org_id))
        session.commit()
    assert a.admin.get(f"/admin/users/{people['dual']}").status_code == 200


def test_new_objects_of_an_org_admin_belong_to_their_organisation(wall: Wall) -> None:
    """'Every organisation' and no organisation are hub-level: an organisation admin's rule, mapping and tile are
    their organisation's whatever the form says; a tile's audience cannot name another organisation."""
    a, live = wall.a, wall.live
    token = csrf_token(a.admin.get("/account").text)
    assert a.admin.post("/admin/rules", data={"csrf_token": token, "org": "*", "event_type": "course.completed",
                                              "destination": "slack:#forced", "action": "add"}).status_code == 303
    assert a.admin.post("/admin/mappings", data={"csrf_token": token, "provider": "google", "claim": "hd",
                                                 "value": "forced.example", "org": "",
                                                 "group": "staff"}).status_code == 303
    assert a.admin.post("/admin/tiles", data=_tile_form(a, title="Forced", org_id="", audience=[],
                                                        csrf_token=token)).status_code == 303
    with live.context() as session:
        assert session.scalar(select(Rule.org_id).where(Rule.destination == "slack:#forced")) == a.org_id
        assert session.scalar(select(ClaimMapping.org_id).where(ClaimMapping.value == "forced.example")) == a.org_id
        tile = session.scalar(select(Tile).where(Tile.title == "Forced"))
        assert tile.org_id == a.org_id and store.audience_of(session, tile.id) == [a.org_id]
    before = _snapshot(live)
    sneaky = a.admin.post("/admin/tiles", data=_tile_form(a, title="Sneaky", audience=[str(wall.b.org_id)],
                                                          csrf_token=token))
    moved = a.admin.post(f"/admin/tiles/{a.tile_id}", data=_tile_form(a, org_id=str(wall.b.org_id),
                                                                      csrf_token=token))
    assert (sneaky.status_code, moved.status_code) == (404, 404)
    assert _snapshot(live) == before


def test_org_admin_cannot_map_a_claim_value_of_another_organisation(wall: Wall) -> None:
    """A mapping wins over an email domain at sign-in: mapping B's domain or B's mapped value into A would pull B's
    newcomers into A."""
    a, b, live = wall.a, wall.b, wall.live
    token = csrf_token(a.admin.get("/account").text)
    for value in (b.domain, "tenant-of-b"):
        if value == "tenant-of-b":
            with live.context() as session:
                session.add(ClaimMapping(provider="google", claim="hd", value=value, org_id=b.org_id))
                session.commit()
        answer = a.admin.post("/admin/mappings", data={"csrf_token": token, "provider": "google", "claim": "hd",
                                                       "value": value, "org": str(a.org_id)})
        assert answer.status_code == 400 and "already places people in another organisation" in answer.text
        assert _count(live, ClaimMapping, ClaimMapping.value == value, ClaimMapping.org_id == a.org_id) == 0
    # The hub admin decides such things.
    answer = wall.hub_admin.post("/admin/mappings", data={"csrf_token": csrf_token(wall.hub_admin.get("/account").text),
                                                          "provider": "google", "claim": "hd", "value": b.domain,
                                                          "org": str(a.org_id), "group": "guests"})
    assert answer.status_code == 303


def test_hub_admin_still_sees_and_changes_both(wall: Wall, beyond: SimpleNamespace) -> None:
    _furnish(wall)
    hub, live = wall.hub_admin, wall.live
    assert hub.get("/admin").headers["Location"] == "/admin/providers"
    for path, texts in {"/admin/orgs": ["Org A", "Org B", "Org C", "Add an organisation"],
                        "/admin/users": [wall.a.learner_email, wall.b.learner_email, "loner@nowhere.example"],
                        "/admin/rules": [f'data-rule="{wall.a.rule_id}"', f'data-rule="{wall.b.rule_id}"',
                                         f'data-rule="{beyond.rule_id}"'],
                        "/admin/tiles": ["News A", "News B", "Public news"],
                        "/admin/deliveries": [f'data-delivery="{wall.a.delivery_id}"',
                                              f'data-delivery="{wall.b.delivery_id}"'],
                        "/admin/audit": [wall.a.audit_ref, wall.b.audit_ref],
                        "/admin/providers": [">Providers</a>"]}.items():
        page = hub.get(path)
        assert page.status_code == 200, path
        for text in texts:
            assert text in page.text, f"{text!r} missing on {path}"
    for target in (wall.a, wall.b):
        for case in CASES:
            answer = _request(hub, case, target)
            expected = 302 if case.endpoint == "admin.home" else case.status
            assert answer.status_code == expected, f"hub admin: {case.name} on {target.key}: {answer.status_code}"
            if case.made is not None:
                assert case.made(live, target), f"hub admin: {case.name} on {target.key}: not made"
    token = csrf_token(hub.get("/account").text)
    for path in (f"/admin/users/{beyond.learner_id}/disable", f"/admin/deliveries/{beyond.delivery_id}/retry"):
        assert hub.post(path, data={"csrf_token": token}).status_code == 303, path
    assert _user(live, beyond.learner_id).status == "disabled"
    assert _count(live, Delivery, Delivery.id == beyond.delivery_id, Delivery.status == "pending") == 1
    token = csrf_token(hub.get("/account").text)
    assert hub.post(f"/admin/users/{wall.b.learner_id}/grant-admin", data={"csrf_token": token}).status_code == 303
    assert _user(live, wall.b.learner_id).is_admin

