"""SCIM under hostile or sloppy input: every refusal is a SCIM Error with the right status and scimType, never a 500
or an HTML page, and a refused request changes nothing (run on SQLite and, in CI, PostgreSQL, which is stricter)."""
from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from hub.models import User
from tests.live import LiveHub
from tests.scim.conftest import Scim, new_user

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


def scim_error(answer: requests.Response, status: int, scim_type: str | None = None) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["Content-Type"].startswith("application/scim+json"), answer.headers["Content-Type"]
    body = answer.json()
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"] and body["status"] == str(status)
    assert body.get("scimType") == scim_type, body
    return body


def user_count(hub: LiveHub) -> int:
    with hub.context() as session:
        return session.scalar(select(func.count()).select_from(User)) or 0


@pytest.mark.parametrize("resource_id", ["9" * 40, str(2**31), "9" * 12, "²", "١٢", "1e3", "-1"])
def test_ids_no_row_can_have_are_404(scim: Scim, resource_id: str) -> None:
    new_user(scim, "ada@partner.example")
    for kind in ("Users", "Groups"):
        scim_error(scim("GET", f"/{kind}/{resource_id}"), 404)
        scim_error(scim("DELETE", f"/{kind}/{resource_id}"), 404)
        scim_error(scim("PATCH", f"/{kind}/{resource_id}", json={
            "schemas": [PATCH], "Operations": [{"op": "replace", "path": "displayName", "value": "x"}]}), 404)


@pytest.mark.parametrize("member", ["9" * 40, str(2**31), "²"])
def test_a_member_id_no_row_can_have_is_400(scim: Scim, member: str) -> None:
    answer = scim("POST", "/Groups", json={"schemas": [GROUP], "displayName": "Team", "members": [{"value": member}]})
    scim_error(answer, 400, "invalidValue")
    scim_error(scim("GET", "/Groups", params={"filter": f'members[value eq "{member}"]'}), 400, "invalidFilter")
    assert scim("GET", "/Groups").json()["totalResults"] == 0


def test_paging_past_any_integer_and_count_zero(scim: Scim) -> None:
    for n in range(3):
        new_user(scim, f"user{n}@partner.example")
    page = scim("GET", "/Users", params={"startIndex": "9" * 30}).json()
    assert (page["totalResults"], page["itemsPerPage"], page.get("Resources", [])) == (3, 0, [])
    page = scim("POST", "/Users/.search", json={"schemas": [SEARCH], "startIndex": 10**30}).json()
    assert (page["totalResults"], page["itemsPerPage"]) == (3, 0)
    for count in ("0", "-5"):  # RFC 7644 §3.4.2.4: no resources, only totalResults (a negative count means 0)
        page = scim("GET", "/Users", params={"count": count}).json()
        assert (page["totalResults"], page["itemsPerPage"], page.get("Resources", [])) == (3, 0, [])
    page = scim("GET", "/Users", params={"count": "9" * 30}).json()
    assert page["itemsPerPage"] == 3  # capped at filter.maxResults, not an error
    scim_error(scim("GET", "/Users", params={"count": "ten"}), 400, "invalidValue")


@pytest.mark.parametrize(("field", "value"), [
    ("displayName", "d" * 201), ("name", {"givenName": "g" * 201}), ("name", {"familyName": "f" * 201}),
    ("externalId", "e" * 256), ("userName", "u" * 321),
])
def test_strings_longer_than_their_columns_are_invalid_value_and_change_nothing(
        scim: Scim, field: str, value: Any) -> None:
    ada = new_user(scim, "ada@partner.example", external_id="lms-1", displayName="Ada")
    before = scim("GET", f"/Users/{ada['id']}").json()
    scim_error(scim("POST", "/Users", json={"schemas": [USER], "userName": "bob@partner.example", field: value}),
               400, "invalidValue")
    scim_error(scim("PATCH", f"/Users/{ada['id']}", json={
        "schemas": [PATCH], "Operations": [{"op": "replace", "path": field, "value": value}]}), 400, "invalidValue")
    assert scim("GET", f"/Users/{ada['id']}").json() == before
    assert user_count(scim.hub) == 1


def test_group_strings_longer_than_their_columns_are_invalid_value(scim: Scim) -> None:
    for extra in ({"displayName": "g" * 201}, {"displayName": "Team", "externalId": "e" * 256}):
        scim_error(scim("POST", "/Groups", json={"schemas": [GROUP], "displayName": "Team", **extra}),
                   400, "invalidValue")
    assert scim("GET", "/Groups").json()["totalResults"] == 0


