"""What identity providers map by default, over HTTP: attributes RFC 7643's core User or Enterprise User extension
defines and the hub does not keep are accepted and ignored (POST, PUT, PATCH); attributes no schema defines are not."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from hub.models import LmsAccount, User
from tests.scim.conftest import Scim, new_user
from tests.scim.test_hostile import PATCH, USER, scim_error, user_count

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
SERVED = {"schemas", "id", "meta", "userName", "name", "displayName", "active", "emails", "externalId"}


def entra_user(user_name: str, **changes: Any) -> dict[str, Any]:
    """A user as Microsoft Entra ID's default mappings for a custom SCIM app send it (manager as the id alone)."""
    return {
        "schemas": [USER, ENTERPRISE], "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef", "userName": user_name,
        "active": True, "meta": {"resourceType": "User"}, "roles": [],
        "emails": [{"primary": True, "type": "work", "value": user_name}],
        "name": {"formatted": "Ada Lovelace", "familyName": "Lovelace", "givenName": "Ada"},
        "title": "Analyst", "preferredLanguage": "en-GB", "locale": "en-GB", "timezone": "Europe/London",
        "addresses": [{"type": "work", "formatted": "1 Main St", "streetAddress": "1 Main St", "locality": "London",
                       "region": "LDN", "postalCode": "N1 1AA", "country": "GB", "primary": True}],
        "phoneNumbers": [{"type": "work", "value": "+44 20 7946 0000"}, {"type": "mobile", "value": "07700 900000"},
                         {"type": "fax", "value": "+44 20 7946 0001"}],
        ENTERPRISE: {"employeeNumber": "100009", "department": "Engines", "costCenter": "42",
                     "manager": "2819c223-7f76-453a-919d-413861904646"},
        **changes,
    }


def without_meta(resource: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in resource.items() if key != "meta"}


def test_an_entra_post_creates_the_user_from_what_the_hub_stores(scim: Scim) -> None:
    answer = scim("POST", "/Users", json=entra_user("ada@partner.example"))
    assert answer.status_code == 201, answer.text
    served = answer.json()
    assert set(served) == SERVED and served["schemas"] == [USER]
    assert served["name"] == {"givenName": "Ada", "familyName": "Lovelace"}
    assert served["displayName"] == "Ada Lovelace"  # name.formatted, there being no displayName
    assert served["emails"] == [{"value": "ada@partner.example"}]
    assert served["externalId"] == "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"
    fetched = scim("GET", f"/Users/{served['id']}").json()
    assert without_meta(fetched) == without_meta(served)
    # The same instant, written the same way (UTC with its zone), whichever database handed it back.
    assert fetched["meta"]["created"] == served["meta"]["created"] and served["meta"]["created"].endswith("Z")
    with scim.hub.context() as session:
        row = session.get(User, int(served["id"]))
        assert (row.email, row.given_name, row.family_name, row.status) == (
            "ada@partner.example", "Ada", "Lovelace", "active")
        assert session.scalar(select(LmsAccount.external_id)) == "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"


def test_an_entra_patch_of_ignored_attributes_changes_nothing_it_stores(scim: Scim) -> None:
    ada = new_user(scim, "ada@partner.example", displayName="Ada")
    before = scim("GET", f"/Users/{ada['id']}")
    answer = scim("PATCH", f"/Users/{ada['id']}", json={"schemas": [PATCH], "Operations": [
        {"op": "Replace", "path": "title", "value": "Engineer"},
        {"op": "Replace", "path": 'phoneNumbers[type eq "mobile"].value', "value": "07700 900001"},
        {"op": "Add", "path": 'addresses[type eq "work"].streetAddress', "value": "2 Main St"},
        {"op": "Replace", "path": f"{ENTERPRISE}:department", "value": "Analytical Engines"},
        {"op": "Add", "path": f"{ENTERPRISE}:manager", "value": "2819c223-7f76-453a-919d-413861904646"},
        {"op": "Replace", "value": {f"{ENTERPRISE}:employeeNumber": "100010", "preferredLanguage": "fr"}},
        {"op": "Remove", "path": 'phoneNumbers[type eq "fax"]'},
    ]})
    assert answer.status_code == 200, answer.text
    assert without_meta(answer.json()) == without_meta(before.json())
    assert answer.headers["ETag"] == before.headers["ETag"]
    # Mixed with an attribute the hub keeps, only that one changes.
    answer = scim("PATCH", f"/Users/{ada['id']}", json={"schemas": [PATCH], "Operations": [
        {"op": "Replace", "value": {"displayName": "Ada L.", "title": "Countess",
                                    ENTERPRISE: {"department": "Poetry", "manager": "someone"}}}]})
    assert answer.status_code == 200, answer.text
    assert without_meta(answer.json()) == {**without_meta(before.json()), "displayName": "Ada L."}
    with scim.hub.context() as session:
        assert session.get(User, int(ada["id"])).name == "Ada L."


