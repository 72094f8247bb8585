"""hub.json_input: nesting counted without parsing, so no parser ever recurses past MAX_DEPTH."""
from __future__ import annotations

import json

import pytest

from hub import json_input
from hub.json_input import MAX_DEPTH, InvalidJson


@pytest.mark.parametrize(("text", "depth"), [
    ("1", 0), ("", 0), ('"[[[["', 0), ("[]", 1), ('{"a": {"b": [1, {"c": "}}}"}]}}', 4),
    ('["[\\"[[", [["\\\\"]]]', 3),  # brackets and escaped quotes inside strings are text
    ('["unterminated [[[[', 1), ('["ends in a backslash\\', 1),
    ("[" * 100_000, 100_000), ("][[", 1), ("[" * 64 + "]" * 64, 64),
])
def test_depth_counts_arrays_and_objects_and_skips_strings(text: str, depth: int) -> None:
    assert json_input.depth(text) == depth
    assert json_input.depth(text.encode()) == depth


def test_the_limit_is_inclusive_and_the_refusal_names_it() -> None:
    at_limit = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert json_input.loads(at_limit) == json.loads(at_limit)
    with pytest.raises(InvalidJson, match=f"nest {MAX_DEPTH + 1} deep; at most {MAX_DEPTH} levels"):
        json_input.loads("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))


def test_what_would_make_json_recurse_out_is_refused_before_parsing() -> None:
    with pytest.raises(RecursionError):
        json.loads("[" * 100_000)
    with pytest.raises(InvalidJson, match="nest 100000 deep"):
        json_input.loads(b"[" * 100_000)
    with pytest.raises(InvalidJson):
        json_input.loads('{"a": ' * 100_000)


@pytest.mark.parametrize("raw", [b"", b"{", b"[1,]", b"\xff", b'["\xff"]', b"1" * 5000, b"NaN x"])
def test_every_other_refusal_is_invalid_json_too(raw: bytes) -> None:
    with pytest.raises(InvalidJson, match="not JSON"):
        json_input.loads(raw)


def test_bytes_are_decoded_as_json_loads_decodes_them() -> None:
    for encoding in ("utf-8", "utf-16", "utf-32"):
        assert json_input.loads('{"name": "Zoë [1]"}'.encode(encoding)) == {"name": "Zoë [1]"}


def test_brackets_inside_the_strings_of_a_large_body_are_not_counted() -> None:
    body = json.dumps([{"actor": {"mbox": "mailto:a@b.example"}, "text": "[" * 100}] * 20_000)
    assert json_input.depth(body) == 3
