"""A Jinja sandbox with a budget: a post template may render so much, take so many steps and so much time.

Jinja's sandbox stops a template from reaching anything but its context; it does not stop one from working forever
or filling memory. `range` is capped at 100,000 items, but nested loops multiply, and one operator can build a
gigabyte string (`'x' * 10**9`, `'%999999999d' % 1`). Here a template is metered from the inside, in the thread that
renders it, and no thread is ever killed:

- steps: every loop iteration, call, filter, operator, literal list/dict and output piece is one step, and the clock
  is read at each one; past MAX_STEPS or the deadline, rendering stops with BudgetExceeded;
- sizes: every value the template builds is measured when built (its characters and items, nested ones counted,
  each visit counted, so measuring stops early), and refused past MAX_VALUE; so is output past MAX_RENDERED;
- amplifiers, checked before they run: `*` and `**` by the size of what they would build, printf widths, the size
  arguments of filters and string methods (`center(10**9)`), str.format (its widths are unbounded: refused).

Every value a step sees is then at most MAX_VALUE big, so no single step can take long: the worst (`replace` or
`join` on values at the cap) is bounded by MAX_VALUE squared, and the step and time budgets bound how many there are.
"""
from __future__ import annotations

import functools
import inspect
import re
import types
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, cast

from jinja2 import ChainableUndefined, nodes
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context, markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

from hub.errors import HubError

# Characters a template may render: above the longest post any destination takes (MAX_TEXT in templates.py, 3,000:
# LinkedIn's commentary and Slack's section block; X takes 280; Teams, Viva Engage and webhooks get the same 3,000),
# so no template whose post some destination could carry whole is refused (a longer one is cut to MAX_TEXT, as
# before). Output past this is no post but a template running away, and rendering stops there.
MAX_RENDERED = 5_000
# The largest value (string characters, list or dict items, nested ones counted) a template may build on the way:
# the same as the output, which is all a value is for.
MAX_VALUE = MAX_RENDERED
# Steps one render may take. A real post template takes tens; 100,000 is a few tenths of a second of the slowest
# steps. Counted, not timed, so a template gets the same verdict on the admin's laptop and on a busy worker.
MAX_STEPS = 100_000
# Wall-clock seconds one render may take, for what steps do not count (a slow filter on a value at the cap).
RENDER_SECONDS = 0.5
# Integers a template computes: a level number needs 20 bits; 10**10**10 would take the worker for hours.
MAX_INT_BITS = 4_096

# str methods a template may call: none builds more than its arguments hold. center/ljust/rjust/zfill take a width
# (checked like every number passed to a built-in); str.format and format_map are refused outright (widths inside
# the format string); expandtabs, translate and the rest are left out.
_STR_METHODS = frozenset({
    "capitalize", "casefold", "center", "count", "endswith", "find", "index", "isalnum", "isalpha", "isascii",
    "isdecimal", "isdigit", "islower", "isnumeric", "isspace", "istitle", "isupper", "join", "ljust", "lower",
    "lstrip", "partition", "removeprefix", "removesuffix", "replace", "rfind", "rindex", "rjust", "rpartition",
    "rsplit", "rstrip", "split", "splitlines", "startswith", "strip", "swapcase", "title", "upper", "zfill",
    "striptags", "unescape",  # Markup's own
})
# Filters whose number arguments are sizes (widths, counts, digits, indents): each must be at most MAX_VALUE.
_SIZED_FILTERS = frozenset({"batch", "center", "indent", "round", "slice", "tojson", "truncate", "urlize",
                            "wordwrap"})
# A printf conversion's width and precision ('%-10.3f', '%*d'): the output is at least that wide.
_PRINTF = re.compile(r"%(?:\([^)]*\))?[#0 +\-]*(\*|\d+)?(?:\.(\*|\d+))?")
# Globals a post has no use for: lipsum(n) writes n paragraphs; namespace() carries values across loop iterations.
_DROPPED_GLOBALS = ("lipsum", "namespace")


class BudgetExceeded(HubError):
    """A template that renders too much, builds too big a value, or takes too long; the message says which."""


