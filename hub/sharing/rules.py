"""Sharing rules: which events of an organisation go to which destination, and how destinations are spelled."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from hub.errors import HubError
from hub.models import Event, EventType, Rule
from providers import registry

MODES = ("immediate", "hourly", "daily", "automatic")
DIGEST_MODES = ("hourly", "daily", "automatic")
MAX_DELAY_RANGE = (30, 7 * 24 * 3600)  # automatic mode's --max-delay, seconds


class InvalidRule(HubError):
    """Admin input for a rule is wrong; the message names the field."""


@dataclass(frozen=True)
class Destination:
    """A parsed "kind:address" destination, e.g. slack:#wins, linkedin:me, teams:https://..."""

    kind: str
    address: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.address}"

    @property
    def is_url(self) -> bool:
        """An incoming-webhook style address: the URL itself is the credential, no connection needed."""
        return urlsplit(self.address).scheme in {"http", "https"}

    @property
    def on_learner_account(self) -> bool:
        """Posted as the learner (their connection, their consent) rather than to an org channel (yammer:org:<group>
        is one: the organisation's service account posts there)."""
        known = self.kind in registry.PUBLISHERS
        return known and registry.publisher_class(self.kind).posts_as_learner_to(self.address) and not self.is_url


def destination_kinds() -> tuple[str, ...]:
    """Destination kinds the outbox can publish to: one publisher each in providers/."""
    return tuple(registry.PUBLISHERS)


def posts_as_learner(kind: str) -> bool:
    """Posted through the learner's own connected account: their connection, their consent."""
    return kind in registry.PUBLISHERS and registry.publisher_class(kind).posts_as_learner


def admin_note(destination: str) -> str | None:
    """What an admin should know before posting to this kind of destination (its publisher says), or None."""
    return registry.publisher_class(parse_destination(destination).kind).admin_note


def cost_note(destination: str, template: str | None, event_type: str, without_link: bool) -> str | None:
    """What one post of this rule costs where the network bills posts ("$0.20 a post on X (with a link)"), on the
    sample event; None where posts are free."""
    from hub.sharing import budgets, templates

    kind = parse_destination(destination).kind
    own = parse_destination(destination).on_learner_account
    text = templates.preview(template, event_type, own_account=own, without_link=without_link)
    link = None if without_link else templates.context_for(event_type, templates.SAMPLE_PAYLOAD, "")["link"]
    cost = budgets.post_cost(kind, text, link)
    if cost is None:
        return None
    linked = "with a link" if budgets.carries_link(text, link) else "without a link"
    return f"{budgets.usd(cost)} a post on {budgets.label(kind)} ({linked})"


def parse_destination(text: str) -> Destination:
    """The one place a destination string is parsed; raises InvalidRule naming what is wrong."""
    kind, sep, address = (text or "").strip().partition(":")
    if not sep or not address.strip():
        raise InvalidRule(f"--to {text!r} must look like kind:address, e.g. slack:#wins or linkedin:me")
    kind, address = kind.lower(), address.strip()
    if kind not in registry.PUBLISHERS:
        raise InvalidRule(f"--to {text!r}: unknown kind {kind!r}; known: {', '.join(destination_kinds())}")
    rule = registry.publisher_class(kind).address
    if rule == "url" and urlsplit(address).scheme not in {"http", "https"}:
        raise InvalidRule(f"--to {text!r}: a {kind} destination is a URL")
    if rule == "me" and address != "me":
        raise InvalidRule(f"--to {text!r}: {kind} posts only on the learner's own account ({kind}:me)")
    return Destination(kind, address)


def add_rule(session: Session, *, org_id: int | None, event_type: str, destination: str,
             template: str | None = None, mode: str = "immediate", courses: Sequence[str] = (),
             badges: Sequence[str] = (), max_delay_seconds: int | None = None, without_link: bool = False) -> Rule:
    """Validate and store a rule (the template is compiled and test-rendered first).

    `without_link`: post the message alone, without the event's link (X bills a post with a URL far more)."""
    from hub.sharing import templates

    if event_type not in set(EventType):
        raise InvalidRule(f"--on {event_type!r} is not an event type; one of: "
                          f"{', '.join(EventType)}")
    parsed = parse_destination(destination)
    if mode not in MODES:
        raise InvalidRule(f"--mode {mode!r} must be one of {', '.join(MODES)}")
    if mode in DIGEST_MODES and parsed.on_learner_account:
        raise InvalidRule(f"--mode {mode}: digests go to channels; {parsed} posts on each learner's own account, "
                          "one post per event (use --mode immediate)")
    if max_delay_seconds is not None:
        low, high = MAX_DELAY_RANGE
        if mode != "automatic":
            raise InvalidRule("--max-delay applies to --mode automatic only")
        if not low <= max_delay_seconds <= high:
            raise InvalidRule(f"--max-delay must be between {low} and {high} seconds, not {max_delay_seconds}")
    if template is not None:
        templates.check(template, event_type, without_link=without_link)
    filters: dict[str, Any] = {}
    if courses:
        filters["courses"] = [str(c) for c in courses]
    if badges:
        filters["badges"] = [str(b) for b in badges]
    if mode == "automatic" and max_delay_seconds is None:
        from hub.sharing.digests import DEFAULT_MAX_DELAY

        max_delay_seconds = DEFAULT_MAX_DELAY
    rule = Rule(org_id=org_id, event_type=EventType(event_type), destination=str(parsed), template=template, mode=mode,
                filters=filters, enabled=True, max_delay_seconds=max_delay_seconds, without_link=without_link)
    session.add(rule)
    session.flush()
    return rule


def matches(rule: Rule, event: Event) -> bool:
    """True when the rule's event type and course/badge filters accept the event."""
    if not rule.enabled or rule.event_type != event.type:
        return False
    payload = event.payload or {}
    for key, subject in (("courses", "course"), ("badges", "badge")):
        wanted = (rule.filters or {}).get(key)
        if wanted and str((payload.get(subject) or {}).get("id")) not in {str(w) for w in wanted}:
            return False
    return True


def rules_for(session: Session, org_id: int | None, event: Event) -> list[Rule]:
    """Enabled rules of the organisation (and the everyone-rules) that accept the event, oldest first."""
    scope = Rule.org_id.is_(None) if org_id is None else or_(Rule.org_id.is_(None), Rule.org_id == org_id)
    query = select(Rule).where(Rule.enabled.is_(True), Rule.event_type == event.type, scope).order_by(Rule.id)
    return [rule for rule in session.scalars(query) if matches(rule, event)]
