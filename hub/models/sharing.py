"""Models for sharing LMS events to social networks: sources, events, rules, connections, consent, the outbox.

Imported by hub.models so Alembic sees them; the behaviour lives in webhooks/ and hub/sharing/.
"""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from hub.models import Base, utcnow
from hub.models.types import StoredEnum


class EventType(StrEnum):
    COURSE_ENROLLED = "course.enrolled"
    COURSE_COMPLETED = "course.completed"
    BADGE_AWARDED = "badge.awarded"
    LEVEL_REACHED = "level.reached"
    CERTIFICATE_ISSUED = "certificate.issued"


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # planned, waiting for a worker (or for next_attempt_at)
    SENDING = "sending"  # leased by one attempt (attempt_id) until lease_until
    SENT = "sent"  # the provider holds the post (remote_id, remote_url)
    FAILED = "failed"  # a transient failure; retried at next_attempt_at
    DEAD = "dead"  # permanent failure or attempts exhausted; an admin may retry
    UNKNOWN = "unknown"  # a crash mid-send and the post could not be found: an admin decides
    SKIPPED = "skipped"  # consent, user or connection gone at send time; nothing posted
    HELD = "held"  # waiting for its rule's digest (next_attempt_at: when the digest is due)
    FOLDED = "folded"  # delivered inside a digest delivery (digest_id)


DIGEST_KEY_PREFIX = "digest:"
UNDISPATCHED = "enqueued_at IS NULL AND status IN ('pending', 'failed')"  # the dispatcher's work list
HELD = "status = 'held'"  # waiting for a digest


class Source(Base):
    """An LMS that sends events: Standard Webhooks secrets and/or xAPI credentials."""

    __tablename__ = "sources"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    # Sealed JSON list of `whsec_` secrets; several are accepted during rotation, the first signs tests.
    webhook_secrets_sealed: Mapped[str | None] = mapped_column(Text, default=None)
    # xAPI: Basic auth key (public) and the SHA-256 of its secret; bearer tokens are hashed too.
    xapi_key: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    xapi_secret_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    xapi_bearer_hash: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    # The LMS's account homePage (xAPI actor.account.homePage) that names its users' ids.
    home_page: Mapped[str | None] = mapped_column(Text, default=None)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Whose learners its events may name: every organisation (said explicitly), else the rows of source_orgs.
    all_orgs: Mapped[bool] = mapped_column(Boolean, default=False)
    # Made before organisations were tenants and kept working as all-orgs: listings flag it for narrowing.
    all_orgs_by_migration: Mapped[bool] = mapped_column(Boolean, default=False)

    @property
    def seal_context(self) -> str:
        return f"source:{self.name}:webhook_secrets"


class SourceOrg(Base):
    """An organisation whose learners a scoped source's events may name."""

    __tablename__ = "source_orgs"
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True)


