"""Models for what networks bill: an organisation's monthly budget per destination kind, and what it spent.

Money is kept in micro-dollars (integers: X's $0.015 a post is 15 000), so sums and comparisons are exact on every
database. The behaviour lives in hub/sharing/budgets.py.
"""
from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hub.models import Base


class PostingBudget(Base):
    """At most `monthly_micros` a calendar month (UTC) on posts to `kind` (a destination kind that bills posts)."""

    __tablename__ = "posting_budgets"
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    monthly_micros: Mapped[int] = mapped_column(BigInteger)


class PostingSpend(Base):
    """What an organisation's posts to `kind` cost in one month ("2026-12"): reserved before each post goes out."""

    __tablename__ = "posting_spend"
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    spent_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    posts: Mapped[int] = mapped_column(Integer, default=0)
