"""LMS sources behind the wall: a source's webhooks and xAPI statements reach only the learners of its organisations.

An event about anyone else is stored (the LMS gets its 2xx and does not retry), resolves no user, plans nothing,
and is audited under the learner's organisation. Sources older than tenancy keep reaching every organisation,
flagged by `hub source list`, until `hub source scope` narrows them.
"""
from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import requests
from click.testing import CliRunner, Result
from sqlalchemy import select

from hub import db, sources
from hub.cli import main
from hub.models import AuditEvent, Delivery, Event, LmsAccount
from hub.sharing import dispatch, planner
from tests.live import LiveHub
from tests.tenancy.conftest import Side, Wall
from tests.webhooks.helpers import add_source, event, send
from tests.webhooks.xapi.helpers import openedx
from webhooks.xapi.auth import issue_credentials


# --- helpers ---------------------------------------------------------------------------------------------------------
def about(side: Side) -> dict[str, Any]:
    """A signed course.completed event naming side's learner by email."""
    return event(user={"email": side.learner_email, "external_id": f"{side.key}-1042", "name": "Someone"})


def plan(live: LiveHub) -> None:
    """One dispatcher planning pass, as a worker runs it."""
    with live.app.app_context():
        dispatch.plan_new(db.session())


def stored(live: LiveHub, source_name: str, external_id: str) -> Event:
    with live.context() as session:
        source = sources.find_source(session, source_name)
        found = session.scalar(select(Event).where(Event.source_id == source.id, Event.external_id == external_id))
        assert found is not None, f"{source_name} stored no event {external_id}"
        session.expunge(found)
        return found


def deliveries_of(live: LiveHub, event_id: int) -> list[Delivery]:
    with live.context() as session:
        rows = list(session.scalars(select(Delivery).where(Delivery.event_id == event_id)))
        session.expunge_all()
        return rows


def refusals(live: LiveHub) -> list[AuditEvent]:
    with live.context() as session:
        rows = list(session.scalars(select(AuditEvent).where(AuditEvent.action == "event.outside_source")
                                    .order_by(AuditEvent.id)))
        session.expunge_all()
        return rows


def assert_refused(live: LiveHub, source_name: str, external_id: str, victim: Side) -> None:
    """Stored, unlinked from the learner, planned into nothing, audited under the learner's organisation."""
    row = stored(live, source_name, external_id)
    assert row.planned_at is not None and row.user_id is None
    assert deliveries_of(live, row.id) == []
    [audit] = [a for a in refusals(live) if a.detail.get("event_id") == row.id]
    assert audit.reason == planner.OUTSIDE_SOURCE == "learner outside the source's organisations"
    assert audit.outcome == "ignored" and audit.actor == f"source:{source_name}"
    assert audit.org_id == victim.org_id and audit.user_id == victim.learner_id


def assert_planned(live: LiveHub, source_name: str, external_id: str, side: Side) -> None:
    """The event resolved side's learner and planned the delivery of side's rule."""
    row = stored(live, source_name, external_id)
    assert row.user_id == side.learner_id
    [delivery] = deliveries_of(live, row.id)
    assert (delivery.rule_id, delivery.org_id, delivery.user_id) == (side.rule_id, side.org_id, side.learner_id)
    assert not [a for a in refusals(live) if a.detail.get("event_id") == row.id]


def cli(live: LiveHub, *args: str) -> Result:
    result = CliRunner().invoke(main, list(args), env=live.env)
    assert result.exit_code == 0, result.output
    return result


# --- webhooks --------------------------------------------------------------------------------------------------------
def test_source_b_webhook_about_a_learner_of_a_is_stored_answered_and_plans_nothing(wall: Wall) -> None:
    live = wall.live
    answer = send(live, wall.b.source_secret, about(wall.a), source=wall.b.source_name, msg_id="msg_across")
    assert answer.status_code == 202, answer.text  # the LMS hears nothing different: it must not retry
    plan(live)
    assert_refused(live, wall.b.source_name, "msg_across", victim=wall.a)
    # A replay is the same stored event: still 2xx, still nothing planned, not audited twice.
    again = send(live, wall.b.source_secret, about(wall.a), source=wall.b.source_name, msg_id="msg_across")
    assert again.status_code == 200 and again.json()["duplicate"] is True
    plan(live)
    assert len(refusals(live)) == 1


def test_source_a_webhook_about_its_own_learner_plans_the_delivery(wall: Wall) -> None:
    live = wall.live
    answer = send(live, wall.a.source_secret, about(wall.a), source=wall.a.source_name, msg_id="msg_inside")
    assert answer.status_code == 202, answer.text
    plan(live)
    assert_planned(live, wall.a.source_name, "msg_inside", wall.a)
    assert refusals(live) == []


