"""Message templates: sandboxed Jinja so an admin's template can read the event and nothing else, within a budget
of characters, steps and time (hub/sharing/sandbox.py) so that no template can hang the worker rendering it."""
from __future__ import annotations

import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from jinja2 import TemplateError

from hub.errors import HubError
from hub.sharing import sandbox
from hub.sharing.sandbox import MAX_RENDERED, RENDER_SECONDS  # noqa: F401  (re-exported: the caps callers name)

NEUTRAL_NAME = "A learner"  # org-channel posts name the learner only with their consent

# A level has a number, a name, or both (webhooks/schema.py Level).
_LEVEL = ("{% if level.number is defined %}level {{ level.number }}{% if level.name %} ({{ level.name }}){% endif %}"
          "{% else %}{{ level.name }}{% endif %}")
# Org-channel voice: the learner is named (or NEUTRAL_NAME).
DEFAULTS: dict[str, str] = {
    "course.enrolled": "{{ learner }} enrolled in {{ course.title }}.",
    "course.completed": "{{ learner }} completed {{ course.title }}! 🎉",
    "badge.awarded": "{{ learner }} earned the {{ badge.title }} badge!",
    "level.reached": "{{ learner }} reached " + _LEVEL + "!",
    "certificate.issued": "{{ learner }} earned the certificate {{ certificate.title }}!",
}
# The learner's own account (linkedin:me, x:me): first person.
OWN_DEFAULTS: dict[str, str] = {
    "course.enrolled": "I just enrolled in {{ course.title }}.",
    "course.completed": "I just completed {{ course.title }}!",
    "badge.awarded": "I just earned the {{ badge.title }} badge!",
    "level.reached": "I just reached " + _LEVEL + "!",
    "certificate.issued": "I just earned the certificate {{ certificate.title }}!",
}
# Which payload object a post links to and shows, per event type.
SUBJECT: dict[str, str] = {
    "course.enrolled": "course", "course.completed": "course", "badge.awarded": "badge",
    "level.reached": "level", "certificate.issued": "certificate",
}
SAMPLE_PAYLOAD: dict[str, Any] = {
    "course": {"id": "101", "title": "Security Basics", "url": "https://lms.example.edu/course/101",
               "image_url": "https://lms.example.edu/course/101/image.png"},
    "badge": {"id": "7", "title": "Security Champion", "url": "https://lms.example.edu/badges/7",
              "image_url": "https://lms.example.edu/badges/7/image.png"},
    "certificate": {"id": "c-9", "title": "Security Practitioner", "url": "https://lms.example.edu/cert/9"},
    "level": {"number": 3, "name": "Explorer"},
}
MAX_TEXT = 3000  # the longest post any destination takes (Slack's section block); providers trim further
MAX_SOURCE = 10_000  # characters of template: a post template is a few lines


class InvalidTemplate(HubError):
    """A rule template does not compile or render; the message says where."""


class TemplateTooCostly(InvalidTemplate):
    """A template that renders more than MAX_RENDERED characters or takes longer than its budget to render."""


@lru_cache(maxsize=2)
def environment(html: bool = False) -> sandbox.MeteredSandbox:
    """A metered sandbox that escapes only when the output is HTML (previews); posts are plain text."""
    return sandbox.MeteredSandbox(html)


def default_for(event_type: str, own_account: bool) -> str:
    """The built-in template for an event type, in the org's or the learner's own voice."""
    return (OWN_DEFAULTS if own_account else DEFAULTS)[event_type]


def context_for(event_type: str, payload: dict[str, Any], learner: str) -> dict[str, Any]:
    """What a template sees: the learner's display name, the event type and the payload's objects."""
    subject = (payload or {}).get(SUBJECT.get(event_type, "course")) or {}
    return {
        "learner": learner,
        "event": str(event_type),  # the plain text, never the EventType member a row holds
        "course": (payload or {}).get("course") or {},
        "badge": (payload or {}).get("badge") or {},
        "certificate": (payload or {}).get("certificate") or {},
        "level": (payload or {}).get("level") or {},
        "subject": subject,
        "link": subject.get("url") or ((payload or {}).get("course") or {}).get("url"),
    }


def render(source: str | None, event_type: str, payload: dict[str, Any], learner: str, *,
           own_account: bool = False, html: bool = False, clock: Callable[[], float] = time.monotonic,
           without_link: bool = False) -> str:
    """Render a rule's template (or the default) for one event; raises InvalidTemplate (TemplateTooCostly past the
    caps: MAX_RENDERED characters, sandbox.MAX_STEPS steps, RENDER_SECONDS by `clock`). `without_link`: a rule that
    posts without the link, whose `{{ link }}` is empty."""
    text = source if source is not None else default_for(event_type, own_account)
    if len(text) > MAX_SOURCE:
        raise InvalidTemplate(f"template: {len(text):,} characters; a template is at most {MAX_SOURCE:,}")
    try:
        with sandbox.budget(clock):
            template = environment(html).compile_metered(text)
            context = context_for(event_type, payload, learner)
            if without_link:
                context["link"] = None
            rendered = template.render(context)
    except sandbox.BudgetExceeded as exc:
        raise TemplateTooCostly(f"template refused: {exc}") from None
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        raise InvalidTemplate(f"template{f' line {line}' if line else ''}: {exc}") from None
    except RecursionError:
        raise InvalidTemplate("template: nested too deeply (parentheses, or a macro calling itself)") from None
    except (ArithmeticError, LookupError, TypeError, ValueError) as exc:  # {{ 1/0 }}, {{ 'a' + 1 }}, ...
        raise InvalidTemplate(f"template: {exc}") from None
    return rendered.strip()[:MAX_TEXT]


def check(source: str, event_type: str, without_link: bool = False) -> None:
    """Refuse a template that does not compile or fails on a sample event (admins see it at once), and for a rule
    that posts without the link, one that writes a URL into the text anyway."""
    if not source.strip():
        raise InvalidTemplate("--template is empty")
    text = render(source, event_type, SAMPLE_PAYLOAD, "Ada Lovelace", without_link=without_link)
    if without_link and "://" in text:
        raise InvalidTemplate("template puts a URL in the text of a rule that posts without the link")


def preview(source: str | None, event_type: str, payload: dict[str, Any] | None = None,
            learner: str = "Ada Lovelace", *, own_account: bool = False, html: bool = False,
            without_link: bool = False) -> str:
    """The post a rule would make, on a sample event unless one is given (CLI and admin page)."""
    return render(source, event_type, payload or SAMPLE_PAYLOAD, learner, own_account=own_account, html=html,
                  without_link=without_link)
