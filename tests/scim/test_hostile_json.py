"""SCIM bodies nested past json_input.MAX_DEPTH, or past the hub's size ceiling: a SCIM Error, never a 500, and
nothing changes."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from hub.app import MAX_REQUEST_BYTES
from hub.json_input import MAX_DEPTH
from hub.models import Organisation
from tests.live import LiveHub
from tests.raw_http import announce_body
from tests.scim.conftest import Scim, new_user
from tests.scim.test_hostile import USER, scim_error, user_count

GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
NESTED = "[" * 100_000


def group_count(hub: LiveHub) -> int:
    with hub.context() as session:
        return session.scalar(select(func.count()).select_from(Organisation)) or 0


@pytest.mark.parametrize("data", [NESTED, '{"schemas": ' + "[" * 100_000,
                                  json.dumps({"schemas": [USER], "userName": "b@partner.example",
                                              "x": json.loads("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))})])
def test_a_body_nested_too_deep_is_invalid_syntax_on_every_write_and_changes_nothing(scim: Scim, data: str) -> None:
    ada = new_user(scim, "ada@partner.example")
    team = scim("POST", "/Groups", json={"schemas": [GROUP], "displayName": "Team"}).json()
    before = scim("GET", f"/Users/{ada['id']}").json(), scim("GET", f"/Groups/{team['id']}").json()
    for method, path in [("POST", "/Users"), ("PUT", f"/Users/{ada['id']}"), ("PATCH", f"/Users/{ada['id']}"),
                         ("POST", "/Users/.search"), ("POST", "/Groups"), ("PUT", f"/Groups/{team['id']}"),
                         ("PATCH", f"/Groups/{team['id']}"), ("POST", "/Groups/.search")]:
        body = scim_error(scim(method, path, data=data), 400, "invalidSyntax")
        assert "nest" in body["detail"] and f"at most {MAX_DEPTH}" in body["detail"], (method, path, body)
    assert (scim("GET", f"/Users/{ada['id']}").json(), scim("GET", f"/Groups/{team['id']}").json()) == before
    assert user_count(scim.hub) == 1 and group_count(scim.hub) == 1


def test_a_body_nested_to_the_limit_is_parsed(scim: Scim) -> None:
    deep = json.loads("[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1))  # one level more inside the body's object
    answer = scim("POST", "/Users", json={"schemas": [USER], "userName": "ada@partner.example", "x": deep})
    scim_error(answer, 400, "invalidSyntax")  # refused as an attribute the schema lacks, not for its depth
    assert "nest" not in answer.json()["detail"]


def test_a_body_past_the_hubs_ceiling_is_a_scim_413(scim: Scim) -> None:
    answer = announce_body(scim.hub.url, "POST", "/scim/v2/Users", MAX_REQUEST_BYTES * 4, {
        "Authorization": scim.http.headers["Authorization"], "Content-Type": "application/scim+json"})
    assert answer.status == 413 and answer.content_type.startswith("application/scim+json")
    body = json.loads(answer.body)
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"] and body["status"] == "413"
    assert str(MAX_REQUEST_BYTES) in body["detail"]
    assert user_count(scim.hub) == 0
