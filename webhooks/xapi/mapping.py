"""Which hub event type an xAPI statement is, and the learner, course, badge or certificate it names.

Shapes come from the emitters' own code and fixtures:
- Moodle logstore_xapi (xAPI-vle/moodle-logstore_xapi): `user_enrolment_created` -> verb
  http://adlnet.gov/expapi/verbs/registered on a course (src/transformer/utils/get_activity/course.php:
  id <wwwroot>/course/view.php?id=N, type http://id.tincanapi.com/activitytype/lms/course);
  `course_completed` -> verb .../verbs/completed (older fixtures: http://id.tincanapi.com/verb/completed)
  on that course, while `course_module_completion_updated` uses the same verb on type
  http://id.tincanapi.com/activitytype/lms/module (not a course completion); `badge_awarded` and
  tool_certificate `certificate_issued` -> https://w3id.org/xapi/tla/verbs/achieved on
  .../edlm-lms/concepts/activity-types/badge (older: http://activitystrea.ms/schema/1.0/badge) or
  .../activity-types/certificate, with the course as context.contextActivities.parent.
- Open edX event-routing-backends (event_routing_backends/processors/xapi/constants.py and
  tests/fixtures/expected/): enrollment activated -> registered, and grade passed -> passed,
  both on http://adlnet.gov/expapi/activities/course objects (<LMS_ROOT_URL>/course/course-v1:...).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hub import emails
from hub.models import EventType

REGISTERED = "http://adlnet.gov/expapi/verbs/registered"
COMPLETED = frozenset({"http://adlnet.gov/expapi/verbs/completed", "http://id.tincanapi.com/verb/completed"})
PASSED = "http://adlnet.gov/expapi/verbs/passed"
ACHIEVED = "https://w3id.org/xapi/tla/verbs/achieved"

COURSE_TYPES = frozenset({
    "http://id.tincanapi.com/activitytype/lms/course",  # Moodle
    "http://adlnet.gov/expapi/activities/course",  # Open edX
    "https://w3id.org/xapi/cmi5/activitytype/course",  # Moodle's badge parent course
})
BADGE_TYPES = frozenset({
    "https://xapi.edlm/profiles/edlm-lms/concepts/activity-types/badge",  # Moodle 5
    "http://activitystrea.ms/schema/1.0/badge",  # Moodle 4
})
CERTIFICATE_TYPES = frozenset({"https://xapi.edlm/profiles/edlm-lms/concepts/activity-types/certificate"})


@dataclass(frozen=True)
class Learner:
    """Who the statement is about: an email (mbox) and/or the LMS's account (homePage + name)."""

    email: str | None = None
    home_page: str | None = None
    account_name: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class Mapped:
    """A statement read as a hub event; type None means stored and ignored."""

    type: EventType | None
    learner: Learner
    subject: dict[str, Any]  # {"course": {...}} or {"badge": {...}, "course": {...}} ...
    occurred_at: datetime | None

    def payload(self, statement: dict[str, Any]) -> dict[str, Any]:
        """The stored event: shaped like a signed webhook event (docs/events.md), with the statement kept."""
        user = {"email": self.learner.email, "external_id": self.learner.account_name, "name": self.learner.name}
        return {"type": self.type.value if self.type else None,
                "occurred_at": self.occurred_at.isoformat() if self.occurred_at else None,
                "user": {key: value for key, value in user.items() if value is not None},
                **self.subject, "xapi": statement}


def map_statement(statement: dict[str, Any]) -> Mapped:
    """Read one (already checked) statement."""
    obj = statement["object"]
    kind = activity_type(obj)
    verb = statement["verb"].get("id")
    event_type: EventType | None = None
    subject: dict[str, Any] = {}
    if kind in COURSE_TYPES:
        subject = {"course": activity(obj)}
        if verb == REGISTERED:
            event_type = EventType.COURSE_ENROLLED
        elif verb in COMPLETED or verb == PASSED:
            event_type = EventType.COURSE_COMPLETED
    elif verb == ACHIEVED and kind in BADGE_TYPES:
        event_type, subject = EventType.BADGE_AWARDED, {"badge": activity(obj)}
    elif verb == ACHIEVED and kind in CERTIFICATE_TYPES:
        event_type, subject = EventType.CERTIFICATE_ISSUED, {"certificate": activity(obj)}
    if event_type is not None and "course" not in subject:
        parent = parent_course(statement)
        if parent is not None:
            subject["course"] = parent
    return Mapped(event_type, learner(statement["actor"]), subject, timestamp(statement))


def activity_type(obj: dict[str, Any]) -> str | None:
    """The activity type, or None for anything that is not an Activity (Agent, SubStatement...)."""
    object_type = obj.get("objectType", "Activity")
    # Quirk: one Moodle plugin version sends objectType as an array (["Activity"]).
    kinds = object_type if isinstance(object_type, list) else [object_type]
    if "Activity" not in kinds:
        return None
    definition = obj.get("definition")
    kind = definition.get("type") if isinstance(definition, dict) else None
    return kind if isinstance(kind, str) else None


def activity(obj: dict[str, Any]) -> dict[str, Any]:
    """id, title and URL of an activity (its id is the LMS page's URL for both emitters)."""
    definition = obj.get("definition")
    if not isinstance(definition, dict):
        definition = {}
    ident = str(obj.get("id", ""))
    found: dict[str, Any] = {"id": ident, "title": _text(definition.get("name")) or ident}
    if ident.startswith(("https://", "http://")):
        found["url"] = ident
    return found


def parent_course(statement: dict[str, Any]) -> dict[str, Any] | None:
    """The course a badge or certificate belongs to (Moodle: context.contextActivities.parent)."""
    context = statement.get("context")
    activities = context.get("contextActivities") if isinstance(context, dict) else None
    parents = activities.get("parent") if isinstance(activities, dict) else None
    # A single activity is allowed where the spec says array (Moodle's badge fixture does this).
    for parent in parents if isinstance(parents, list) else [parents]:
        if isinstance(parent, dict) and activity_type(parent) in COURSE_TYPES:
            return activity(parent)
    return None


def learner(actor: dict[str, Any]) -> Learner:
    """The email from mbox (mailto:), else the account's homePage and name."""
    mbox = actor.get("mbox")
    # statements.prepare refuses an mbox hub/emails.py's policy does not take; lower case, as addresses are matched.
    address = mbox[len("mailto:"):] if isinstance(mbox, str) and mbox.lower().startswith("mailto:") else ""
    email = emails.normalise(address).lower() if emails.is_valid(address) else None
    account = actor.get("account")
    if not isinstance(account, dict):
        account = {}
    home_page, name = account.get("homePage"), account.get("name")
    display = actor.get("name")
    return Learner(email=email or None, home_page=str(home_page) if home_page else None,
                   account_name=str(name) if name not in (None, "") else None,
                   name=display if isinstance(display, str) and display else None)


def timestamp(statement: dict[str, Any]) -> datetime | None:
    """When it happened, if the statement says so in ISO 8601 (a bad value is ignored, not refused)."""
    value = statement.get("timestamp")
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    # xAPI says a timestamp without an offset is UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _text(language_map: Any) -> str | None:
    """English if present, else the first language of an xAPI language map."""
    if isinstance(language_map, str):
        return language_map
    if not isinstance(language_map, dict) or not language_map:
        return None
    for key in ("en", "en-US", "en-GB"):
        if isinstance(language_map.get(key), str):
            return language_map[key]
    first = next(iter(language_map.values()))
    return first if isinstance(first, str) else None
