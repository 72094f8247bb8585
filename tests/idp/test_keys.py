"""Signing key rotation while tokens are live: the RP verifies old and new ID tokens against JWKS."""
from __future__ import annotations

import json

import requests
from click.testing import CliRunner

from hub.cli import main
from tests.idp.conftest import Lms


def _kids(lms: Lms) -> list[str]:
    return [k["kid"] for k in requests.get(f"{lms.live.url}/oauth/jwks").json()["keys"]]


def _key_states(lms: Lms) -> dict[str, str]:
    result = CliRunner().invoke(main, ["key", "list", "--json"], env=lms.live.env)
    assert result.exit_code == 0, result.output
    return {row["kid"]: row["state"] for row in json.loads(result.output)}


def test_rotation_publishes_before_signing_and_keeps_the_old_key(lms: Lms) -> None:
    first = lms.sign_in()
    old = lms.rp.ok("verify_id_token", id_token=first["id_token"])["kid"]
    states = _key_states(lms)
    upcoming = next(kid for kid, state in states.items() if state == "next")
    assert states[old] == "current" and upcoming in _kids(lms)  # published before it signs

    rotated = CliRunner().invoke(main, ["key", "rotate"], env=lms.live.env)
    assert rotated.exit_code == 0, rotated.output
    assert f"signing with {upcoming}" in rotated.output

    second = lms.sign_in()
    new = lms.rp.ok("verify_id_token", id_token=second["id_token"])["kid"]
    assert new == upcoming != old
    assert old in _kids(lms)  # retired, still published while its tokens live
    assert lms.rp.ok("verify_id_token", id_token=first["id_token"])["kid"] == old
    # The refresh of the old grant is signed by the new key, and the RP accepts it.
    refreshed = lms.rp.ok("refresh", refresh_token=first["refresh_token"])
    assert lms.rp.ok("verify_id_token", id_token=refreshed["id_token"])["kid"] == new
    assert _key_states(lms)[old] == "retired" and len(_kids(lms)) == 3
