"""The structure issue 12 asked for stays: small modules, and providers used through their declared interface."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = [path for package in ("hub", "providers", "webhooks") for path in (ROOT / package).rglob("*.py")]
MAX_LINES = 600
# What providers/base.py declares and hub/ once probed for with getattr (docs/contributing.md, "Add a provider").
CAPABILITIES = ("revoke_connection", "refresh", "credentials_from", "address_label", "min_refresh_seconds",
                "connection_kind", "rate_limit", "posts_as_learner", "address", "finish_connect")
PROBE = re.compile(r"""(?:getattr|hasattr)\([^)]*["'](""" + "|".join(CAPABILITIES) + r""")["']""")


def test_no_module_outside_the_tests_is_over_600_lines() -> None:
    long = {str(path.relative_to(ROOT)): n for path in PRODUCTION
            if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"split these by what they do (docs/contributing.md): {long}"


def test_nothing_probes_a_provider_for_a_capability_the_interface_declares() -> None:
    probes = [f"{path.relative_to(ROOT)}:{n}" for path in PRODUCTION if path.name != "registry.py"
              for n, line in enumerate(path.read_text().splitlines(), 1) if PROBE.search(line)]
    assert not probes, f"call the method providers/base.py declares instead: {probes}"