class LmsAccount(Base):
    """Which hub user an LMS knows by which id (learned at LMS sign-in, from SCIM externalId, or by admins)."""

    __tablename__ = "lms_accounts"
    __table_args__ = (UniqueConstraint("home_page", "external_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    home_page: Mapped[str] = mapped_column(String(500))
    external_id: Mapped[str] = mapped_column(String(255))


class Event(Base):
    """One LMS event, stored once per (source, external id) for as long as senders retry."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("source_id", "external_id"),
        # The dispatcher's work list stays small however many planned events are kept for deduplication.
        Index("ix_events_unplanned", "id", sqlite_where=text("planned_at IS NULL"),
              postgresql_where=text("planned_at IS NULL")),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(255))  # webhook-id, or xAPI statement id
    content_hash: Mapped[str] = mapped_column(String(64))  # SHA-256 of the canonical payload
    type: Mapped[EventType | None] = mapped_column(StoredEnum(EventType, 40), default=None)  # None: stored, ignored
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)
    occurred_at: Mapped[datetime | None] = mapped_column(default=None)
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # Set when the dispatcher turned the event into deliveries (in that same transaction); NULL: not yet.
    planned_at: Mapped[datetime | None] = mapped_column(default=None)
    # Planning that raised (hub/sharing/dispatch.py): failed attempts so far, the last one's error, when the next
    # may run, and when the dispatcher gave up (`hub event list --status failed`; `hub event replan ID`).
    plan_attempts: Mapped[int] = mapped_column(Integer, default=0)
    plan_error: Mapped[str | None] = mapped_column(Text, default=None)
    next_plan_at: Mapped[datetime | None] = mapped_column(default=None)
    plan_failed_at: Mapped[datetime | None] = mapped_column(default=None)


class Rule(Base):
    """Which events of an organisation go where, with what message."""

    __tablename__ = "rules"
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), default=None)
    event_type: Mapped[EventType] = mapped_column(StoredEnum(EventType, 40))
    # Optional filters: {"courses": [ids], "badges": [ids]}
    filters: Mapped[dict] = mapped_column(JSON, default=dict)
    destination: Mapped[str] = mapped_column(Text)  # "slack:#wins", "yammer:123", "linkedin:me", ...
    template: Mapped[str | None] = mapped_column(Text, default=None)  # sandboxed Jinja; None: the default
    mode: Mapped[str] = mapped_column(String(20), default="immediate")  # immediate|hourly|daily|automatic
    # automatic mode: fold into a digest once the destination's backlog would delay a post longer than this.
    max_delay_seconds: Mapped[int | None] = mapped_column(Integer, default=None)
    # Post without the event's link (X bills a post carrying a URL far more than one without).
    without_link: Mapped[bool] = mapped_column(Boolean, default=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Connection(Base):
    """An account connected for posting: a learner's own (LinkedIn, X, Yammer) or an org's (Slack bot)."""

    __tablename__ = "connections"
    __table_args__ = (UniqueConstraint("kind", "user_id", "org_id", "remote_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # provider kind
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), default=None)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), default=None)
    remote_id: Mapped[str] = mapped_column(String(255))  # the account or workspace at the provider
    scopes: Mapped[list] = mapped_column(JSON, default=list)
    tokens_sealed: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def seal_context(self) -> str:
        return f"connection:{self.kind}:{self.user_id}:{self.org_id}:{self.remote_id}:tokens"


class Consent(Base):
    """A learner's choice per destination kind, with when and which wording they agreed to."""

    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("user_id", "destination_kind"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    destination_kind: Mapped[str] = mapped_column(String(32))
    choice: Mapped[str] = mapped_column(String(10), default="ask")  # always|ask|never
    name_in_org_posts: Mapped[bool] = mapped_column(Boolean, default=False)
    text_version: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Delivery(Base):
    """The outbox: one row per (event, rule, destination) before it is ever a job (job id = delivery id)."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("key"),
        Index("ix_deliveries_undispatched", "id", sqlite_where=text(UNDISPATCHED),
              postgresql_where=text(UNDISPATCHED)),
        # Every dispatcher pass asks which digests are due; a daily digest may hold thousands of rows meanwhile.
        Index("ix_deliveries_held_due", "next_attempt_at", sqlite_where=text(HELD),
              postgresql_where=text(HELD)),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(128))  # f"{event_id}:{rule_id}:{destination}" or a digest key
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), default=None)
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("rules.id", ondelete="SET NULL"), default=None)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), default=None)
    # The learner's organisation when planned: whose connection posts, and which digest a held delivery joins.
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), default=None)
    destination: Mapped[str] = mapped_column(Text)
    status: Mapped[DeliveryStatus] = mapped_column(StoredEnum(DeliveryStatus, 16), default=DeliveryStatus.PENDING,
                                                   index=True)
    text: Mapped[str | None] = mapped_column(Text, default=None)  # rendered (or learner-edited) message
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    attempt_id: Mapped[str | None] = mapped_column(String(64), default=None)
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    # Set when the dispatcher made its RQ job; NULL: committed, waiting for the dispatcher.
    enqueued_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    remote_id: Mapped[str | None] = mapped_column(String(255), default=None)
    remote_url: Mapped[str | None] = mapped_column(Text, default=None)
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id", ondelete="SET NULL"), default=None)
    # What the destination bills for this post, in micro-dollars (its publisher's post_cost); None: not billed.
    cost_micros: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def is_digest(self) -> bool:
        """A digest's own delivery (hub/sharing/digests.py): no event, no learner, its members point at it."""
        return self.key.startswith(DIGEST_KEY_PREFIX)
