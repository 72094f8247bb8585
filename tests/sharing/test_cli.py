"""`hub rule ...`, `hub delivery ...` and `hub reconcile`, run as an admin would."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result
from sqlalchemy import select, update

from hub import db, jobs
from hub.cli import main
from hub.models import Delivery, Rule
from tests.sharing.conftest import World


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


def test_rule_add_list_preview(world: World, hub_env: dict[str, str], tmp_path: Path) -> None:
    template = tmp_path / "wins.j2"
    template.write_text("🏆 {{ learner }} finished {{ course.title }}: {{ link }}")
    result = run(hub_env, "rule", "add", "--org", "Partners Inc", "--on", "course.completed", "--to", "slack:#wins",
                 "--template", str(template), "--course", "101")
    assert result.exit_code == 0, result.output
    rule_id = int(result.output.split()[1].rstrip(":"))
    listed = json.loads(run(hub_env, "rule", "list", "--json").output)
    assert listed == [{"id": rule_id, "org": "Partners Inc", "on": "course.completed", "to": "slack:#wins",
                       "mode": "immediate", "max_delay": None, "enabled": True, "filters": {"courses": ["101"]},
                       "template": template.read_text(), "without_link": False}]
    preview = run(hub_env, "rule", "preview", str(rule_id))
    assert preview.output.strip() == \
        "🏆 Ada Lovelace finished Security Basics: https://lms.example.edu/course/101"


def test_rule_add_with_a_digest_mode(world: World, hub_env: dict[str, str]) -> None:
    result = run(hub_env, "rule", "add", "--org", "Partners Inc", "--on", "course.completed", "--to", "slack:#wins",
                 "--mode", "automatic", "--max-delay", "300")
    assert result.exit_code == 0 and "(automatic)" in result.output, result.output
    [listed] = json.loads(run(hub_env, "rule", "list", "--json").output)
    assert (listed["mode"], listed["max_delay"]) == ("automatic", 300)


def test_rule_add_refuses_bad_input_with_the_field(world: World, hub_env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.j2"
    bad.write_text("{% for %}")
    cases = [
        (["--on", "course.completed", "--to", "fax:123"], "unknown kind 'fax'"),
        (["--on", "course.completed", "--to", "linkedin:me", "--mode", "daily"], "digests go to channels"),
        (["--on", "course.completed", "--to", "slack:#x", "--mode", "daily", "--max-delay", "60"],
         "--max-delay applies to --mode automatic only"),
        (["--on", "course.completed", "--to", "slack:#x", "--template", str(bad)], "template line 1"),
    ]
    for args, message in cases:
        result = run(hub_env, "rule", "add", "--org", "Partners Inc", *args)
        assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output, result.output
    assert run(hub_env, "rule", "add", "--org", "Nope", "--on", "course.completed", "--to", "slack:#x").exit_code == 1
    unknown = run(hub_env, "rule", "add", "--org", "Partners Inc", "--on", "course.done", "--to", "slack:#x")
    assert unknown.exit_code == 2 and "'course.done' is not an event type; one of: course.enrolled" in unknown.output
    with world.app.app_context():
        assert db.session().scalars(select(Rule)).all() == []


def test_delivery_list_retry_and_reconcile(world: World, hub_env: dict[str, str]) -> None:
    world.connect("slack", learner=False)
    world.rule("slack:#gone")
    event_id, ids = world.event()
    with world.app.app_context():
        jobs.deliver(ids[0])
    [row] = json.loads(run(hub_env, "delivery", "list", "--json", "--status", "dead").output)
    assert row == {"id": ids[0], "event": event_id, "rule": row["rule"], "destination": "slack:#gone",
                   "status": "dead", "cost": None, "attempts": 1, "next_attempt_at": None,
                   "last_error": "channel_not_found", "remote_url": None, "digest": None}
    assert json.loads(run(hub_env, "delivery", "list", "--json", "--status", "sent").output) == []
    # The admin fixed the channel; retry sends it.
    with world.app.app_context(), db.transaction() as session:
        session.execute(update(Delivery).values(destination="slack:#wins"))
    result = run(hub_env, "delivery", "retry", str(ids[0]))
    assert result.exit_code == 0 and "pending" in result.output, result.output
    jobs.run_worker(world.app, burst=True)
    [row] = json.loads(run(hub_env, "delivery", "list", "--json").output)
    assert row["status"] == "sent" and row["remote_url"] == "https://provider.test/p1"
    refused = run(hub_env, "delivery", "retry", str(ids[0]))
    assert refused.exit_code == 1 and "is sent" in refused.output
    assert run(hub_env, "reconcile").output.strip() == "enqueued 0, recovered 0"


def test_adding_an_x_rule_warns_that_x_bills_links(world: World, hub_env: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["rule", "add", "--org", "Partners Inc", "--on", "course.completed", "--to",
                                       "x:me"], env=hub_env)
    assert result.exit_code == 0 and "note: X bills posts that contain a link" in result.stderr
    quiet = CliRunner().invoke(main, ["rule", "add", "--org", "Partners Inc", "--on", "course.completed", "--to",
                                      "slack:#wins"], env=hub_env)
    assert quiet.exit_code == 0 and "note:" not in quiet.stderr


def test_ids_past_any_key_are_refused_by_name(world: World, hub_env: dict[str, str]) -> None:
    """A number no primary key can hold is a usage error naming the argument (PostgreSQL would refuse the query)."""
    for args in (("delivery", "retry"), ("rule", "preview"), ("token", "revoke")):
        result = run(hub_env, *args, str(2**31))
        assert result.exit_code == 2 and "is not in the range 1<=x<=2147483647" in result.output, (args, result.output)
    missing = run(hub_env, "delivery", "retry", str(2**31 - 1))
    assert missing.exit_code != 0 and "Traceback" not in missing.output