@dataclass
class _Budget:
    clock: Callable[[], float]
    deadline: float
    steps: int = 0

    def charge(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise BudgetExceeded(f"it takes more than {MAX_STEPS:,} steps (loop iterations, calls, filters) "
                                    "to render: look for loops inside loops")
        if self.clock() > self.deadline:
            raise BudgetExceeded(f"it takes longer than {RENDER_SECONDS} s to render")


_BUDGET: ContextVar[_Budget] = ContextVar("template_budget")


@contextmanager
def budget(clock: Callable[[], float]) -> Iterator[None]:
    """Meter the renders inside the block (this thread or task only) against one budget, from now."""
    token = _BUDGET.set(_Budget(clock, clock() + RENDER_SECONDS))
    try:
        yield
    finally:
        _BUDGET.reset(token)


def _charge() -> None:
    _BUDGET.get().charge()  # LookupError outside budget(): the environment renders only inside one


def size(value: Any, limit: int = MAX_VALUE) -> int:
    """A value's size: characters of its strings, one per container, item and scalar, shared parts counted each
    time they appear (as str() would write them out). Counting stops just past `limit`, so it never takes longer
    than `limit` visits, however the value was built."""
    total, pending = 0, [value]
    while pending and total <= limit:
        item = pending.pop()
        if isinstance(item, (str, bytes, range)):
            total += max(len(item), 1)
        elif isinstance(item, dict):
            total += 1
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            total += 1
            pending.extend(item)
        else:
            total += 1
    return total


def check_value(value: Any, what: str) -> Any:
    """The value, if it is at most MAX_VALUE big; else BudgetExceeded naming what built it."""
    if size(value) > MAX_VALUE:
        raise BudgetExceeded(f"{what} builds a value longer than {MAX_VALUE:,} characters or items")
    return value


def _check_sizes(arguments: Iterable[Any], what: str) -> None:
    for argument in arguments:
        if isinstance(argument, int) and not isinstance(argument, bool) and abs(argument) > MAX_VALUE:
            raise BudgetExceeded(f"{what} is given {argument}; a width, count or size is at most {MAX_VALUE:,}")


def _check_printf(template: str) -> None:
    """Refuse a printf width or precision that would build more than MAX_VALUE characters by itself."""
    for width, precision in _PRINTF.findall(template):
        for part in (width, precision):
            if part == "*" or (part and (len(part) > 6 or int(part) > MAX_VALUE)):
                raise BudgetExceeded(f"a % format width or precision is at most {MAX_VALUE:,} (found "
                                        f"{'*' if part == '*' else part[:12]})")


def _check_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse `*` and `**` that would build something past the caps, and wide printf formats, before they run."""
    if operator == "*":
        number, other = (left, right) if isinstance(left, int) else (right, left)
        if isinstance(number, int) and isinstance(other, (str, list, tuple)):
            if size(other) * max(number, 0) > MAX_VALUE:
                raise BudgetExceeded(f"'*' builds a value longer than {MAX_VALUE:,} characters or items")
        elif isinstance(left, int) and isinstance(right, int) and left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise BudgetExceeded(f"'*' computes a number larger than {MAX_INT_BITS:,} bits")
    elif operator == "**" and isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0:
        if left.bit_length() * right > MAX_INT_BITS:
            raise BudgetExceeded(f"'**' computes a number larger than {MAX_INT_BITS:,} bits")
    elif operator == "%" and isinstance(left, str):
        _check_printf(left)


def _refused_format(*_args: Any, **_kwargs: Any) -> str:
    raise SecurityError("str.format is not available in post templates (a width inside the format string is "
                        "unbounded): join parts with ~ instead")


class MeteredSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, metered (see the module docstring). Render only inside budget()."""

    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

    def __init__(self, html: bool = False) -> None:
        # Missing payload fields render empty (ChainableUndefined): an LMS that omits an image must not stop a post.
        super().__init__(autoescape=html, undefined=ChainableUndefined, trim_blocks=True, lstrip_blocks=True)
        for name in _DROPPED_GLOBALS:
            self.globals.pop(name, None)
        self.filters = {name: _metered_filter(name, function) for name, function in self.filters.items()}
        self.concat = _bounded_concat  # type: ignore[method-assign]  # every block's output, and the whole post

    def compile_metered(self, source: str) -> Any:
        """The template, with its loops, `~` and literal lists and dicts metered (they have no sandbox hook)."""
        tree = _Meter(self).visit(self.parse(source))
        return self.from_string(tree)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _charge()
        name = getattr(__obj, "__name__", "a function")
        what = f"calling {'range' if name == 'safe_range' else name}"
        if inspect.isbuiltin(__obj):  # a str, list or int method: its numbers are widths and counts
            _check_sizes([*args, *kwargs.values()], what)
        return check_value(super().call(__context, __obj, *args, **kwargs), what)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _charge()
        _check_binop(operator, left, right)
        return check_value(super().call_binop(context, operator, left, right), f"'{operator}'")

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, str) and attr not in _STR_METHODS:
            return False
        return super().is_safe_attribute(obj, attr, value)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        if isinstance(value, (types.MethodType, types.BuiltinMethodType)) and isinstance(
                getattr(value, "__self__", None), str) and value.__name__ in ("format", "format_map"):
            return _refused_format
        return super().wrap_str_format(value)

    def metered_iter(self, iterable: Iterable[Any]) -> Iterator[Any]:
        """A loop's items, one step each: loops inside loops multiply, and each iteration is counted."""
        for item in iterable:
            _charge()
            yield item

    def metered_value(self, value: Any) -> Any:
        """A literal list or dict, or a `~` concatenation, once built: `[a, a]` nested in itself doubles each time."""
        _charge()
        return check_value(value, "a list, dict or ~")

    def metered_concat(self, *parts: Any) -> Any:
        """`a ~ b`: measured before str() writes the parts out."""
        _charge()
        for part in parts:
            check_value(part, "~")
        joined = markup_join(parts) if any(hasattr(part, "__html__") for part in parts) else str_join(parts)
        return check_value(joined, "~")


