"""`hub source ...` as an admin runs it, and the secrets it prints working against the live endpoint."""
from __future__ import annotations

import json

from click.testing import CliRunner, Result

from hub.cli import main
from hub.models import AuditEvent
from tests.live import LiveHub
from tests.webhooks.helpers import COMPLETED, send


def run(live: LiveHub, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=live.env)


def ok(live: LiveHub, *args: str) -> Result:
    result = run(live, *args)
    assert result.exit_code == 0, result.output
    return result


def test_add_prints_a_secret_once_that_signs_events(live: LiveHub) -> None:
    added = ok(live, "source", "add", "moodle", "--all-orgs", "--home-page", "https://lms.example.edu")
    secret = added.stdout.strip()
    assert secret.startswith("whsec_")
    assert f"{live.url}/webhooks/lms/moodle" in added.stderr
    assert send(live, secret, COMPLETED).status_code == 202
    listing = ok(live, "source", "list", "--json")
    assert secret not in listing.output
    [row] = json.loads(listing.output)
    assert row["name"] == "moodle" and row["enabled"] is True and row["webhook_secrets"] == 1
    assert row["home_page"] == "https://lms.example.edu" and row["xapi"] is False
    assert "moodle" in ok(live, "source", "list").output and secret not in ok(live, "source", "list").output
    with live.context() as session:
        assert session.query(AuditEvent).filter_by(action="source.add").count() == 1


def test_rotate_keeps_old_secrets_until_retired(live: LiveHub) -> None:
    old = ok(live, "source", "add", "moodle", "--all-orgs").stdout.strip()
    new = ok(live, "source", "rotate", "moodle").stdout.strip()
    assert new.startswith("whsec_") and new != old
    assert json.loads(ok(live, "source", "list", "--json").output)[0]["webhook_secrets"] == 2
    assert send(live, old, COMPLETED).status_code == 202
    assert send(live, new, COMPLETED).status_code == 202
    assert "1 old secret(s) retired" in ok(live, "source", "retire-secrets", "moodle").output
    assert send(live, old, COMPLETED).status_code == 401
    assert send(live, new, COMPLETED).status_code == 202
    assert json.loads(ok(live, "source", "list", "--json").output)[0]["webhook_secrets"] == 1


def test_disable_and_enable(live: LiveHub) -> None:
    secret = ok(live, "source", "add", "moodle", "--all-orgs").stdout.strip()
    ok(live, "source", "disable", "moodle")
    assert send(live, secret, COMPLETED).status_code == 401
    ok(live, "source", "enable", "moodle")
    assert send(live, secret, COMPLETED).status_code == 202


def test_bad_input_is_a_clear_error(live: LiveHub) -> None:
    ok(live, "source", "add", "moodle", "--all-orgs")
    for args, message in [
        (("source", "add", "moodle", "--all-orgs"), "already exists"),
        (("source", "add", "Bad Name", "--all-orgs"), "lowercase letters"),
        (("source", "add", "x", "--all-orgs", "--home-page", "lms.example.edu"), "--home-page"),
        (("source", "rotate", "nobody"), "no source named 'nobody'"),
        (("source", "retire-secrets", "nobody"), "no source named 'nobody'"),
        (("source", "disable", "nobody"), "no source named 'nobody'"),
    ]:
        result = run(live, *args)
        assert result.exit_code == 1, result.output
        assert message in result.output and "Traceback" not in result.output
    assert len(json.loads(ok(live, "source", "list", "--json").output)) == 1
