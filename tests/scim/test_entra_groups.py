"""Groups as Microsoft Entra ID writes them: its ADSCIM extension URN on every Group, and member removal by a value
list whose entries carry "$ref": null. Each was a failed or silently ignored push before."""
from __future__ import annotations

from typing import Any

from hub import tokens
from hub.models import Organisation, OrgPolicy
from hub.models import User as HubUser
from tests.live import LiveHub
from tests.scim.conftest import Scim, new_user
from tests.scim.test_hostile import GROUP, PATCH, scim_error

ENTRA_GROUP = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"


def entra_group(name: str, members: list[str] | None = None) -> dict[str, Any]:
    return {"schemas": [GROUP, ENTRA_GROUP], "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
            "displayName": name, "meta": {"resourceType": "Group"}, ENTRA_GROUP: {},
            "members": [{"value": member} for member in members or []]}


def member_ids(answer: Any) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [member["value"] for member in answer.json().get("members", [])]


def test_the_entra_extension_urn_is_taken_and_dropped_on_post_and_put(scim: Scim) -> None:
    ada = new_user(scim, "ada@corp.local")
    created = scim("POST", "/Groups", json=entra_group("Engineering", [ada["id"]]))
    assert created.status_code == 201, created.text
    assert created.json()["schemas"] == [GROUP] and ENTRA_GROUP not in created.json()
    replaced = scim("PUT", f"/Groups/{created.json()['id']}", json=entra_group("Engineering 2"))
    assert replaced.status_code == 200 and replaced.json()["displayName"] == "Engineering 2", replaced.text
    assert "members" not in replaced.json()


def test_any_other_foreign_urn_is_still_invalid_syntax(scim: Scim) -> None:
    body = {**entra_group("Engineering"), "schemas": [GROUP, "urn:example:params:scim:schemas:made-up:Group"]}
    scim_error(scim("POST", "/Groups", json=body), 400, "invalidSyntax")
    with scim.hub.context() as session:
        assert session.query(Organisation).count() == 0


def test_member_removal_the_entra_way_removes_exactly_the_listed_members(scim: Scim) -> None:
    ada, bob, eve, ian = (new_user(scim, f"{n}@corp.local") for n in ("ada", "bob", "eve", "ian"))
    group = scim("POST", "/Groups", json=entra_group("Team", [u["id"] for u in (ada, bob, eve, ian)])).json()

    def patch(*operations: dict[str, Any]) -> list[str]:
        return member_ids(scim("PATCH", f"/Groups/{group['id']}", json={"schemas": [PATCH],
                                                                       "Operations": list(operations)}))

    assert patch({"op": "Remove", "path": "members", "value": [{"$ref": None, "value": ada["id"]}]}) == [
        bob["id"], eve["id"], ian["id"]]
    # Several at once, one of them with a $ref of another base URL: the id alone says who leaves.
    assert patch({"op": "Remove", "path": "Members", "value": [
        {"$ref": None, "value": bob["id"]}, {"$ref": f"https://elsewhere.example/Users/{eve['id']}",
                                            "value": eve["id"]}]}) == [ian["id"]]
    # Entra's capitalised ops and the RFC's filter path.
    assert patch({"op": "Add", "path": "members", "value": [{"$ref": None, "value": ada["id"]}]}) == [
        ada["id"], ian["id"]]
    assert patch({"op": "Remove", "path": f'members[value eq "{ian["id"]}"]'}) == [ada["id"]]
    assert patch({"op": "Replace", "path": "members", "value": [{"$ref": None, "value": bob["id"]}]}) == [bob["id"]]
    # Removing someone no longer a member is nothing to do, not an error (Entra retries).
    assert patch({"op": "Remove", "path": "members", "value": [{"$ref": None, "value": ada["id"]}]}) == [bob["id"]]
    with scim.hub.context() as session:
        assert session.get(HubUser, int(ada["id"])).org_id is None
        assert session.get(HubUser, int(bob["id"])).org_id == int(group["id"])


def test_a_removal_naming_no_user_is_invalid_and_changes_nothing(scim: Scim) -> None:
    ada = new_user(scim, "ada@corp.local")
    group = scim("POST", "/Groups", json=entra_group("Team", [ada["id"]])).json()
    answer = scim("PATCH", f"/Groups/{group['id']}", json={"schemas": [PATCH], "Operations": [
        {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": ada["id"]}, {"$ref": None}]}]})
    assert answer.status_code == 400, answer.text
    assert member_ids(scim("GET", f"/Groups/{group['id']}")) == [ada["id"]]


def test_an_entra_removal_across_the_wall_moves_nobody(live: LiveHub, scim: Scim) -> None:
    """A token of one organisation removing a user of another: that user is not its member, so nothing moves."""
    with live.context() as session:
        ours, theirs = Organisation(name="Ours", policy=OrgPolicy.INVITE), Organisation(name="Theirs",
                                                                                        policy=OrgPolicy.INVITE)
        session.add_all([ours, theirs])
        session.flush()
        outsider = HubUser(email="out@theirs.local", email_verified=True, org_id=theirs.id)
        session.add(outsider)
        created = tokens.create(session, scope="scim", name="ours", orgs=[ours])
        session.commit()
        ours_id, outsider_id, theirs_id = ours.id, outsider.id, theirs.id
    scoped = Scim(live, created.secret)
    answer = scoped("PATCH", f"/Groups/{ours_id}", json={"schemas": [PATCH], "Operations": [
        {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": str(outsider_id)}]}]})
    assert answer.status_code == 200 and "members" not in answer.json(), answer.text
    assert scoped("PATCH", f"/Groups/{theirs_id}", json={"schemas": [PATCH], "Operations": [
        {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": str(outsider_id)}]}]}).status_code == 404
    with live.context() as session:
        assert session.get(HubUser, outsider_id).org_id == theirs_id
