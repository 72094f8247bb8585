"""Which statements become hub events, checked against the emitters' documented output."""
from __future__ import annotations

from hub.models import EventType
from tests.webhooks.xapi.helpers import moodle_batch, openedx
from webhooks.xapi.mapping import Learner, map_statement


def test_moodle_batch_maps_enrolment_course_completion_badge_and_certificate() -> None:
    enrolled, module_done, completed, badge, certificate = (map_statement(s) for s in moodle_batch())
    assert enrolled.type is EventType.COURSE_ENROLLED
    assert enrolled.subject == {"course": {"id": "http://www.example.org/course/view.php?id=1", "title": "test_name",
                                           "url": "http://www.example.org/course/view.php?id=1"}}
    assert module_done.type is None  # completed on a module, not the course
    assert completed.type is EventType.COURSE_COMPLETED
    assert badge.type is EventType.BADGE_AWARDED
    assert badge.subject["badge"]["title"] == "test_badgename"
    assert badge.subject["course"]["title"] == "test_course_name"  # from context.contextActivities.parent
    assert badge.occurred_at is None  # Moodle's badge statement carries no timestamp
    assert certificate.type is EventType.CERTIFICATE_ISSUED  # objectType sent as ["Activity"]
    assert certificate.subject["course"]["id"] == "http://www.example.org/course/view.php?id=1"


def test_older_moodle_badge_type_is_a_badge() -> None:
    badge = moodle_batch()[3]
    badge["object"]["definition"]["type"] = "http://activitystrea.ms/schema/1.0/badge"
    assert map_statement(badge).type is EventType.BADGE_AWARDED


def test_openedx_registered_and_passed() -> None:
    registered, passed = map_statement(openedx("registered")), map_statement(openedx("passed"))
    assert registered.type is EventType.COURSE_ENROLLED
    assert passed.type is EventType.COURSE_COMPLETED
    assert passed.subject["course"]["title"] == "Demonstration Course"
    assert passed.occurred_at is not None and passed.occurred_at.year == 2020
    assert passed.learner == Learner(home_page="http://localhost:18000",
                                     account_name="32e08e30-f8ae-4ce2-94a8-c2bfe38a70cb")


def test_other_statements_are_stored_and_ignored() -> None:
    unregistered = openedx("registered")
    unregistered["verb"]["id"] = "http://id.tincanapi.com/verb/unregistered"
    failed = openedx("passed")
    failed["verb"]["id"] = "http://adlnet.gov/expapi/verbs/failed"
    achieved_course = openedx("passed")
    achieved_course["verb"]["id"] = "https://w3id.org/xapi/tla/verbs/achieved"
    not_an_activity = openedx("passed")
    not_an_activity["object"] = {"objectType": "Agent", "mbox": "mailto:x@y.example"}
    for statement in (unregistered, failed, achieved_course, not_an_activity):
        assert map_statement(statement).type is None


def test_learner_by_mbox() -> None:
    statement = openedx("passed")
    statement["actor"] = {"objectType": "Agent", "name": "Ada", "mbox": "mailto:Ada@Partner.Example"}
    mapped = map_statement(statement)
    assert mapped.learner == Learner(email="ada@partner.example", name="Ada")
    assert mapped.payload(statement)["user"] == {"email": "ada@partner.example", "name": "Ada"}
    assert mapped.payload(statement)["type"] == "course.completed"