def test_a_nul_character_is_invalid_syntax_in_a_body_and_invalid_filter_in_a_filter(scim: Scim) -> None:
    scim_error(scim("POST", "/Users", json={"schemas": [USER], "userName": "ada\u0000@partner.example"}),
               400, "invalidSyntax")
    scim_error(scim("POST", "/Users", json={"schemas": [USER], "userName": "ada", "displayName": "A\u0000"}),
               400, "invalidSyntax")
    scim_error(scim("GET", "/Users", params={"filter": 'displayName eq "a\u0000"'}), 400, "invalidFilter")
    assert user_count(scim.hub) == 0


def test_a_user_name_the_email_policy_refuses_is_a_plain_user_name_not_a_broken_listing(scim: Scim) -> None:
    answer = scim("POST", "/Users", json={"schemas": [USER], "userName": "ada lovelace@lms"})
    assert answer.status_code == 201, answer.text
    assert answer.json()["userName"] == "ada lovelace@lms" and "emails" not in answer.json()
    # A dotless directory domain is an address (hub/emails.py): the user gets it as their email.
    answer = scim("POST", "/Users", json={"schemas": [USER], "userName": "ada@intranet"})
    assert answer.status_code == 201 and answer.json()["emails"] == [{"value": "ada@intranet"}], answer.text
    assert scim("GET", "/Users").json()["totalResults"] == 2


def test_an_address_a_sign_in_stored_that_email_validator_refuses_is_served(live: LiveHub, scim: Scim) -> None:
    with live.context() as session:  # a corporate IdP's address on a special-use domain, as sign-in stores it
        session.add(User(email="grace@corp.internal", email_verified=True, name="Grace"))
        session.commit()
    listing = scim("GET", "/Users")
    assert listing.status_code == 200, listing.text
    assert listing.json()["Resources"][0]["emails"] == [{"value": "grace@corp.internal"}]
    found = scim("GET", "/Users", params={"filter": 'userName eq "grace@corp.internal"'}).json()
    assert found["totalResults"] == 1


@pytest.mark.parametrize(("expression", "found"), [
    ('meta.created gt "2000-01-01T00:00:00Z"', 1), ('meta.created lt "2000-01-01T00:00:00+02:00"', 0),
    ('emails[type eq "work"].value eq "ADA@partner.example"', 1), ('emails[type eq "work"]', 1),
    ('emails[type eq "home"]', 0), ('userName eq "\' OR 1=1 --"', 0), ('displayName co "%"', 0),
    ('displayName sw "_"', 0), ('displayName co "\\\\"', 0),
])
def test_filters_that_must_answer(scim: Scim, expression: str, found: int) -> None:
    new_user(scim, "ada@partner.example", displayName="Ada")
    answer = scim("GET", "/Users", params={"filter": expression})
    assert answer.status_code == 200, answer.text
    assert answer.json()["totalResults"] == found


@pytest.mark.parametrize("expression", [
    'meta.created gt "yesterday"', 'meta.created co "2020"', "meta.created gt 5", "userName gt 5",
    "displayName eq 1.5", 'id eq 1', 'emails.type ne "work"',
    "(" * 1000 + 'userName eq "a"' + ")" * 1000, 'userName eq "' + "a" * 60_000 + '"',
    "not (" * 100 + 'userName eq "a"' + ")" * 100,
])
def test_filters_of_the_wrong_type_or_size_are_invalid_filter(scim: Scim, expression: str) -> None:
    new_user(scim, "ada@partner.example")
    scim_error(scim("GET", "/Users", params={"filter": expression}), 400, "invalidFilter")
    scim_error(scim("POST", "/Users/.search", json={"schemas": [SEARCH], "filter": expression}), 400, "invalidFilter")


def test_a_100_kb_filter_in_a_search_body_is_invalid_filter(scim: Scim) -> None:
    answer = scim("POST", "/Users/.search", json={"schemas": [SEARCH], "filter": 'userName eq "' + "a" * 100_000 + '"'})
    scim_error(answer, 400, "invalidFilter")


