"""Models for deprovisioning safeguards: deactivations held by the mass-suspension guard.

Imported by hub.models so Alembic sees them; the behaviour lives in hub/deprovision.py (docs/deprovisioning.md).
"""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from hub.models import Base, utcnow
from hub.models.types import StoredEnum


class HoldStatus(StrEnum):
    HELD = "held"  # waiting for an admin: the user is still active
    CONFIRMED = "confirmed"  # an admin applied the deactivation
    REJECTED = "rejected"  # an admin refused it: the user stays active
    WITHDRAWN = "withdrawn"  # the SCIM client sent active=true again before anyone decided


HELD_ONLY = "status = 'held'"


class DeprovisioningHold(Base):
    """A SCIM deactivation the mass-suspension guard did not apply: too large a share of the organisation was being
    deactivated within an hour, which is more often a broken sync than a real leaving, so an admin decides."""

    __tablename__ = "deprovisioning_holds"
    # At most one undecided hold per user: the LMS repeating active=false does not pile them up.
    __table_args__ = (Index("ix_deprovisioning_holds_held_user", "user_id", unique=True,
                            sqlite_where=text(HELD_ONLY), postgresql_where=text(HELD_ONLY)),)
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[HoldStatus] = mapped_column(StoredEnum(HoldStatus, 16), default=HoldStatus.HELD)
    actor: Mapped[str] = mapped_column(String(320))  # who asked (the SCIM token's name)
    reason: Mapped[str] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    decided_by: Mapped[str | None] = mapped_column(String(320), default=None)
