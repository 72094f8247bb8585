"""The CLI paths that draw the wall: organisation admins, and SCIM tokens and sources that name their
organisations (or say --all-orgs), with those the migration kept as all-orgs flagged for narrowing."""
from __future__ import annotations

import json

from click.testing import CliRunner, Result
from sqlalchemy import func, select, update

from hub import tenancy
from hub.cli import main
from hub.models import ApiToken, ApiTokenOrg, OrgAdmin, Source, SourceOrg, User
from tests.live import LiveHub
from tests.tenancy.conftest import Wall


def run(live: LiveHub, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=live.env)


def ok(live: LiveHub, *args: str) -> Result:
    result = run(live, *args)
    assert result.exit_code == 0, result.output
    return result


def counts(live: LiveHub) -> tuple[int, ...]:
    with live.context() as session:
        return tuple(session.scalar(select(func.count()).select_from(model)) or 0
                     for model in (ApiToken, ApiTokenOrg, Source, SourceOrg, OrgAdmin))


def refused(live: LiveHub, *args: str, message: str) -> None:
    """A clear error, a non-zero exit, and nothing stored."""
    before = counts(live)
    result = run(live, *args)
    assert result.exit_code != 0, result.output
    assert message in result.output and "Traceback" not in result.output, result.output
    assert counts(live) == before


def test_credentials_must_say_which_organisations(wall: Wall) -> None:
    live = wall.live
    for kind in (("token", "create", "--scope", "scim", "--name", "x"), ("source", "add", "x")):
        refused(live, *kind, message="--org NAME (repeatable), or --all-orgs")
        refused(live, *kind, "--org", "Org A", "--all-orgs", message="not both")
        refused(live, *kind, "--org", "Nowhere", message="no organisation called 'Nowhere'")


def test_token_for_two_organisations_is_listed_with_them(wall: Wall) -> None:
    live = wall.live
    secret = ok(live, "token", "create", "--scope", "scim", "--name", "both", "--org", "Org A", "--org", "Org B")
    assert secret.stdout.strip().startswith("hubt_")
    rows = {row["name"]: row for row in json.loads(ok(live, "token", "list", "--json").stdout)}
    assert rows["both"]["orgs"] == ["Org A", "Org B"]
    assert rows["lms-a"]["orgs"] == ["Org A"] and rows["lms-a"]["all_orgs_by_migration"] is False
    ok(live, "token", "create", "--scope", "scim", "--name", "everything", "--all-orgs")
    rows = {row["name"]: row for row in json.loads(ok(live, "token", "list", "--json").stdout)}
    assert rows["everything"]["orgs"] == "all"


def test_migrated_credentials_are_flagged_until_narrowed(wall: Wall) -> None:
    live = wall.live
    with live.context() as session:  # what migration 0008 does to tokens and sources made before tenancy
        session.execute(update(ApiToken).where(ApiToken.name == "lms-b").values(all_orgs=True,
                                                                              all_orgs_by_migration=True))
        session.execute(update(Source).where(Source.name == "lms-b").values(all_orgs=True,
                                                                          all_orgs_by_migration=True))
        session.commit()
        token_id = session.scalar(select(ApiToken.id).where(ApiToken.name == "lms-b"))
    listing = ok(live, "token", "list")
    assert "reach every organisation because they predate" in listing.stderr and "lms-b" in listing.stderr
    assert {r["name"]: r for r in json.loads(ok(live, "token", "list", "--json").stdout)}["lms-b"]["orgs"] == "all"
    assert "lms-b" in ok(live, "source", "list").stderr
    ok(live, "token", "scope", str(token_id), "--org", "Org B")
    ok(live, "source", "scope", "lms-b", "--org", "Org B")
    assert "predate" not in ok(live, "token", "list").stderr
    assert "predate" not in ok(live, "source", "list").stderr
    rows = {r["name"]: r for r in json.loads(ok(live, "source", "list", "--json").stdout)}
    assert rows["lms-b"]["orgs"] == ["Org B"] and rows["lms-b"]["all_orgs_by_migration"] is False
    refused(live, "token", "scope", "999999", "--org", "Org B", message="no token with id 999999")
    refused(live, "source", "scope", "nobody", "--org", "Org B", message="no source named 'nobody'")


def test_organisation_admin_role_granted_and_revoked(wall: Wall) -> None:
    live = wall.live
    ok(live, "user", "admin", wall.a.learner_email, "--org", "Org A")
    with live.context() as session:
        learner = session.get(User, wall.a.learner_id)
        assert tenancy.of_user(session, learner) == tenancy.Reach(False, frozenset({wall.a.org_id}))
        assert not learner.is_admin
    ok(live, "user", "admin", wall.a.learner_email, "--org", "Org A", "--revoke")
    with live.context() as session:
        assert tenancy.of_user(session, session.get(User, wall.a.learner_id)) == tenancy.NOWHERE
    refused(live, "user", "admin", wall.a.learner_email, "--org", "Nowhere", message="no organisation called")
    refused(live, "user", "admin", "nobody@a.example", "--org", "Org A", message="no user with email")


def test_changing_an_organisation_admin_role_ends_their_sessions(wall: Wall) -> None:
    live = wall.live
    assert wall.a.admin.get("/account").status_code == 200
    ok(live, "user", "admin", wall.a.admin_email, "--org", "Org A")  # no change: the session lives on
    assert wall.a.admin.get("/account").status_code == 200
    ok(live, "user", "admin", wall.a.admin_email, "--org", "Org A", "--revoke")
    answer = wall.a.admin.get("/account")
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]
    assert wall.b.admin.get("/account").status_code == 200  # nobody else's
