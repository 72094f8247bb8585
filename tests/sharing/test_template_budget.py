"""Post templates within a budget: characters, steps and time. A template that would run away is refused when an
admin adds it (CLI and admin page), and a stored one that runs away on a real event fails its delivery (dead, with
the reason) instead of holding the worker."""
from __future__ import annotations

import itertools
import time
from importlib import import_module
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from hub import db, jobs
from hub.cli import main
from hub.models import Delivery, Rule
from hub.sharing import sandbox, templates
from providers import registry
from providers.linkedin import publish as linkedin_publish
from providers.x import publish as x_publish
from tests.sharing.conftest import World

SAMPLE = templates.SAMPLE_PAYLOAD
# A loop inside a loop inside a loop over the course title: 15**3 steps on the sample event ("Security Basics"),
# 60**3 on a course whose title is 60 characters long.
CUBED = ("{% for a in course.title %}{% for b in course.title %}{% for c in course.title %}{% endfor %}{% endfor %}"
         "{% endfor %}{{ course.title }}")
LONG_TITLE = {"course": {"id": "101", "title": "Security Basics for Everyone Who Handles Customer Data Daily",
                         "url": "https://lms.example.edu/course/101"}}


def render(source: str, payload: dict | None = None, **kwargs: object) -> str:
    return templates.render(source, "course.completed", payload or SAMPLE, "Ada Lovelace", **kwargs)  # type: ignore


def test_the_character_cap_is_above_every_destinations_own_limit() -> None:
    """A template whose post some destination could carry whole is never refused for its length."""
    limits = [import_module(module).TEXT_LIMIT for module in registry.SHARE_INTENTS.values()]
    limits += [linkedin_publish.COMMENTARY_LIMIT, x_publish.TEXT_LIMIT]
    assert max(limits) <= templates.MAX_TEXT and templates.MAX_RENDERED > templates.MAX_TEXT


@pytest.mark.parametrize(("source", "reason"), [
    ("{% for i in range(10**9) %}x{% endfor %}", "Range too big"),
    ("{% for i in range(100000) %}{% endfor %}", "calling range builds a value longer than 5,000"),
    ("{% for i in range(4000) %}{% for j in range(4000) %}{% endfor %}{% endfor %}", "more than 100,000 steps"),
    ("{% for i in range(2000) %}{{ i }}{% endfor %}", "renders more than 5,000 characters"),
    ("{{ 'x' * 5001 }}", "'*' builds a value longer than 5,000"),
    ("{{ 'x' * 10**9 }}", "'*' builds a value"),
    ("{{ 10**(10**10) }}", "'**' computes a number larger than 4,096 bits"),
    ("{{ '%999999999d' % 1 }}", "format width or precision is at most 5,000"),
    ("{{ '%999999999d'|format(1) }}", "format width or precision is at most 5,000"),
    ("{{ 'x'|center(1000000000) }}", "the center filter is given 1000000000"),
    ("{{ 'x'.ljust(1000000000) }}", "calling ljust is given 1000000000"),
    ("{{ 5|round(-1000000000) }}", "the round filter is given"),
    ("{{ ('x' * 4000)|replace('x', 'yy') }}", "the replace filter builds a value"),
    ("{% set a = 'x' * 4000 %}{% set a = a ~ a %}", "~ builds a value"),
    ("{% set a = [1] %}" + "{% set a = [a, a] %}" * 40 + "{{ a }}", "a list, dict or ~ builds a value"),
    ("{% set a = (1,) %}" + "{% set a = (a, a) %}" * 40 + "{{ {a: 1} }}", "a list, dict or ~ builds a value"),
    ("{% macro d(n) %}{% if n %}{{ d(n-1) }}{{ d(n-1) }}{% endif %}{% endmacro %}{{ d(40) }}", "steps"),
])
def test_a_template_that_would_run_away_is_refused_quickly(source: str, reason: str) -> None:
    """The render's clock stands still, so the step and size caps refuse it (on a busy machine the 0.5 s deadline
    could otherwise come first, with its own reason); CPU time, not wall time, shows it stopped early."""
    started = time.process_time()
    with pytest.raises(templates.InvalidTemplate, match=reason.replace("*", r"\*").replace("(", r"\(")):
        render(source, clock=lambda: 0.0)
    assert time.process_time() - started < 5  # refused by a cap, not by running to the end


@pytest.mark.parametrize(("source", "reason"), [
    ("{{ '{:>999999999}'.format(1) }}", "str.format is not available"),
    ("{{ 'a'.expandtabs(10**9) }}", "unsafe"),
    ("{{ lipsum(10**6) }}", "'lipsum' is undefined"),
    ("{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}", "nested too deeply"),
    ("{{ 1/0 }}", "division by zero"),
    ("{{ course.title + 1 }}", "can only concatenate"),
    ("{{ x }}" * 1500, "a template is at most 10,000"),
])
def test_what_a_post_template_cannot_do_is_an_invalid_template_not_a_crash(source: str, reason: str) -> None:
    with pytest.raises(templates.InvalidTemplate, match=reason):
        templates.check(source, "course.completed")


