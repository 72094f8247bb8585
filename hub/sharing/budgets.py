"""What networks bill for posts: each post's cost, and an organisation's monthly budget per destination kind.

A publisher declares its price (`Publisher.post_cost(has_link)`, providers/base.py; X bills every post and a post
with a URL far more). The planner records a delivery's cost when it renders it (shown in previews and on the
deliveries page); the sender reserves the cost of the post it is about to make against the organisation's budget
for that kind and month (UTC, by the hub's clock) in one conditional UPDATE, so racing workers cannot both pass the
last dollar, and gives it back when the network refused the post. A post past the budget is held: pending until the
first instant of the next month, with the reason in `last_error`; the dispatcher releases it then, and it counts
against the new month's budget. A crash mid-send keeps its reservation (the post may have gone out).

Money is integer micro-dollars throughout (X's $0.015 is 15 000) so that sums are exact in SQL.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from hub.errors import HubError
from hub.models import Delivery, DeliveryStatus, PostingBudget, PostingSpend
from providers import registry

MICROS = 1_000_000
HELD_WORDS = "monthly budget of"  # in every held post's reason: what release_held looks for
MAX_BUDGET = Decimal("1000000")  # USD a month: a typo guard, far above any organisation's posting bill
# A URL anywhere in the text makes X bill the post as one with a URL, whether or not it is the post's link.
URL_IN_TEXT = re.compile(r"https?://|www\.", re.IGNORECASE)


class InvalidBudget(HubError):
    """Admin input for a budget is wrong; the message says which part."""


@dataclass(frozen=True)
class Held:
    """A post the budget does not cover this month: why, and when the next month's budget opens."""

    reason: str
    until: datetime


@dataclass(frozen=True)
class Reservation:
    """Money set aside for one post: given back (refund) if the network refused it."""

    org_id: int
    kind: str
    month: str
    micros: int


def micros(usd: Decimal) -> int:
    """US dollars as integer micro-dollars (rounded to the micro-dollar)."""
    return int((usd * MICROS).to_integral_value())


def usd(amount: int) -> str:
    """Micro-dollars as a price people read: $50.00, $0.015, $0.20."""
    value = Decimal(amount) / MICROS
    text = f"{value:.6f}".rstrip("0")
    whole, _, cents = text.partition(".")
    return f"${whole}.{cents.ljust(2, '0')}"


def bills_posts(kind: str) -> bool:
    """True where the destination kind's network charges for posts (its publisher declares a price)."""
    try:
        return registry.publisher_class(kind).post_cost(False) is not None
    except registry.UnknownKind:
        return False


def billed_kinds() -> tuple[str, ...]:
    """Destination kinds whose posts are billed: the ones a budget can be set for."""
    return tuple(kind for kind in registry.PUBLISHERS if bills_posts(kind))


def label(kind: str) -> str:
    """The network's name as people know it ("X"), from its sign-in provider's button; else the kind."""
    try:
        return registry.provider_class(kind).brand.label
    except registry.UnknownKind:
        return kind


def carries_link(text: str | None, link: str | None) -> bool:
    """Whether a post counts as one with a URL: it has a link, or a URL in its text."""
    return bool(link) or bool(text and URL_IN_TEXT.search(text))


def post_cost(kind: str, text: str | None, link: str | None) -> int | None:
    """What one post to `kind` costs, in micro-dollars; None where the network does not bill posts."""
    try:
        price = registry.publisher_class(kind).post_cost(carries_link(text, link))
    except registry.UnknownKind:
        return None
    return None if price is None else micros(price)


def month_of(now: datetime) -> str:
    """The budget month of an instant: "2026-12" (UTC)."""
    return now.astimezone(UTC).strftime("%Y-%m")


def next_month(now: datetime) -> datetime:
    """The first instant of the month after `now`'s (UTC): when a held post's new budget opens."""
    now = now.astimezone(UTC)
    year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
    return datetime(year, month, 1, tzinfo=UTC)


def parse_usd(text: str, label: str) -> Decimal | None:
    """An admin's amount of dollars ("50", "12.5", "$20"), or None for "none"/"off" (no budget); InvalidBudget."""
    cleaned = text.strip().removeprefix("$").strip()
    if cleaned.lower() in {"none", "off", ""}:
        return None
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise InvalidBudget(f"{label} {text!r} must be an amount of US dollars, e.g. 50 or 12.50 (none: no budget)") \
            from None
    if not value.is_finite() or value < 0 or value > MAX_BUDGET:
        raise InvalidBudget(f"{label} {text!r} must be between 0 and {MAX_BUDGET} US dollars")
    return value


