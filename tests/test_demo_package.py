"""Demo-only code (hub.demo: the sandboxes, the demo's pages, the development CA) stays out of production."""
from __future__ import annotations

import os
import subprocess
import sys

# What gunicorn (hub.wsgi builds the app from HUB_*), the worker (hub.jobs) and the `hub` command import.
PRODUCTION = """
import sys
import hub.wsgi, hub.jobs, hub.cli
demo = sorted(m for m in sys.modules if m == "hub.demo" or m.startswith("hub.demo."))
assert not demo, demo
print("no demo code")
"""


def _run(hub_env: dict[str, str], sandboxes: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update({**hub_env, "HUB_SANDBOXES": sandboxes, "HUB_BASE_URL": "http://127.0.0.1:5000"})
    return subprocess.run([sys.executable, "-c", PRODUCTION], env=env, capture_output=True, text=True, timeout=60)


def test_an_app_without_sandboxes_never_imports_the_demo_package(hub_env: dict[str, str]) -> None:
    run = _run(hub_env, "0")
    assert run.returncode == 0 and run.stdout.strip() == "no demo code", run.stderr


def test_the_sandboxes_come_from_the_demo_package(hub_env: dict[str, str]) -> None:
    run = _run(hub_env, "1")  # the same check fails once sandboxes are mounted: it does look
    assert run.returncode != 0 and "hub.demo.sandboxes" in run.stderr, run.stderr
