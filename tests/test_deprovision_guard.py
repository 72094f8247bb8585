"""The mass-suspension guard (hub/deprovision.py): SCIM deactivations beyond a share of an organisation within an
hour are held, the SCIM client is answered as if applied, and an admin confirms or rejects them by CLI or console.

Real HTTP on loopback (SCIM and the console), real SQLite and Redis; the hub's clock is moved, never slept on."""
from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from hub import orgs, tokens
from hub.cli import main
from hub.models import AuditEvent, DeprovisioningHold, HoldStatus, Organisation, User, UserStatus
from tests.admin.conftest import ADMIN, signed_in
from tests.clock import movable_clock
from tests.live import LiveHub, csrf_token
from tests.scim.conftest import Scim


def _org(live: LiveHub, name: str, size: int) -> tuple[Scim, list[int]]:
    """An organisation of `size` plain users and a SCIM token that reaches it; returns the client and user ids."""
    domain = f"{name.lower()}.example"
    with live.context() as session:
        org = orgs.add_org(session, name, [domain], "open")
        session.flush()
        people = [User(email=f"u{i}@{domain}", email_verified=True, name=f"User {i}", org_id=org.id, groups=["staff"])
                  for i in range(size)]
        session.add_all(people)
        token = tokens.create(session, scope="scim", name=f"lms-{name.lower()}", home_page=f"https://{domain}",
                              orgs=[org])
        session.commit()
        return Scim(live, token.secret), [p.id for p in people]


def _deactivate(scim: Scim, user_id: int) -> dict[str, Any]:
    answer = scim("PATCH", f"/Users/{user_id}", json={
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": False}]})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _statuses(live: LiveHub, ids: list[int]) -> list[str]:
    with live.context() as session:
        return [str(session.get(User, i).status) for i in ids]


def _held_ids(live: LiveHub) -> list[int]:
    with live.context() as session:
        return list(session.scalars(select(DeprovisioningHold.user_id).where(
            DeprovisioningHold.status == HoldStatus.HELD).order_by(DeprovisioningHold.id)))


def _cli(live: LiveHub, *args: str) -> Any:
    result = CliRunner().invoke(main, list(args), env=live.env)
    return result


@pytest.mark.parametrize(("size", "applied"), [(50, 5), (20, 5), (100, 10)])
def test_the_guard_holds_deactivations_beyond_the_share_and_the_minimum(live: LiveHub, size: int,
                                                                         applied: int) -> None:
    """10% of 50 is 5: five are applied, the sixth is held; in a 20-user org the minimum of 5 applies; in a
    100-user org ten go through. The client is answered active=false for every one, held or not."""
    scim, ids = _org(live, "Acme", size)
    for user_id in ids[:applied + 2]:
        assert _deactivate(scim, user_id)["active"] is False
    assert _statuses(live, ids[:applied + 2]) == ["disabled"] * applied + ["active"] * 2
    assert _held_ids(live) == ids[applied:applied + 2]
    # What the client reads back agrees with what it sent: a held user is served active=false, and found by it.
    assert scim("GET", f"/Users/{ids[applied]}").json()["active"] is False
    listed = scim("GET", "/Users", params={"filter": "active eq false", "count": 200}).json()
    assert {int(r["id"]) for r in listed["Resources"]} == set(ids[:applied + 2])
    active = scim("GET", "/Users", params={"filter": "active eq true", "count": 200}).json()
    assert active["totalResults"] == size - applied - 2
    # Asking again does not pile holds up; the held user still signs in meanwhile (status active).
    _deactivate(scim, ids[applied])
    assert len(_held_ids(live)) == 2
    with live.context() as session:
        held = session.scalar(select(AuditEvent).where(
            AuditEvent.action == "user.deprovision", AuditEvent.outcome == "held", AuditEvent.user_id == ids[applied]))
        assert held is not None and held.actor == "scim:lms-acme"


def test_the_window_is_an_hour_and_the_client_may_withdraw_a_hold(live: LiveHub) -> None:
    clock = movable_clock(live.app)
    scim, ids = _org(live, "Acme", 20)
    for user_id in ids[:6]:
        _deactivate(scim, user_id)
    assert _held_ids(live) == [ids[5]]
    # active=true before anyone decided withdraws the hold: the user never lost access.
    answer = scim("PATCH", f"/Users/{ids[5]}", json={
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "value": {"active": True}}]})
    assert answer.status_code == 200 and answer.json()["active"] is True
    assert _held_ids(live) == [] and _statuses(live, [ids[5]]) == ["active"]
    _deactivate(scim, ids[6])
    assert _held_ids(live) == [ids[6]]
    # An hour later the five applied ones left the window: the next is applied (one held + this one: 2 <= 5).
    clock.advance(minutes=61)
    _deactivate(scim, ids[7])
    assert _statuses(live, [ids[6], ids[7]]) == ["active", "disabled"]


def test_an_organisation_sets_its_own_guard(live: LiveHub) -> None:
    scim, ids = _org(live, "Acme", 20)
    result = _cli(live, "org", "deprovisioning", "Acme", "--guard-share", "50", "--guard-min", "1")
    assert result.exit_code == 0, result.output
    assert "beyond 50% (and 1 users)" in result.output
    for user_id in ids[:11]:
        _deactivate(scim, user_id)
    assert _held_ids(live) == [ids[10]]  # 10 of 20 is not more than 50%; the 11th is
    refused = _cli(live, "org", "deprovisioning", "Acme", "--guard-share", "0")
    assert refused.exit_code == 2 and "0" in refused.output
    with live.context() as session:
        org = session.scalar(select(Organisation).where(Organisation.name == "Acme"))
        assert (org.guard_share, org.guard_min, org.erase_after_days) == (50, 1, None)


