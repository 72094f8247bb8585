"""Planning: one delivery per (event, rule, destination), filters, templates and who gets named."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from hub import db
from hub.models import Delivery, Event, Rule
from hub.sharing import planner, rules, templates
from tests.sharing.conftest import World


def test_plan_twice_creates_one_delivery_per_event_rule_destination(world: World) -> None:
    first = world.rule("slack:#wins")
    second = world.rule("teams:https://teams.example/hook")
    world.rule("slack:#enrolments", event_type="course.enrolled")  # another event type: not planned
    event_id, ids = world.event()
    assert len(ids) == 2
    with world.app.app_context(), db.transaction() as session:
        again = planner.plan(session, session.get(Event, event_id))
    assert again == []
    with world.app.app_context():
        rows = db.session().scalars(select(Delivery).order_by(Delivery.id)).all()
        assert [r.key for r in rows] == [f"{event_id}:{first}:slack:#wins",
                                         f"{event_id}:{second}:teams:https://teams.example/hook"]
        assert all(r.user_id == world.user_id and r.status == "pending" for r in rows)


def test_everyone_rules_apply_and_other_orgs_rules_do_not(world: World) -> None:
    with world.app.app_context(), db.transaction() as session:
        from hub.models import Organisation

        other = Organisation(name="Other Ltd")
        session.add(other)
        session.flush()
        session.add_all([Rule(org_id=None, event_type="course.completed", destination="slack:#all"),
                         Rule(org_id=other.id, event_type="course.completed", destination="slack:#theirs")])
    _, ids = world.event()
    with world.app.app_context():
        assert [d.destination for d in db.session().scalars(select(Delivery))] == ["slack:#all"]
    assert len(ids) == 1


def test_course_filters(world: World) -> None:
    world.rule("slack:#sec", filters={"courses": ["101"]})
    world.rule("slack:#other", filters={"courses": ["999"]})
    world.event()
    with world.app.app_context():
        assert db.session().scalars(select(Delivery.destination)).all() == ["slack:#sec"]


def test_org_posts_name_the_learner_only_with_consent(world: World) -> None:
    world.rule("slack:#wins")
    world.event("e1")
    world.consent("slack", choice="never", name_in_org_posts=True)
    world.event("e2")
    with world.app.app_context():
        texts = db.session().scalars(select(Delivery.text).order_by(Delivery.id)).all()
    assert texts == ["A learner completed Security Basics! 🎉", "Ada Lovelace completed Security Basics! 🎉"]


def test_custom_template_is_sandboxed_and_rendered_at_plan_time(world: World) -> None:
    world.rule("linkedin:me", template="Done: {{ course.title | upper }} {{ link }}")
    world.event()
    with world.app.app_context():
        assert db.session().scalar(select(Delivery.text)) == \
            "Done: SECURITY BASICS https://lms.example.edu/course/101"
    # The sandbox hides internals (rendered empty) and refuses to call through them.
    assert templates.preview("x{{ course.__class__.__mro__ }}y", "course.completed") == "xy"
    with pytest.raises(templates.InvalidTemplate, match="unsafe"):
        templates.check("{{ ''.__class__.__mro__[1].__subclasses__() }}", "course.completed")
    with pytest.raises(templates.InvalidTemplate):
        templates.check("{% set x = course.update({'a': 1}) %}", "course.completed")  # immutable sandbox
    with pytest.raises(templates.InvalidTemplate, match="line 1"):
        templates.check("{% if %}", "course.completed")


def test_html_preview_escapes_and_text_does_not(world: World) -> None:
    payload = {"course": {"title": "<b>Tips & tricks</b>"}}
    assert templates.preview(None, "course.enrolled", payload) == "Ada Lovelace enrolled in <b>Tips & tricks</b>."
    assert "&lt;b&gt;Tips &amp; tricks" in templates.preview(None, "course.enrolled", payload, html=True)


@pytest.mark.parametrize("text, message", [
    ("slack", "must look like kind:address"),
    ("myspace:me", "unknown kind 'myspace'"),
    ("teams:#general", "a teams destination is a URL"),
    ("linkedin:someone", "linkedin:me"),
])
def test_destination_errors_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(rules.InvalidRule, match=message):
        rules.parse_destination(text)


def test_no_user_no_deliveries(world: World) -> None:
    world.rule("slack:#wins")
    with world.app.app_context(), db.transaction() as session:
        event = Event(source_id=world.source_id, external_id="anon", content_hash="h", type="course.completed",
                      payload={}, user_id=None)
        session.add(event)
        session.flush()
        assert planner.plan(session, event) == []
        assert session.scalar(select(func.count()).select_from(Delivery)) == 0


@pytest.mark.parametrize("level, text", [
    ({"number": 3, "name": "Explorer"}, "A learner reached level 3 (Explorer)!"),
    ({"number": 4}, "A learner reached level 4!"),
    ({"name": "Guru"}, "A learner reached Guru!"),
])
def test_default_level_message(level: dict, text: str) -> None:
    assert templates.render(None, "level.reached", {"level": level}, templates.NEUTRAL_NAME) == text
