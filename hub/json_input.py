"""JSON from the network, with a nesting limit checked before any parser sees the text.

Python's json (and pydantic's parser) recurse once per `[` or `{`: 100,000 of them make json raise RecursionError,
which no route expects (a 500). Every route that parses a request body, and the IdP when it reads a JWT's segments,
checks the depth here first, so a body nested past MAX_DEPTH is a 400 in that route's own error format.
"""
from __future__ import annotations

import itertools
import json
import re
from typing import Any

# Far deeper than anything the hub is sent (an xAPI statement with extensions is ~8 levels, a SCIM PatchOp ~5),
# far shallower than the interpreter's recursion limit (1,000): every parser and every walk over the result is safe.
MAX_DEPTH = 64

# What the depth count skips: a string (brackets inside it are text), even an unterminated one (to the end), and
# every run of characters that is not a bracket. Possessive quantifiers: no backtracking, linear in the length.
_SKIPPED = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+(?:"|\\?\Z)|[^\[\]{}"]++', re.DOTALL)
# An opening bracket counts +1, a closing one -1 (0xff read as a signed byte).
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")


class InvalidJson(ValueError):
    """The body is not JSON, or nests deeper than MAX_DEPTH: the message says which, for the route's 400."""


def depth(text: str | bytes) -> int:
    """How deep the text's arrays and objects nest (0 for a scalar), counted without parsing or recursion.

    Brackets after a stray closing one are never reached by a parser (it stops at the stray), so counting them in
    the same running total never lets a parser go deeper than this says.
    """
    skeleton = _SKIPPED.sub("", _text(text)).encode("ascii").translate(_STEPS)
    return max(itertools.accumulate(memoryview(skeleton).cast("b")), default=0)


def check_depth(text: str | bytes, limit: int = MAX_DEPTH) -> None:
    """Raise InvalidJson when the text nests deeper than `limit`; call it before handing the text to any parser."""
    found = depth(text)
    if found > limit:
        raise InvalidJson(f"arrays and objects nest {found} deep; at most {limit} levels are accepted")


def loads(raw: str | bytes, limit: int = MAX_DEPTH) -> Any:
    """json.loads, after the depth check; every refusal (bad syntax, encoding, depth, a 5,000-digit number) is
    InvalidJson with a message for the sender."""
    text = _text(raw)
    check_depth(text, limit)
    try:
        return json.loads(text)
    except ValueError as exc:  # JSONDecodeError, and int's digit limit (ValueError too)
        raise InvalidJson(f"not JSON ({exc})") from None


def _text(raw: str | bytes) -> str:
    """Bytes decoded as json.loads decodes them (UTF-8, or UTF-16/32 by their first bytes, RFC 8259 8.1's leeway)."""
    if isinstance(raw, str):
        return raw
    encoding = json.detect_encoding(raw)
    try:
        return raw.decode(encoding, "surrogatepass")
    except UnicodeDecodeError as exc:
        raise InvalidJson(f"not JSON: the bytes are not {encoding} ({exc.reason} at byte {exc.start})") from None