def test_an_all_orgs_source_reaches_both_organisations(wall: Wall) -> None:
    live = wall.live
    secret = add_source(live, "district")  # --all-orgs
    for side in (wall.a, wall.b):
        assert send(live, secret, about(side), source="district", msg_id=f"msg_{side.key}").status_code == 202
    plan(live)
    assert_planned(live, "district", "msg_a", wall.a)
    assert_planned(live, "district", "msg_b", wall.b)


# --- xAPI ------------------------------------------------------------------------------------------------------------
def xapi_auth(live: LiveHub, source_name: str) -> str:
    """Give the source xAPI credentials (as `hub source add --xapi` does); its Basic Authorization header."""
    with live.context() as session:
        credentials = issue_credentials(sources.find_source(session, source_name))
        session.commit()
    return "Basic " + base64.b64encode(f"{credentials.key}:{credentials.secret}".encode()).decode()


def passed(actor: dict[str, Any]) -> dict[str, Any]:
    """Open edX's `passed` statement (a course completion) about actor, with an id of its own."""
    statement = openedx("passed")
    statement["actor"] = {"objectType": "Agent", **actor}
    statement["id"] = str(uuid.uuid4())
    return statement


def post_statement(live: LiveHub, authorization: str, statement: dict[str, Any]) -> str:
    answer = requests.post(f"{live.url}/xapi/statements", data=json.dumps([statement]), timeout=10,
                           headers={"Authorization": authorization, "X-Experience-API-Version": "1.0.3",
                                    "Content-Type": "application/json"})
    assert answer.status_code == 200, answer.text  # 2xx whoever it names: the LRS client must not resend
    [statement_id] = answer.json()
    return str(statement_id)


def test_xapi_from_source_b_about_a_learner_of_a_plans_nothing_by_email_or_by_account(wall: Wall) -> None:
    live = wall.live
    with live.context() as session:  # A's LMS knows its learner as a-7 (learned from A's SCIM, say)
        session.add(LmsAccount(user_id=wall.a.learner_id, home_page="https://lms-a.example", external_id="a-7"))
        session.commit()
    b = xapi_auth(live, wall.b.source_name)
    by_email = post_statement(live, b, passed({"mbox": f"mailto:{wall.a.learner_email}"}))
    # Naming A's learner by A's own LMS account id: the intake resolves it, the planner still refuses it.
    by_account = post_statement(live, b, passed({"account": {"homePage": "https://lms-a.example", "name": "a-7"}}))
    plan(live)
    assert_refused(live, wall.b.source_name, by_email, victim=wall.a)
    assert_refused(live, wall.b.source_name, by_account, victim=wall.a)


def test_xapi_from_source_a_about_its_own_learner_plans_the_delivery(wall: Wall) -> None:
    live = wall.live
    statement_id = post_statement(live, xapi_auth(live, wall.a.source_name),
                                  passed({"mbox": f"mailto:{wall.a.learner_email}"}))
    plan(live)
    assert_planned(live, wall.a.source_name, statement_id, wall.a)


# --- sources older than tenancy ---------------------------------------------------------------------------------------
def test_a_migrated_source_is_flagged_keeps_working_and_scope_narrows_it(wall: Wall) -> None:
    live = wall.live
    secret = add_source(live, "legacy")
    with live.context() as session:  # what migration 0008 made of a source that existed before tenancy
        sources.find_source(session, "legacy").all_orgs_by_migration = True
        session.commit()

    listing = cli(live, "source", "list")
    assert "warning" in listing.stderr and "legacy" in listing.stderr and "hub source scope" in listing.stderr
    assert wall.a.source_name not in listing.stderr  # scoped sources are not flagged
    rows = {row["name"]: row for row in json.loads(cli(live, "source", "list", "--json").stdout)}
    assert rows["legacy"]["all_orgs_by_migration"] is True and rows["legacy"]["orgs"] == "all"
    assert rows[wall.a.source_name]["all_orgs_by_migration"] is False
    assert rows[wall.a.source_name]["orgs"] == [wall.a.org_name]

    # Kept working as --all-orgs until narrowed.
    assert send(live, secret, about(wall.b), source="legacy", msg_id="msg_before").status_code == 202
    plan(live)
    assert_planned(live, "legacy", "msg_before", wall.b)

    assert "reaches Org A" in cli(live, "source", "scope", "legacy", "--org", wall.a.org_name).stdout
    listing = cli(live, "source", "list")
    assert "legacy" not in listing.stderr
    rows = {row["name"]: row for row in json.loads(cli(live, "source", "list", "--json").stdout)}
    assert rows["legacy"]["all_orgs_by_migration"] is False and rows["legacy"]["orgs"] == [wall.a.org_name]

    assert send(live, secret, about(wall.b), source="legacy", msg_id="msg_after_b").status_code == 202
    assert send(live, secret, about(wall.a), source="legacy", msg_id="msg_after_a").status_code == 202
    plan(live)
    assert_refused(live, "legacy", "msg_after_b", victim=wall.b)
    assert_planned(live, "legacy", "msg_after_a", wall.a)
