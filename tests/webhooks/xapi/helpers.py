"""Statements shaped like the emitters' own fixtures (see fixtures/*.json for where each comes from)."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k != "_comment"}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def moodle_batch() -> list[dict[str, Any]]:
    """Enrolment, module completion, course completion, automatic badge, certificate: as Moodle's cron sends them."""
    return _strip(json.loads((FIXTURES / "moodle_batch.json").read_text()))


def openedx(name: str) -> dict[str, Any]:
    """`registered` or `passed`, as event-routing-backends emits them."""
    return copy.deepcopy(_strip(json.loads((FIXTURES / "openedx.json").read_text()))[name])
