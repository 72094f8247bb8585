"""`hub client subjects`: email -> sub for an LMS that pre-links its accounts, within the organisations named, with
the sub a later sign-in carries."""
from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner, Result
from sqlalchemy import func, select

from hub.cli import main
from hub.idp import clients
from hub.models import AuditEvent, Erasure, IdpSubject, Organisation, OrgPolicy, User, UserStatus
from tests.idp.conftest import Lms
from tests.live import LiveHub


def run(live: LiveHub, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=live.env)


def people(live: LiveHub) -> dict[str, int]:
    """Two organisations with their members, one disabled, one erased, one in no organisation; a client."""
    with live.context() as session:
        partner, other = (Organisation(name=n, policy=OrgPolicy.INVITE) for n in ("Partner", "Other"))
        session.add_all([partner, other])
        session.flush()
        rows = {
            "ada": User(email="ada@partner.example", email_verified=True, org_id=partner.id),
            "tess": User(email="test.user@okta.local", email_verified=True, org_id=partner.id),
            "dan": User(email="dan@partner.example", email_verified=True, org_id=partner.id,
                        status=UserStatus.DISABLED),
            "eli": User(email="eli@partner.example", email_verified=True, org_id=partner.id),
            "olga": User(email="olga@other.example", email_verified=True, org_id=other.id),
            "nomad": User(email="nomad@nowhere.example", email_verified=True),
        }
        session.add_all(rows.values())
        session.flush()
        session.add(Erasure(user_id=rows["eli"].id, pseudonym="x" * 64))
        clients.add(session, "Moodle", ["https://lms.example.edu/auth/oidc/callback"])
        session.commit()
        return {name: row.id for name, row in rows.items()}


def exported(result: Result) -> dict[str, str]:
    assert result.exit_code == 0, result.output
    rows: list[dict[str, Any]] = json.loads(result.output)
    return {row["email"]: row["sub"] for row in rows}


def test_an_organisation_exports_its_active_members_only_and_makes_their_subs(live: LiveHub) -> None:
    ids = people(live)
    subs = exported(run(live, "client", "subjects", "Moodle", "--org", "Partner", "--json"))
    assert set(subs) == {"ada@partner.example", "test.user@okta.local"}  # not disabled, erased or another org's
    with live.context() as session:
        stored = dict(session.execute(select(IdpSubject.user_id, IdpSubject.sub)).tuples().all())
        assert stored == {ids["ada"]: subs["ada@partner.example"], ids["tess"]: subs["test.user@okta.local"]}
        audit = session.scalar(select(AuditEvent).where(AuditEvent.action == "idp.client.subjects"))
        assert audit is not None and audit.detail["users"] == 2 and audit.detail["orgs"] == ["Partner"]
    # Run again: the same subs, none made twice.
    assert exported(run(live, "client", "subjects", "Moodle", "--org", "Partner", "--json")) == subs
    table = run(live, "client", "subjects", "Moodle", "--org", "Partner")
    assert table.exit_code == 0 and table.output.splitlines()[0].split() == ["EMAIL", "SUB"]
    assert subs["ada@partner.example"] in table.output


def test_the_wall_other_organisations_and_all_orgs(live: LiveHub) -> None:
    people(live)
    other = exported(run(live, "client", "subjects", "Moodle", "--org", "Other", "--json"))
    assert set(other) == {"olga@other.example"}
    both = exported(run(live, "client", "subjects", "Moodle", "--org", "Partner", "--org", "Other", "--json"))
    assert set(both) == {"ada@partner.example", "test.user@okta.local", "olga@other.example"}
    everyone = exported(run(live, "client", "subjects", "Moodle", "--all-orgs", "--json"))
    assert exported(run(live, "client", "subjects", "Moodle", "--json")) == everyone  # the form: every org
    assert set(everyone) == set(both) | {"nomad@nowhere.example"}
    assert everyone["olga@other.example"] == other["olga@other.example"]


def test_refusals_say_why_and_make_nothing(live: LiveHub) -> None:
    people(live)
    for args, why in ((["Moodle", "--org", "Partner", "--all-orgs"], "not both"),
                      (["Moodle", "--org", "Nope"], "no organisation called 'Nope'"),
                      (["Canvas", "--all-orgs"], "no client named 'Canvas'")):
        result = run(live, "client", "subjects", *args)
        assert result.exit_code == 1 and why in result.output and "Traceback" not in result.output, result.output
    assert run(live, "client", "revoke", "Moodle").exit_code == 0
    revoked = run(live, "client", "subjects", "Moodle", "--all-orgs")
    assert revoked.exit_code == 1 and "revoked" in revoked.output
    with live.context() as session:
        assert session.scalar(select(func.count()).select_from(IdpSubject)) == 0


def test_a_later_sign_in_carries_the_exported_sub(lms: Lms) -> None:
    """The LMS links its account to the exported sub; the user's first sign-in through the hub must match it."""
    with lms.live.context() as session:
        partner = Organisation(name="Partner", policy=OrgPolicy.INVITE)
        session.add(partner)
        session.flush()
        session.add(User(email="ada@partner.example", email_verified=True, org_id=partner.id))
        session.commit()
    subs = exported(run(lms.live, "client", "subjects", "Moodle", "--org", "Partner", "--json"))
    tokens = lms.sign_in()
    assert tokens["claims"]["sub"] == subs["ada@partner.example"]
