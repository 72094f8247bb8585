"""SCIM filters (RFC 7644 §3.4.2.2) to SQL: scim2-models parses, this maps each attribute to a column.

Only attributes listed in a resource's table are filterable; anything else is an invalidFilter error rather than a
silent "no match", so an LMS sync that relies on an unsupported filter finds out. Values are always bound
parameters, and LIKE patterns are escaped (`autoescape`), so a filter value never becomes SQL.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from scim2_models import InvalidFilterException, ScimFilter
from scim2_models.path.expressions import Comparison, LogicalExpr, LogicalOperator, Not, Present, ValuePath
from sqlalchemy import ColumnElement, and_, false, func, not_, or_, true

# attribute path (lower case, "emails.value") -> (column expression, case-insensitive?)
Columns = Mapping[str, tuple[Callable[[], Any], bool]]
# attribute path -> a function building the whole condition from (operator, value) (for EXISTS-style attributes)
Special = Mapping[str, Callable[[str, Any], ColumnElement[bool]]]


def parse(expression: str) -> Any:
    """The filter's tree, or InvalidFilterException with where it went wrong."""
    if len(expression) > 2000:
        raise InvalidFilterException(detail="the filter is longer than 2000 characters")
    if "\x00" in expression:
        raise InvalidFilterException(detail="the filter holds a NUL character")
    try:
        return ScimFilter(expression).ast
    except InvalidFilterException:
        raise
    except ValueError as exc:
        raise InvalidFilterException(detail=str(exc)) from None


def to_sql(node: Any, columns: Columns, special: Special | None = None, prefix: str = "") -> ColumnElement[bool]:
    """The SQL condition for a parsed filter over the given attribute table."""
    special = special or {}
    if isinstance(node, LogicalExpr):
        parts = [to_sql(term, columns, special, prefix) for term in node.terms]
        return and_(*parts) if node.op == LogicalOperator.and_ else or_(*parts)
    if isinstance(node, Not):
        return not_(to_sql(node.expr, columns, special, prefix))
    if isinstance(node, ValuePath):
        # emails[value eq "x"]: the inner filter names sub-attributes of the outer one.
        return to_sql(node.val_filter, columns, special, prefix=_name(node.attr_path) + ".")
    if isinstance(node, (Comparison, Present)):
        name = prefix + _name(node.attr_path)
        op = "pr" if isinstance(node, Present) else node.op.value
        value = None if isinstance(node, Present) else node.value
        if name in special:
            return special[name](op, value)
        if name not in columns:
            raise InvalidFilterException(detail=f"filtering on {name} is not supported")
        column_of, insensitive = columns[name]
        return _compare(column_of(), op, value, insensitive)
    raise InvalidFilterException(detail="unsupported filter expression")


def _name(path: Any) -> str:
    name = path.attr + (f".{path.sub_attr}" if path.sub_attr else "")
    return name.lower()


def _compare(column: Any, op: str, value: Any, insensitive: bool) -> ColumnElement[bool]:
    if op == "pr":
        return column.isnot(None)
    if isinstance(value, bool):
        if op not in ("eq", "ne"):
            raise InvalidFilterException(detail=f"{op} does not apply to a boolean")
        return (column == value) if op == "eq" else (column != value)
    if value is None:
        return column.is_(None) if op == "eq" else column.isnot(None)
    value = _typed(column, op, value)
    if insensitive:
        column, value = func.lower(column), value.lower()
    if op == "eq":
        return column == value
    if op == "ne":
        return or_(column != value, column.is_(None))
    if op in ("co", "sw", "ew"):
        method = {"co": column.contains, "sw": column.startswith, "ew": column.endswith}[op]
        return method(value, autoescape=True)
    comparisons = {"gt": column.__gt__, "ge": column.__ge__, "lt": column.__lt__, "le": column.__le__}
    if op in comparisons:
        return comparisons[op](value)
    raise InvalidFilterException(detail=f"unknown operator {op}")


def _typed(column: Any, op: str, value: Any) -> Any:
    """The value as the column's type, or invalidFilter: PostgreSQL refuses to compare text with a number or a
    timestamp with text, and that refusal must be a 400, not a 500."""
    if column.type.python_type is datetime:
        if op in ("co", "sw", "ew") or not isinstance(value, str):
            raise InvalidFilterException(detail=f"{op} on a date takes an RFC 3339 date-time string")
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidFilterException(detail=f"{value!r} is not an RFC 3339 date-time") from None
        # Stored as UTC without a zone: compare like with like.
        return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
    if not isinstance(value, str):
        raise InvalidFilterException(detail=f"{op} on a string attribute takes a string")
    return value


def boolean(condition: ColumnElement[bool]) -> Callable[[str, Any], ColumnElement[bool]]:
    """A special attribute true exactly when `condition` holds (SCIM `active`)."""
    def build(op: str, value: Any) -> ColumnElement[bool]:
        if op == "pr":
            return true()
        if op not in ("eq", "ne") or not isinstance(value, bool):
            raise InvalidFilterException(detail="a boolean attribute takes eq/ne true or false")
        wanted = value if op == "eq" else not value
        return condition if wanted else not_(condition)
    return build


NEVER = false()