@pytest.mark.parametrize(("content_type", "data", "status", "scim_type"), [
    ("text/plain", json.dumps({"schemas": [USER], "userName": "ada@partner.example"}), 415, None),
    ("application/x-www-form-urlencoded", "userName=ada@partner.example", 415, None),
    ("application/scim+json", '{"schemas": [', 400, "invalidSyntax"),
    ("application/scim+json", "[]", 400, "invalidSyntax"),
    ("application/scim+json", "", 400, "invalidSyntax"),
    ("application/json; charset=utf-8", b'{"schemas": ["' + USER.encode() + b'"], "userName": "\xff"}', 400,
     "invalidSyntax"),
    ("application/scim+json", json.dumps({"userName": "ada@partner.example"}), 400, "invalidSyntax"),
    ("application/scim+json", json.dumps({"schemas": ["urn:bogus"], "userName": "ada@partner.example"}), 400,
     "invalidSyntax"),
    ("application/scim+json", json.dumps({"schemas": [USER, "urn:bogus"], "userName": "a@partner.example"}), 400,
     "invalidSyntax"),
    ("application/scim+json", json.dumps({"schemas": [GROUP], "userName": "ada@partner.example"}), 400,
     "invalidSyntax"),
    ("application/scim+json", json.dumps({"schemas": [USER], "userName": "a@partner.example", "bogus": 1}), 400,
     "invalidSyntax"),
    ("application/scim+json", json.dumps({"schemas": [USER], "userName": 5}), 400, "invalidValue"),
])
def test_a_body_that_is_not_a_user_is_refused_and_creates_nothing(
        scim: Scim, content_type: str, data: Any, status: int, scim_type: str | None) -> None:
    scim_error(scim("POST", "/Users", data=data, headers={"Content-Type": content_type}), status, scim_type)
    assert user_count(scim.hub) == 0


def test_patch_and_search_bodies_must_name_their_message_schema(scim: Scim) -> None:
    ada = new_user(scim, "ada@partner.example")
    operations = [{"op": "replace", "path": "active", "value": False}]
    scim_error(scim("PATCH", f"/Users/{ada['id']}", json={"Operations": operations}), 400, "invalidSyntax")
    scim_error(scim("PATCH", f"/Users/{ada['id']}", json={"schemas": [USER], "Operations": operations}),
               400, "invalidSyntax")
    scim_error(scim("POST", "/Users/.search", json={"filter": 'userName eq "x"'}), 400, "invalidSyntax")
    assert scim("GET", f"/Users/{ada['id']}").json()["active"] is True


def test_entra_id_patches_users_its_way(live: LiveHub, scim: Scim) -> None:
    """Microsoft Entra ID's provisioning service: capitalised ops, booleans as strings, path-less replace with a
    dict, and emails[type eq "work"].value on the one address (created when the user has none)."""
    ada = new_user(scim, "ada@partner.example")

    def patch(*operations: dict[str, Any]) -> dict[str, Any]:
        answer = scim("PATCH", f"/Users/{ada['id']}", json={"schemas": [PATCH], "Operations": list(operations)})
        assert answer.status_code == 200, answer.text
        return answer.json()

    assert patch({"op": "Replace", "path": "active", "value": "False"})["active"] is False
    assert patch({"op": "Replace", "value": {"active": "True", "displayName": "Ada L."}})["active"] is True
    assert patch({"op": "Add", "value": {"name.givenName": "Augusta"}})["name"]["givenName"] == "Augusta"
    served = patch({"op": "Replace", "path": 'emails[type eq "work"].value', "value": "ada@lovelace.example"})
    assert served["emails"] == [{"value": "ada@lovelace.example"}]
    with live.context() as session:
        row = session.get(User, int(ada["id"]))
        assert (row.email, row.name, row.status) == ("ada@lovelace.example", "Ada L.", "active")
    bob = scim("POST", "/Users", json={"schemas": [USER], "userName": "bob"}).json()
    answer = scim("PATCH", f"/Users/{bob['id']}", json={"schemas": [PATCH], "Operations": [
        {"op": "Add", "path": 'emails[type eq "work"].value', "value": "bob@partner.example"}]})
    assert answer.status_code == 200 and answer.json()["emails"] == [{"value": "bob@partner.example"}], answer.text


def test_group_members_removed_the_entra_and_the_okta_way(scim: Scim) -> None:
    ada, bob, eve = (new_user(scim, f"{n}@partner.example") for n in ("ada", "bob", "eve"))
    group = scim("POST", "/Groups", json={"schemas": [GROUP], "displayName": "Team", "members": [
        {"value": ada["id"]}, {"value": bob["id"]}, {"value": eve["id"]}]}).json()

    def members(*operations: dict[str, Any]) -> list[str]:
        answer = scim("PATCH", f"/Groups/{group['id']}", json={"schemas": [PATCH], "Operations": list(operations)})
        assert answer.status_code == 200, answer.text
        return [m["value"] for m in answer.json().get("members", [])]

    # Entra ID: the value lists the members to remove (RFC 7644 reads a remove's target from its path alone).
    assert members({"op": "Remove", "path": "members", "value": [{"value": ada["id"]}]}) == [bob["id"], eve["id"]]
    # Okta and the RFC: a value filter in the path.
    assert members({"op": "remove", "path": f'members[value eq "{bob["id"]}"]'}) == [eve["id"]]
    assert members({"op": "Replace", "value": {"displayName": "Team 2"}}) == [eve["id"]]
    assert scim("GET", f"/Users/{ada['id']}").json().get("groups") is None


