"""Microsoft Entra ID's and Okta's published SCIM request sequences, replayed over HTTP against the live hub.

The requests are the vendors' own examples (tests/scim/replays/*.json say where each comes from), in the order their
provisioning services send them: find the user by userName, create, read, change, deactivate with active=false,
create a group, add and remove members. Each step states the answer the vendor's service needs; each test then
checks what the hub stored.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from hub.models import LmsAccount, Organisation, User, UserStatus
from hub.models.scim import ScimVersion
from tests.scim.conftest import HOME_PAGE, Scim

REPLAYS = Path(__file__).parent / "replays"


def _filled(value: Any, saved: dict[str, str]) -> Any:
    """The value with every {name} the replay saved replaced by the id the hub answered with."""
    if isinstance(value, str):
        for name, found in saved.items():
            value = value.replace("{" + name + "}", found)
        return value
    if isinstance(value, list):
        return [_filled(item, saved) for item in value]
    if isinstance(value, dict):
        return {key: _filled(item, saved) for key, item in value.items()}
    return value


def _holds(actual: Any, expected: Any, where: str = "") -> None:
    """Objects hold at least the expected keys; lists hold exactly as many entries, each holding its expected one."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: {actual!r} is not an object"
        for key, item in expected.items():
            assert key in actual, f"{where}: {key} missing from {actual!r}"
            _holds(actual[key], item, f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{where}: {actual!r} != {expected!r}"
        for index, (got, wanted) in enumerate(zip(actual, expected, strict=True)):
            _holds(got, wanted, f"{where}[{index}]")
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


def replay(scim: Scim, name: str) -> dict[str, str]:
    """Send the replay's steps in order, checking each answer; the ids it saved, by name."""
    saved: dict[str, str] = {}
    for number, step in enumerate(json.loads((REPLAYS / f"{name}.json").read_text())["steps"], 1):
        label = f"{name} step {number} ({step['note']})"
        body = _filled(step.get("body"), saved)
        answer = scim(step["method"], _filled(step["path"], saved), **({"json": body} if body is not None else {}))
        assert answer.status_code == step["status"], f"{label}: {answer.status_code} {answer.text}"
        if answer.status_code == 204:
            continue
        served = answer.json()
        _holds(served, _filled(step.get("expect", {}), saved), label)
        for key in step.get("absent", []):
            assert key not in served, f"{label}: {key} in {served!r}"
        saved.update({key: served[field] for key, field in step.get("save", {}).items()})
    return saved


def test_entra_ids_sequence(scim: Scim) -> None:
    saved = replay(scim, "entra")
    with scim.hub.context() as session:
        user, second = session.get(User, int(saved["user"])), session.get(User, int(saved["second"]))
        group = session.get(Organisation, int(saved["group"]))
        assert (user.email, user.family_name, user.status) == (
            "updatedEmail@microsoft.com", "updatedFamilyName", UserStatus.DISABLED)
        renamed = "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"
        assert session.get(ScimVersion, ("User", user.id)).user_name == renamed
        # Removed from the group by Entra's {"$ref": null, "value": id}; the other member stays.
        assert user.org_id is None and second.org_id == group.id
        assert group.name == "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"
        assert session.get(ScimVersion, ("Group", group.id)).external_id == "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159"
        assert (second.email, second.status) == ("Test_User_8e0a6d3b@corp.local", UserStatus.ACTIVE)
        accounts = dict(session.execute(select(LmsAccount.external_id, LmsAccount.user_id).where(
            LmsAccount.home_page == HOME_PAGE)).tuples().all())
        assert accounts == {"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef": user.id,
                            "6d2bd0c5-2b19-4bd8-9a3a-4a8a39f2f6d1": second.id}


def test_okta_sequence(scim: Scim) -> None:
    saved = replay(scim, "okta")
    with scim.hub.context() as session:
        user = session.get(User, int(saved["user"]))
        assert (user.email, user.name, user.given_name, user.status) == (
            "test.user@okta.local", "Another User", "Another", UserStatus.DISABLED)
        assert user.email_verified and user.email_from_scim
        # The group went with DELETE; its member stayed, in no organisation.
        assert user.org_id is None and session.get(Organisation, int(saved["group"])) is None
        assert session.scalar(select(LmsAccount.external_id).where(LmsAccount.user_id == user.id)) == \
            "00ujl29u0le5T6Aj10h7"


def test_okta_sent_again_from_the_top_finds_the_user_and_does_not_duplicate_it(scim: Scim) -> None:
    """Okta resuming after a failure sends its sequence again: the lookup by userName now finds the user (so Okta
    links instead of creating), and a second POST is a uniqueness error, never a second row."""
    replay(scim, "okta")
    steps = json.loads((REPLAYS / "okta.json").read_text())["steps"]
    lookup, create = steps[1], next(step for step in steps if step["method"] == "POST")
    assert scim("GET", lookup["path"]).json()["totalResults"] == 1
    again = scim("POST", "/Users", json=create["body"])
    assert again.status_code == 409 and again.json()["scimType"] == "uniqueness", again.text
    with scim.hub.context() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 1