def _bounded_concat(pieces: Iterable[str]) -> str:
    """Join output pieces, one step each, stopping as soon as they pass MAX_RENDERED characters."""
    total, kept = 0, []
    for piece in pieces:
        _charge()
        total += len(piece)
        if total > MAX_RENDERED:
            raise BudgetExceeded(f"it renders more than {MAX_RENDERED:,} characters")
        kept.append(piece)
    return "".join(kept)


def _metered_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that counts a step, checks its size arguments (and a format's widths) first, and its result after."""
    skip = 1 if getattr(function, "jinja_pass_arg", None) is not None else 0  # the context jinja passes first

    @functools.wraps(function)  # keeps jinja_pass_arg, so jinja still passes what the filter asks for
    def metered(*args: Any, **kwargs: Any) -> Any:
        _charge()
        value, extra = (args[skip] if len(args) > skip else None), [*args[skip + 1:], *kwargs.values()]
        if name in _SIZED_FILTERS:
            _check_sizes(extra, f"the {name} filter")
        if name == "format" and isinstance(value, str):
            _check_printf(value)
        return check_value(function(*args, **kwargs), f"the {name} filter")

    return metered


class _Meter(NodeTransformer):
    """Route what the sandbox does not intercept (loops, `~`, literal lists and dicts) through MeteredSandbox."""

    def __init__(self, environment: MeteredSandbox) -> None:
        self.environment = environment

    def _call(self, method: str, args: list[nodes.Expr], like: nodes.Node) -> nodes.Call:
        call = nodes.Call(nodes.EnvironmentAttribute(method), args, [], None, None, lineno=like.lineno)
        call.set_environment(self.environment)
        return call

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        # jinja2 declares a For's iter a Node; the parser only ever puts an expression there.
        node.iter = self._call("metered_iter", [cast(nodes.Expr, node.iter)], node)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return self._call("metered_concat", list(node.nodes), node)

    def visit_List(self, node: nodes.List) -> nodes.Node:
        self.generic_visit(node)
        return self._call("metered_value", [node], node)

    def visit_Dict(self, node: nodes.Dict) -> nodes.Node:
        self.generic_visit(node)
        return self._call("metered_value", [node], node)

    def visit_Tuple(self, node: nodes.Tuple) -> nodes.Node:
        self.generic_visit(node)
        if node.ctx != "load":  # `{% for a, b in ... %}` and `{% set a, b = ... %}` assign to a tuple
            return node
        return self._call("metered_value", [node], node)