def test_an_entra_put_replaces_what_the_hub_stores_and_ignores_the_rest(scim: Scim) -> None:
    ada = new_user(scim, "ada@partner.example", external_id="lms-1", displayName="Ada")
    answer = scim("PUT", f"/Users/{ada['id']}", json=entra_user(
        "ada@lovelace.example", displayName="Augusta Ada King", name={"givenName": "Augusta", "familyName": "King"},
        externalId="lms-2", title="Countess", **{ENTERPRISE: {"department": "Poetry", "manager": {"value": "7"}}}))
    assert answer.status_code == 200, answer.text
    served = answer.json()
    assert set(served) == SERVED and served["schemas"] == [USER]
    assert (served["userName"], served["displayName"], served["name"], served["externalId"]) == (
        "ada@lovelace.example", "Augusta Ada King", {"givenName": "Augusta", "familyName": "King"}, "lms-2")
    with scim.hub.context() as session:
        row = session.get(User, int(ada["id"]))
        assert (row.email, row.name, row.given_name, row.family_name) == (
            "ada@lovelace.example", "Augusta Ada King", "Augusta", "King")


def test_attributes_and_urns_no_schema_defines_are_still_invalid_syntax(scim: Scim) -> None:
    for refused in (
        {"favouriteColour": "blue"},  # a typo or a custom attribute: no schema defines it
        {"name": {"givenName": "Ada", "nickname": "A"}},
        {ENTERPRISE: {"department": "Engines", "favouriteColour": "blue"}},
        {ENTERPRISE: {"manager": {"value": "7", "favouriteColour": "blue"}}},
        {"urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User": {"tag": "701984"}},
        {"schemas": [USER, ENTERPRISE, "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"]},
    ):
        scim_error(scim("POST", "/Users", json=entra_user("ada@partner.example", **refused)), 400, "invalidSyntax")
    assert user_count(scim.hub) == 0
    ada = new_user(scim, "ada@partner.example")
    before = scim("GET", f"/Users/{ada['id']}").json()
    scim_error(scim("PUT", f"/Users/{ada['id']}", json=entra_user("ada@partner.example", favouriteColour="blue")),
               400, "invalidSyntax")
    scim_error(scim("PUT", f"/Users/{ada['id']}", json=entra_user(
        "ada@partner.example", schemas=[USER, "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"])),
        400, "invalidSyntax")
    for operation in ({"op": "Replace", "path": "favouriteColour", "value": "blue"},
                      {"op": "Replace", "path": f"{ENTERPRISE}:favouriteColour", "value": "blue"},
                      {"op": "Replace", "path": "urn:example:scim:extension:x:2.0:User:tag", "value": "1"},
                      {"op": "Replace", "value": {"displayName": "Changed", "favouriteColour": "blue"}}):
        answer = scim("PATCH", f"/Users/{ada['id']}", json={"schemas": [PATCH], "Operations": [operation]})
        assert answer.status_code == 400, (operation, answer.text)
    assert scim("GET", f"/Users/{ada['id']}").json() == before


def test_discovery_still_publishes_only_what_the_hub_stores(scim: Scim) -> None:
    schemas = scim("GET", "/Schemas").json()["Resources"]
    assert ENTERPRISE not in [schema["id"] for schema in schemas]
    user = next(schema for schema in schemas if schema["id"] == USER)
    assert {attribute["name"] for attribute in user["attributes"]} == {
        "userName", "name", "displayName", "active", "emails", "groups"}
    assert "schemaExtensions" not in scim("GET", "/ResourceTypes/User").json()
    scim_error(scim("GET", f"/Schemas/{ENTERPRISE}"), 404)
