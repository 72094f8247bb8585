"""Column types of the models: a state held as one of a StrEnum's members, stored as its value."""
from __future__ import annotations

from enum import StrEnum
from typing import Generic, TypeVar

from sqlalchemy import String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

E = TypeVar("E", bound=StrEnum)


class StoredEnum(TypeDecorator[E], Generic[E]):
    """A StrEnum column: VARCHAR(length) in the database, exactly as the migrations made it (no native enum, no
    CHECK constraint, so adding a member needs no migration), and a member in Python: rows read back as members,
    and only a member or its value is written or compared (anything else is a bug, refused before the query)."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[E], length: int) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: E | str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> E | None:
        return None if value is None else self.enum(value)