def set_budget(session: Session, org_id: int, kind: str, amount: Decimal | None) -> PostingBudget | None:
    """Set (or with None remove) an organisation's monthly budget for posts to `kind`; InvalidBudget for a kind that
    does not bill posts."""
    if not bills_posts(kind):
        billed = ", ".join(billed_kinds()) or "none"
        raise InvalidBudget(f"{kind!r} does not bill posts: a budget is for {billed}")
    row = session.get(PostingBudget, (org_id, kind))
    if amount is None:
        if row is not None:
            session.delete(row)
        return None
    row = row or PostingBudget(org_id=org_id, kind=kind)
    row.monthly_micros = micros(amount)
    session.add(row)
    return row


def release_held(session: Session, org_id: int, kind: str, now: datetime) -> int:
    """Make the organisation's posts to `kind` held by its budget due now (after the budget was raised or removed):
    each is reserved afresh when sent, and held again if it still does not fit. Returns how many; the caller commits."""
    result = cast(CursorResult[Any], session.execute(
        update(Delivery)
        .where(Delivery.org_id == org_id, Delivery.status == DeliveryStatus.PENDING,
               Delivery.destination.startswith(f"{kind}:", autoescape=True), Delivery.next_attempt_at > now,
               Delivery.last_error.contains(HELD_WORDS, autoescape=True))
        .values(next_attempt_at=now, enqueued_at=None)
        .execution_options(synchronize_session=False)))
    return int(result.rowcount or 0)


def budgets_of(session: Session, org_id: int) -> dict[str, int]:
    """kind -> monthly budget (micro-dollars) of one organisation."""
    rows = session.scalars(select(PostingBudget).where(PostingBudget.org_id == org_id))
    return {row.kind: row.monthly_micros for row in rows}


def spent(session: Session, org_id: int, kind: str, month: str) -> int:
    """What the organisation's posts to `kind` cost in `month` so far (reserved), in micro-dollars."""
    row = session.get(PostingSpend, (org_id, kind, month))
    return row.spent_micros if row is not None else 0


def reserve(session: Session, org_id: int | None, kind: str, cost: int | None, now: datetime) -> Held | Reservation \
        | None:
    """Set `cost` aside from the month's budget and commit: a Reservation; Held when it does not fit; None when there
    is nothing to count (a free post, no organisation, or no budget set)."""
    if not cost or org_id is None:
        return None
    budget = session.get(PostingBudget, (org_id, kind))
    if budget is None:
        return None
    month = month_of(now)
    session.execute(_insert_spend(session.get_bind().dialect.name),
                    {"org_id": org_id, "kind": kind, "month": month})
    won = cast(CursorResult[Any], session.execute(
        update(PostingSpend)
        .where(PostingSpend.org_id == org_id, PostingSpend.kind == kind, PostingSpend.month == month,
               PostingSpend.spent_micros + cost <= budget.monthly_micros)
        .values(spent_micros=PostingSpend.spent_micros + cost, posts=PostingSpend.posts + 1)
        .execution_options(synchronize_session=False)))
    session.commit()
    if won.rowcount == 1:
        return Reservation(org_id, kind, month, cost)
    return Held(f"{label(kind)} {HELD_WORDS} {usd(budget.monthly_micros)} "
                f"reached ({usd(spent(session, org_id, kind, month))} spent in {month}; this post costs {usd(cost)}): "
                f"held until {next_month(now):%Y-%m-%d} 00:00 UTC", next_month(now))


def refund(session: Session, reservation: Reservation) -> None:
    """Give a reservation back (the network refused the post, so it billed nothing) and commit."""
    session.execute(
        update(PostingSpend)
        .where(PostingSpend.org_id == reservation.org_id, PostingSpend.kind == reservation.kind,
               PostingSpend.month == reservation.month)
        .values(spent_micros=PostingSpend.spent_micros - reservation.micros, posts=PostingSpend.posts - 1)
        .execution_options(synchronize_session=False))
    session.commit()


def _insert_spend(dialect: str) -> Any:
    """INSERT the month's row at zero unless it is there (ON CONFLICT DO NOTHING), so the UPDATE has a row to win."""
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(PostingSpend)
    return insert.values(spent_micros=0, posts=0).on_conflict_do_nothing(
        index_elements=["org_id", "kind", "month"])