def test_deleting_a_group_with_members_keeps_the_members(scim: Scim) -> None:
    ada = new_user(scim, "ada@partner.example")
    group = scim("POST", "/Groups", json={"schemas": [GROUP], "displayName": "Team",
                                          "members": [{"value": ada["id"]}]}).json()
    assert scim("DELETE", f"/Groups/{group['id']}").status_code == 204
    scim_error(scim("GET", f"/Groups/{group['id']}"), 404)
    user = scim("GET", f"/Users/{ada['id']}").json()
    assert user["active"] is True and "groups" not in user


def test_active_false_then_true_and_a_put_without_active_keeps_the_user_disabled(live: LiveHub, scim: Scim) -> None:
    ada = new_user(scim, "ada@partner.example")
    off = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": False}]}
    assert scim("PATCH", f"/Users/{ada['id']}", json=off).json()["active"] is False
    # A PUT that leaves active out (RFC 7644 §3.5.1: not asserted) must not switch the user back on.
    answer = scim("PUT", f"/Users/{ada['id']}", json={"schemas": [USER], "userName": "ada@partner.example"})
    assert answer.status_code == 200 and answer.json()["active"] is False, answer.text
    with live.context() as session:
        assert session.get(User, int(ada["id"])).status == "disabled"
    answer = scim("PUT", f"/Users/{ada['id']}", json={"schemas": [USER], "userName": "ada@partner.example",
                                                      "active": True})
    assert answer.json()["active"] is True
    assert scim("GET", "/Users", params={"filter": "active eq false"}).json()["totalResults"] == 0


def test_a_stale_if_match_is_412_and_changes_nothing(scim: Scim) -> None:
    ada = new_user(scim, "ada@partner.example", displayName="Ada")
    stale = {"If-Match": 'W/"not-the-version"'}
    body = {"schemas": [USER], "userName": "ada@partner.example", "displayName": "Changed"}
    scim_error(scim("PUT", f"/Users/{ada['id']}", json=body, headers=stale), 412)
    scim_error(scim("PATCH", f"/Users/{ada['id']}", headers=stale, json={
        "schemas": [PATCH], "Operations": [{"op": "replace", "path": "displayName", "value": "Changed"}]}), 412)
    scim_error(scim("DELETE", f"/Users/{ada['id']}", headers=stale), 412)
    current = scim("GET", f"/Users/{ada['id']}")
    assert current.json()["displayName"] == "Ada"
    answer = scim("PUT", f"/Users/{ada['id']}", json=body, headers={"If-Match": current.headers["ETag"]})
    assert answer.status_code == 200 and answer.json()["displayName"] == "Changed"


def test_bearer_header_spellings(live: LiveHub, scim_token: str) -> None:
    def get(authorization: str) -> requests.Response:
        return requests.get(f"{live.url}/scim/v2/Users", headers={"Authorization": authorization})

    for accepted in (f"bearer {scim_token}", f"BEARER {scim_token}", f"Bearer  {scim_token}", f"Bearer {scim_token} "):
        assert get(accepted).status_code == 200, accepted
    # RFC 6750 §3.1: no error code when the request carried no bearer credentials at all.
    for absent in (f"Basic {scim_token}", "Bearer", "Bearer "):
        answer = get(absent)
        scim_error(answer, 401)
        assert answer.headers["WWW-Authenticate"] == 'Bearer realm="scim"', absent
    for refused in (f"Bearer {scim_token}x", "Bearer hubt_" + "a" * 10_000, f"Bearer {scim_token[:-1]}"):
        answer = get(refused)
        scim_error(answer, 401)
        assert answer.headers["WWW-Authenticate"] == 'Bearer realm="scim", error="invalid_token"'


@pytest.mark.parametrize("path", ["", "/", "/Me", "/Bulk", "/Users/1/extra"])
def test_paths_outside_the_api_are_scim_404s(scim: Scim, path: str) -> None:
    scim_error(scim("GET", path), 404)


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("DELETE", "/Users", "GET, POST"), ("PUT", "/Groups", "GET, POST"), ("GET", "/Users/.search", None),
    ("POST", "/Users/1", "GET, PUT, PATCH, DELETE"),
])
def test_a_method_a_path_does_not_answer_is_405_with_allow(scim: Scim, method: str, path: str,
                                                          allow: str | None) -> None:
    answer = scim(method, path, json={"schemas": [USER]})
    if allow is None:  # GET /Users/.search reads ".search" as an id
        scim_error(answer, 404)
        return
    scim_error(answer, 405)
    assert answer.headers["Allow"] == allow
