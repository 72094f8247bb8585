"""A SCIM Group is an organisation: its displayName is a name people see, so it refuses control and text-direction
characters (hub.names) as invalidValue, and a refused write changes nothing."""
from __future__ import annotations

from tests.scim.conftest import Scim
from tests.scim.test_hostile import scim_error
from tests.scim.test_hostile_json import GROUP, group_count

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def test_a_group_name_with_an_override_is_invalid_value(scim: Scim) -> None:
    body = scim_error(scim("POST", "/Groups", json={"schemas": [GROUP], "displayName": "Team\u202emaet"}),
                      400, "invalidValue")
    assert body["detail"] == ("displayName must not contain control or text-direction characters "
                              "(U+202E at character 5)")
    team = scim("POST", "/Groups", json={"schemas": [GROUP], "displayName": "Team"}).json()
    scim_error(scim("PATCH", f"/Groups/{team['id']}", json={
        "schemas": [PATCH], "Operations": [{"op": "replace", "path": "displayName", "value": "Te\u200bam"}]}),
        400, "invalidValue")
    scim_error(scim("PUT", f"/Groups/{team['id']}", json={"schemas": [GROUP], "displayName": "Te\nam"}),
               400, "invalidValue")
    assert scim("GET", f"/Groups/{team['id']}").json()["displayName"] == "Team"
    assert group_count(scim.hub) == 1