def test_held_deactivations_are_listed_confirmed_and_rejected_by_cli(live: LiveHub) -> None:
    scim, ids = _org(live, "Acme", 20)
    for user_id in ids[:9]:
        _deactivate(scim, user_id)
    listing = _cli(live, "deprovisioning", "held", "--json")
    assert listing.exit_code == 0, listing.output
    rows = json.loads(listing.output)
    assert [(r["org"], r["email"], r["requested_by"]) for r in rows] == [
        ("Acme", f"u{i}@acme.example", "scim:lms-acme") for i in range(5, 9)]
    first, second = rows[0]["id"], rows[1]["id"]
    # Bad input changes nothing.
    for bad in (["confirm"], ["confirm", "--all"], ["confirm", str(first), "--org", "Acme"],
                ["confirm", str(first), "999999"]):
        assert _cli(live, "deprovisioning", *bad).exit_code != 0, bad
    assert _held_ids(live) == ids[5:9]
    confirmed = _cli(live, "deprovisioning", "confirm", str(first))
    assert confirmed.exit_code == 0 and "1 held deactivations confirmed" in confirmed.output, confirmed.output
    assert _statuses(live, [ids[5]]) == ["disabled"]
    again = _cli(live, "deprovisioning", "reject", str(first))
    assert again.exit_code == 1 and "already confirmed" in again.output
    rejected = _cli(live, "deprovisioning", "reject", str(second))
    assert rejected.exit_code == 0, rejected.output
    assert _statuses(live, [ids[6]]) == ["active"]
    assert scim("GET", f"/Users/{ids[6]}").json()["active"] is True  # rejected: the client sees the truth again
    everything = _cli(live, "deprovisioning", "reject", "--all", "--org", "Acme")
    assert everything.exit_code == 0 and "2 held deactivations rejected" in everything.output
    assert _held_ids(live) == [] and _statuses(live, ids[7:9]) == ["active", "active"]
    with live.context() as session:
        decided = {h.user_id: (h.status, h.decided_by) for h in session.scalars(select(DeprovisioningHold))}
        assert decided[ids[5]] == ("confirmed", "cli") and decided[ids[8]] == ("rejected", "cli")
        actions = set(session.scalars(select(AuditEvent.action)))
        assert {"deprovision.hold.confirm", "deprovision.hold.reject"} <= actions
    assert _cli(live, "deprovisioning", "held").output.strip() == "(none)"


def test_hub_admins_confirm_and_reject_from_the_console(live: LiveHub) -> None:
    live.add_provider("google")
    scim, ids = _org(live, "Acme", 20)
    for user_id in ids[:8]:
        _deactivate(scim, user_id)
    admin = signed_in(live, ADMIN)
    page = admin.get("/admin/users")
    assert page.status_code == 200 and 'id="held-deactivations"' in page.text
    assert "Acme: 3 held" in page.text
    listing = admin.get("/admin/deprovisioning")
    assert listing.status_code == 200 and "u5@acme.example" in listing.text
    with live.context() as session:
        holds = {h.user_id: h.id for h in session.scalars(select(DeprovisioningHold))}
        org_id = session.scalar(select(Organisation.id).where(Organisation.name == "Acme"))
    # Without the CSRF token: 400, nothing decided.
    assert admin.post(f"/admin/deprovisioning/{holds[ids[5]]}/confirm").status_code == 400
    assert _held_ids(live) == ids[5:8]
    token = csrf_token(listing.text)
    answer = admin.post(f"/admin/deprovisioning/{holds[ids[5]]}/confirm", data={"csrf_token": token},
                        allow_redirects=False)
    assert answer.status_code == 303
    assert _statuses(live, [ids[5]]) == ["disabled"]
    answer = admin.post(f"/admin/deprovisioning/{holds[ids[6]]}/reject", data={"csrf_token": token})
    assert answer.status_code == 303
    assert "u6@acme.example: deactivation rejected" in admin.get(answer.headers["Location"]).text
    assert _statuses(live, [ids[6]]) == ["active"]
    # The banner's "Reject all" for the organisation, back to the page it was on.
    answer = admin.post(f"/admin/orgs/{org_id}/deprovisioning/reject",
                        data={"csrf_token": token, "back": "/admin/users"}, allow_redirects=False)
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/admin/users")
    assert _held_ids(live) == [] and _statuses(live, [ids[7]]) == ["active"]
    assert 'id="held-deactivations"' not in admin.get("/admin/users").text
    # Elsewhere than the console is not a place to go back to.
    answer = admin.post(f"/admin/orgs/{org_id}/deprovisioning/confirm",
                        data={"csrf_token": token, "back": "//evil.example/admin"}, allow_redirects=False)
    assert answer.headers["Location"].endswith("/admin/deprovisioning")
    assert admin.post(f"/admin/deprovisioning/{2**31}/confirm", data={"csrf_token": token}).status_code == 404


def test_plain_users_cannot_decide(live: LiveHub) -> None:
    live.add_provider("google")
    scim, ids = _org(live, "Acme", 20)
    for user_id in ids[:6]:
        _deactivate(scim, user_id)
    from tests.admin.conftest import ADA

    ada = signed_in(live, ADA)
    with live.context() as session:
        hold_id = session.scalar(select(DeprovisioningHold.id))
    token = csrf_token(ada.get("/account").text)
    assert ada.get("/admin/deprovisioning").status_code == 403
    assert ada.post(f"/admin/deprovisioning/{hold_id}/confirm", data={"csrf_token": token}).status_code == 403
    assert _held_ids(live) == [ids[5]] and _statuses(live, [ids[5]])[0] == UserStatus.ACTIVE
