"""SCIM and hub/emails.py: an identity provider's directory address on a reserved name (Okta's sample
test.user@okta.local, user@corp.local) is an address here as at sign-in; what is not an address is a clear 400 that
changes nothing."""
from __future__ import annotations

import pytest

from tests.scim.conftest import Scim, new_user
from tests.scim.test_hostile import PATCH, USER, scim_error, user_count


@pytest.mark.parametrize("address", ["test.user@okta.local", "user@corp.local", "admin@intranet"])
def test_directory_addresses_are_taken_and_found(scim: Scim, address: str) -> None:
    created = new_user(scim, address)
    assert created["emails"] == [{"value": address}]
    found = scim("GET", "/Users", params={"filter": f'emails[type eq "work"].value eq "{address.upper()}"'}).json()
    assert [r["id"] for r in found["Resources"]] == [created["id"]]


@pytest.mark.parametrize("bad", ["not-an-email", "ada@", "ada lovelace@partner.example", "a@b..local"])
def test_an_email_that_is_not_an_address_is_invalid_value_naming_it(scim: Scim, bad: str) -> None:
    answer = scim("POST", "/Users", json={"schemas": [USER], "userName": "ada", "emails": [{"value": bad}]})
    body = scim_error(answer, 400, "invalidValue")
    assert body["detail"].startswith("emails.0.value") and "not an email address" in body["detail"], body
    assert user_count(scim.hub) == 0


def test_a_patch_to_an_address_that_is_not_one_changes_nothing(scim: Scim) -> None:
    ada = new_user(scim, "test.user@okta.local")
    answer = scim("PATCH", f"/Users/{ada['id']}", json={"schemas": [PATCH], "Operations": [
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "test user@okta.local"}]})
    assert "not an email address" in scim_error(answer, 400, "invalidValue")["detail"]
    assert scim("GET", f"/Users/{ada['id']}").json()["emails"] == [{"value": "test.user@okta.local"}]
    moved = scim("PATCH", f"/Users/{ada['id']}", json={"schemas": [PATCH], "Operations": [
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "Test.User@CORP.local"}]})
    assert moved.status_code == 200 and moved.json()["emails"] == [{"value": "Test.User@corp.local"}], moved.text


def test_a_put_takes_a_directory_address(scim: Scim) -> None:
    ada = new_user(scim, "ada@partner.example")
    answer = scim("PUT", f"/Users/{ada['id']}", json={"schemas": [USER], "userName": "test.user@okta.local"})
    assert answer.status_code == 200 and answer.json()["emails"] == [{"value": "test.user@okta.local"}], answer.text