def test_the_time_budget_is_read_from_the_clock_while_rendering() -> None:
    ticks = itertools.count()
    with pytest.raises(templates.TemplateTooCostly, match="longer than 0.5 s"):
        render("{% for i in range(100) %}{{ i }}{% endfor %}", clock=lambda: next(ticks) * 0.01)
    assert render("{{ learner }}", clock=lambda: next(ticks) * 0.01) == "Ada Lovelace"  # a few steps fit


@pytest.mark.parametrize(("source", "text"), [
    ("{{ course.title|upper }} {{ link }}", "SECURITY BASICS https://lms.example.edu/course/101"),
    ("{% for k, v in course|dictsort %}{{ k }}{{ loop.cycle(',', ';') }}{% endfor %}", "id,image_url;title,url;"),
    ("{{ '%05d'|format(level.number) }} {{ '%s and %s' % ('a', 'b') }} {{ level.number * 3 }}", "00003 a and b 9"),
    ("{{ (course.title ~ ' ') * 2 }}{{ [1, 2, 3]|sum }} {{ {'a': 1}.a }}", "Security Basics Security Basics 6 1"),
    ("{% for a, b in [(1, 2)] %}{{ a }}{{ b }}{% endfor %} {{ course.title.split(' ')|join('-') }}",
     "12 Security-Basics"),
    ("{% set x %}{{ learner }}{% endset %}{% filter upper %}{{ x }}{% endfilter %}", "ADA LOVELACE"),
    ("{{ 'x' * 3500 }}", "x" * templates.MAX_TEXT),  # past MAX_TEXT and within the cap: cut, as before
    (CUBED, "Security Basics"),
])
def test_ordinary_templates_render_as_before(source: str, text: str) -> None:
    assert render(source) == text


def test_the_caps_apply_to_the_event_rendered_not_only_the_sample() -> None:
    templates.check(CUBED, "course.completed")  # 3,375 steps on the sample
    with pytest.raises(templates.TemplateTooCostly, match="steps"):
        render(CUBED, LONG_TITLE)  # 216,000 on this one


# --- refused where an admin adds a rule ------------------------------------------------------------------------
def test_hub_rule_add_refuses_a_template_past_the_caps(world: World, hub_env: dict[str, str],
                                                       tmp_path: Path) -> None:
    for source, reason in [("{% for i in range(4000) %}{% for j in range(4000) %}{% endfor %}{% endfor %}",
                            "more than 100,000 steps"),
                           ("{{ 'x' * 4000 }}{{ 'x' * 4000 }}", "renders more than 5,000 characters")]:
        path = tmp_path / "post.j2"
        path.write_text(source)
        result = CliRunner().invoke(main, ["rule", "add", "--org", "Partners Inc", "--on", "course.completed",
                                           "--to", "slack:#wins", "--template", str(path)], env=hub_env)
        assert result.exit_code == 1 and "template refused" in result.output and reason in result.output, \
            result.output
        assert "Traceback" not in result.output
    with world.app.app_context():
        assert db.session().scalars(select(Rule)).all() == []


# --- at plan and send time: the delivery fails, clearly, and the worker goes on ----------------------------------
def test_a_stored_template_that_runs_away_on_the_real_event_is_dead_at_plan_time(world: World) -> None:
    world.rule("slack:#wins", template=CUBED)
    world.rule("slack:#all")  # the default template: unaffected
    _, ids = world.event(payload=LONG_TITLE)
    with world.app.app_context():
        rows = {d.destination: d for d in db.session().scalars(select(Delivery))}
    assert [d.id for d in rows.values() if d.status == "pending"] == ids == [rows["slack:#all"].id]
    dead = rows["slack:#wins"]
    assert dead.status == "dead" and dead.text is None
    assert dead.last_error.startswith(f"rule {dead.rule_id}: template refused: it takes more than 100,000 steps")


def test_a_template_that_runs_away_at_send_time_fails_that_delivery_permanently(world: World) -> None:
    """A rule stored before the caps existed; at send time the post is rendered again without the learner's name
    (they withdrew it), and that render hits the cap: the delivery is dead with the reason, nothing is posted."""
    world.connect("slack", learner=False)
    world.consent("slack", "never", name_in_org_posts=True)
    rule_id = world.rule("slack:#wins", template="{{ learner }} completed {{ course.title }}")
    _, ids = world.event()
    with world.app.app_context(), db.transaction() as session:
        session.execute(update(Rule).where(Rule.id == rule_id).values(
            template="{{ learner }}{% for i in range(5000) %}{% for j in range(5000) %}{% endfor %}{% endfor %}"))
    world.consent("slack", "never", name_in_org_posts=False)
    with world.app.app_context():
        assert jobs.deliver(ids[0]) == "dead"
    with world.app.app_context():
        row = db.session().get(Delivery, ids[0])
        assert row.status == "dead" and "template refused" in (row.last_error or "")
        assert row.last_error.startswith(f"rule {rule_id}: ")
    assert world.provider.posts() == []


def test_the_limits_are_the_sandboxs() -> None:
    assert (templates.MAX_RENDERED, templates.RENDER_SECONDS) == (sandbox.MAX_RENDERED, sandbox.RENDER_SECONDS)
