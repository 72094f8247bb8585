"""The JSON an LMS posts to /webhooks/lms/<source>, validated field by field with pydantic (docs/events.md).

Strict: no type coercion (except numeric ids, which LMSs often send as numbers), unknown fields refused (a typo such
as `imageUrl` is named rather than silently dropped), http(s) URLs only, ISO 8601 times with a timezone.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    HttpUrl,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from hub import emails, json_input
from hub.models.sharing import EventType

MAX_BODY_BYTES = 64 * 1024


def _number_to_text(value: Any) -> Any:
    # LMS ids are often integers (Moodle course 42); bool is an int in Python but never an id.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


# The hub's one address policy (hub/emails.py), the same as sign-in's, SCIM's and xAPI's.
Email = Annotated[str, AfterValidator(emails.normalise)]
Id = Annotated[str, BeforeValidator(_number_to_text), StringConstraints(strip_whitespace=True, min_length=1,
                                                                         max_length=255)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Url = Annotated[HttpUrl, Field(max_length=2000)]


class _Model(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class Learner(_Model):
    """Who the event is about: a verified email at the hub and/or the LMS's own user id."""

    email: Email | None = None
    external_id: Id | None = None
    name: Name | None = None

    @model_validator(mode="after")
    def _identified(self) -> Learner:
        if self.email is None and self.external_id is None:
            raise ValueError("give email, external_id or both")
        return self


class Item(_Model):
    """A course, badge or certificate: what a post links to and shows."""

    id: Id
    title: Title
    url: Url
    image_url: Url | None = None


class Level(_Model):
    """A gamification level (Moodle Level Up XP and the like): its number, its name, or both."""

    number: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    name: Name | None = None

    @model_validator(mode="after")
    def _named(self) -> Level:
        if self.number is None and self.name is None:
            raise ValueError("give number, name or both")
        return self


class _Event(_Model):
    occurred_at: AwareDatetime
    user: Learner


class CourseEnrolled(_Event):
    type: Literal["course.enrolled"]
    course: Item


class CourseCompleted(_Event):
    type: Literal["course.completed"]
    course: Item


class BadgeAwarded(_Event):
    type: Literal["badge.awarded"]
    badge: Item
    course: Item | None = None


class CertificateIssued(_Event):
    type: Literal["certificate.issued"]
    certificate: Item
    course: Item | None = None


class LevelReached(_Event):
    type: Literal["level.reached"]
    level: Level


LmsEvent = Annotated[CourseEnrolled | CourseCompleted | BadgeAwarded | CertificateIssued | LevelReached,
                     Field(discriminator="type")]
_ADAPTER: TypeAdapter[Any] = TypeAdapter(LmsEvent)
_TYPES = frozenset(EventType)


class InvalidEvent(Exception):
    """The body is not a valid event; `field` is the dotted path of the first bad field (None: the whole body)."""

    def __init__(self, code: str, field: str | None, message: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.code, self.field, self.message, self.errors = code, field, message, errors


@dataclass(frozen=True)
class ValidEvent:
    """A validated event: its type, when it happened, who it is about, and the canonical payload to store."""

    type: EventType
    occurred_at: datetime
    email: str | None
    external_id: str | None
    payload: dict[str, Any]


def parse_event(body: bytes) -> ValidEvent:
    """Parse and validate one event body; raise InvalidEvent naming the first bad field."""
    try:
        json_input.check_depth(body)  # the same nesting limit as every route's JSON, before pydantic parses
    except json_input.InvalidJson as exc:
        raise InvalidEvent("invalid_json", None, f"body: {exc}",
                           [{"field": None, "kind": "json_invalid", "message": str(exc)}]) from None
    try:
        event = _ADAPTER.validate_json(body)
    except ValidationError as exc:
        raise _invalid(exc) from None
    # UTC: SQLite keeps a datetime's wall time and drops its offset, so store every time in one zone.
    return ValidEvent(type=EventType(event.type), occurred_at=event.occurred_at.astimezone(UTC),
                      email=event.user.email, external_id=event.user.external_id,
                      payload=event.model_dump(mode="json", exclude_none=True))


def _invalid(exc: ValidationError) -> InvalidEvent:
    errors = [_error(e) for e in exc.errors(include_url=False, include_input=False, include_context=False)]
    first = errors[0]
    if first["kind"] == "json_invalid":
        return InvalidEvent("invalid_json", None, f"the body is not JSON: {first['message']}", errors)
    return InvalidEvent("invalid_event", first["field"], f"{first['field'] or 'body'}: {first['message']}", errors)


def _error(error: Any) -> dict[str, Any]:
    """One pydantic error as {field, message, kind}, with the union's tag dropped from the path."""
    loc = list(error["loc"])
    if loc and loc[0] in _TYPES:
        loc = loc[1:]  # the discriminated union puts the matched type first
    kind = error["type"]
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return {"field": "type", "kind": kind, "message": f"must be one of {', '.join(sorted(_TYPES))}"}
    field = ".".join(str(part) for part in loc) or None
    message = {
        "missing": "is required",
        "extra_forbidden": "is not a field of this event type (see docs/events.md)",
        "model_type": "must be a JSON object",
    }.get(kind, str(error["msg"]).removeprefix("Value error, "))
    return {"field": field, "kind": kind, "message": message}
