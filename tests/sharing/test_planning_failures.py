"""An event whose planning raises is retried with backoff, then failed, listed and replannable; it never blocks the
others and is never left looking planned with nothing planned.

Planning is made to raise for one event by replacing planner.plan with a wrapper that raises for that event's
external id: a fault injection standing in for a planner bug (what a real bug raises is not the point; that the
dispatcher records it, retries it and gives up visibly is). Time moves with the app's clock, never by sleeping.
"""
from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
import sqlalchemy.exc
from click.testing import CliRunner, Result
from sqlalchemy import select

from hub import db
from hub.cli import main
from hub.models import AuditEvent, Delivery, Event
from hub.sharing import dispatch, planner
from tests.clock import movable_clock
from tests.sharing.conftest import World

POISON = "evt-poison"


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


def poison(monkeypatch: pytest.MonkeyPatch, error: type[Exception] = RuntimeError) -> None:
    """Fault injection: planning raises for the POISON event only."""
    real = planner.plan

    def plan(session: Any, event: Event, **kwargs: Any) -> list[int]:
        if event.external_id != POISON:
            return real(session, event, **kwargs)
        if issubclass(error, sqlalchemy.exc.DBAPIError):
            raise error("SELECT 1", {}, Exception("server closed the connection unexpectedly"))
        raise error("planner bug")

    monkeypatch.setattr(planner, "plan", plan)


def plan_new(world: World) -> int:
    with world.app.app_context():
        return dispatch.plan_new(db.session())


def event(world: World, external_id: str) -> Event:
    with world.app.app_context():
        found = db.session().scalar(select(Event).where(Event.external_id == external_id))
        db.session().expunge(found)
        return found


def statuses(hub_env: dict[str, str], status: str) -> list[str]:
    result = run(hub_env, "event", "list", "--json", "--status", status)
    assert result.exit_code == 0, result.output
    return [row["external_id"] for row in json.loads(result.output)]


def test_a_failing_event_is_retried_with_backoff_then_failed_and_replanned(
        world: World, hub_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    world.app.extensions["settings"] = replace(world.app.extensions["settings"], event_plan_retry_seconds=(10, 20))
    clock = movable_clock(world.app)
    world.rule("slack:#wins")
    poison(monkeypatch)
    world.event(POISON, plan=False)
    world.event("evt-fine", plan=False)

    assert plan_new(world) == 2  # both claimed: the fine one planned, the poisoned one handed back
    fine, bad = event(world, "evt-fine"), event(world, POISON)
    assert fine.planned_at is not None and bad.planned_at is None
    assert (bad.plan_attempts, bad.plan_error, bad.plan_failed_at) == (1, "RuntimeError: planner bug", None)
    with world.app.app_context():
        assert [d.event_id for d in db.session().scalars(select(Delivery))] == [fine.id]

    assert plan_new(world) == 0  # its backoff (10 s) has not passed
    clock.advance(seconds=11)
    assert plan_new(world) == 1 and event(world, POISON).plan_attempts == 2
    clock.advance(seconds=11)
    assert plan_new(world) == 0  # the second retry waits 20 s
    clock.advance(seconds=10)
    assert plan_new(world) == 1
    failed = event(world, POISON)
    assert failed.plan_attempts == 3 and failed.plan_failed_at is not None and failed.next_plan_at is None
    clock.advance(days=30)
    assert plan_new(world) == 0  # given up: never claimed again on its own
    with world.app.app_context():
        audits = db.session().scalars(select(AuditEvent).where(AuditEvent.action == "event.plan_failed")).all()
        assert [(a.detail["attempt"], a.detail["gave_up"]) for a in audits] == [(1, False), (2, False), (3, True)]

    assert statuses(hub_env, "failed") == [POISON]
    assert statuses(hub_env, "planned") == ["evt-fine"]
    assert statuses(hub_env, "pending") == []
    [shown] = json.loads(run(hub_env, "event", "list", "--json", "--status", "failed").output)
    assert shown["plan_error"] == "RuntimeError: planner bug" and shown["plan_attempts"] == 3
    assert "payload" not in shown and shown["source"] == "moodle"

    monkeypatch.undo()  # the bug is fixed
    replanned = run(hub_env, "event", "replan", str(failed.id))
    assert replanned.exit_code == 0 and f"event {failed.id} pending" in replanned.output, replanned.output
    assert statuses(hub_env, "pending") == [POISON]
    assert plan_new(world) == 1
    assert event(world, POISON).planned_at is not None
    with world.app.app_context():
        assert sorted(d.event_id for d in db.session().scalars(select(Delivery))) == sorted([fine.id, failed.id])
    assert statuses(hub_env, "failed") == []


def test_replan_refuses_an_unknown_or_planned_event(world: World, hub_env: dict[str, str]) -> None:
    event_id, _ids = world.event("evt-planned", plan=False)
    assert plan_new(world) == 1
    missing = run(hub_env, "event", "replan", "999999")
    assert missing.exit_code == 1 and "no event with id 999999" in missing.output
    planned = run(hub_env, "event", "replan", str(event_id))
    assert planned.exit_code == 1 and f"event {event_id} is already planned" in planned.output
    assert "Traceback" not in missing.output + planned.output
    assert run(hub_env, "event", "replan", str(2**31)).exit_code == 2  # past any key: a usage error


def test_storage_going_down_mid_batch_is_no_event_s_failure(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The database lost while planning is not the event's fault: the batch rolls back, claims included, nothing is
    counted against the event, and the next pass plans it."""
    world.rule("slack:#wins")
    poison(monkeypatch, sqlalchemy.exc.OperationalError)
    world.event(POISON, plan=False)
    with pytest.raises(sqlalchemy.exc.OperationalError):
        plan_new(world)
    waiting = event(world, POISON)
    assert (waiting.planned_at, waiting.plan_attempts, waiting.plan_error) == (None, 0, None)
    monkeypatch.undo()
    assert plan_new(world) == 1 and event(world, POISON).planned_at is not None
