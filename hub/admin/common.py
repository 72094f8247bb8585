"""What every admin page shares: the acting admin, audited results, and paging."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import flash, request
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from hub import audit
from hub.auth.sessions import current_user
from hub.models import MAX_KEY


def actor() -> str:
    """The signed-in admin as the audit log names them."""
    user = current_user()
    return (user.email or f"user:{user.id}") if user else "unknown"


def done(action: str, message: str, *, outcome: str = "success", **fields: Any) -> str:
    """Audit one admin action and flash its result; returns the audit ref. Pass org_id (or user_id) for an action
    on an organisation's objects: the row is filed under it, so that organisation's admins see it."""
    ref = audit.record(action, outcome, actor=actor(), **fields)
    flash(message if outcome == "success" else f"{message} (ref {ref})",
          "success" if outcome == "success" else "error")
    return ref


def whole(value: str) -> int | None:
    """A whole number typed into a form: ASCII digits only ("²" and "٣" are digits to str.isdigit, not to int
    or to the database), within the database's integers; None for anything else."""
    if not (value.isascii() and value.isdigit()):
        return None
    number = int(value)
    return number if number <= MAX_KEY else None


@dataclass
class Page:
    """One page of a listing, with what the pager needs."""

    items: list[Any]
    number: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def first(self) -> int:
        return 0 if not self.total else (self.number - 1) * self.size + 1

    @property
    def last(self) -> int:
        return min(self.total, self.number * self.size)


def page_number() -> int:
    """The ?page= argument, clamped to 1 when missing or malformed."""
    try:
        return max(1, int(request.args.get("page", "1")))
    except ValueError:
        return 1


def paginate(db: Session, query: Select[Any], size: int) -> Page:
    """Count and slice a query; a page past the end shows the last page."""
    total = db.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    pages = max(1, -(-total // size))
    number = min(page_number(), pages)
    items = list(db.scalars(query.limit(size).offset((number - 1) * size)))
    return Page(items=items, number=number, size=size, total=total)
