"""A real OpenID Provider for the generic-OIDC tests: panva's oidc-provider (npm) run by Node.

The Node project lives in tests/oidc_op; its node_modules are installed here with `npm ci` from the
committed package-lock.json the first time (a fresh clone works). Without node or npm the tests
fail, they do not skip: the generic OIDC path is required coverage.
"""
from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.live import LiveHub

OP_DIR = Path(__file__).resolve().parents[2] / "oidc_op"
CLIENT_ID = "hub-client"
CLIENT_SECRET = "op-client-secret"
# Provider names the tests configure in the hub; the OP accepts each one's callback URL.
PROVIDER_NAMES = ("acme", "acme-localhost")
START_TIMEOUT = 20.0
NPM_TIMEOUT = 300.0
TIMINGS = pytest.StashKey[dict[str, float]]()


@dataclass
class OpenIDProvider:
    """The running oidc-provider and its test-only admin endpoints (/_test/...)."""

    issuer: str
    port: int
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    http: requests.Session = field(default_factory=requests.Session)

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = self.http.post(f"{self.issuer}/_test/{path}", json=body, timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def state(self) -> dict[str, Any]:
        """Signing and published kids, request counts by "METHOD /path", token endpoint auth schemes."""
        answer = self.http.get(f"{self.issuer}/_test/state", timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def count(self, request: str) -> int:
        """How many times the OP served e.g. "GET /jwks" since the last reset."""
        return int(self.state()["counts"].get(request, 0))

    def set_keys(self, published: list[str], signing: str) -> dict[str, Any]:
        """Publish these kids on /jwks and sign ID tokens with `signing` (new kids get new keys)."""
        return self._post("keys", {"published": published, "signing": signing})

    def allow_redirects(self, uris: list[str]) -> None:
        self._post("client", {"redirect_uris": uris})

    def reset(self, trailing_slash: bool = False) -> str:
        """Start-up keys and client, counters zeroed; returns the issuer (ending in "/" if asked)."""
        return self._post("reset", {"trailing_slash": trailing_slash})["issuer"]


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"`{tool}` is not on PATH: the generic OIDC tests run panva's oidc-provider under Node.js "
                    f"(20 or later). Install Node.js and npm (e.g. `apt-get install nodejs npm`).", pytrace=False)
    return path


def _npm_ci(npm: str) -> None:
    """Install oidc-provider from the committed lock file, only when node_modules is missing."""
    if (OP_DIR / "node_modules" / "oidc-provider").is_dir():
        return
    done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=OP_DIR, capture_output=True, text=True,
                          timeout=NPM_TIMEOUT)
    if done.returncode != 0:
        pytest.fail(f"`npm ci` in {OP_DIR} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}", pytrace=False)


def _ready_line(process: subprocess.Popen[str], log: Path) -> dict[str, Any]:
    """The JSON line server.js prints once it listens."""
    deadline = time.monotonic() + START_TIMEOUT
    assert process.stdout is not None
    while time.monotonic() < deadline:
        readable, _, _ = select.select([process.stdout], [], [], 0.1)
        if readable:
            line = process.stdout.readline()
            if line:
                return json.loads(line)
        if process.poll() is not None:
            break
    process.kill()
    pytest.fail(f"oidc-provider did not start (exit {process.poll()}):\n{log.read_text()}", pytrace=False)


@pytest.fixture(scope="session")
def oidc_op(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenIDProvider]:
    """One oidc-provider process for the session; each test resets it (see `op`)."""
    node, npm = _require("node"), _require("npm")
    timings = request.config.stash.setdefault(TIMINGS, {})
    started = time.perf_counter()
    _npm_ci(npm)
    timings["npm ci"] = time.perf_counter() - started
    log = tmp_path_factory.mktemp("oidc_op") / "server.log"
    env = {**os.environ, "OP_CLIENT_ID": CLIENT_ID, "OP_CLIENT_SECRET": CLIENT_SECRET,
           "OP_REDIRECT_URIS": "http://127.0.0.1/unused"}
    started = time.perf_counter()
    with log.open("w") as stderr:
        process = subprocess.Popen([node, "server.js", "0"], cwd=OP_DIR, env=env, stdout=subprocess.PIPE,
                                   stderr=stderr, text=True)
    try:
        ready = _ready_line(process, log)
        timings["node start"] = time.perf_counter() - started
        yield OpenIDProvider(issuer=ready["issuer"], port=int(ready["port"]))
    finally:
        started = time.perf_counter()
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        timings["node stop"] = time.perf_counter() - started


@pytest.fixture
def op(oidc_op: OpenIDProvider, live: LiveHub, request: pytest.FixtureRequest) -> Iterator[OpenIDProvider]:
    """The OP reset to its start-up key (key-1) and accepting this test's hub callbacks."""
    timings = request.config.stash.setdefault(TIMINGS, {})
    started = time.perf_counter()
    oidc_op.reset()
    oidc_op.allow_redirects([f"{live.url}/auth/{name}/callback" for name in PROVIDER_NAMES])
    timings["per-test reset"] = timings.get("per-test reset", 0.0) + time.perf_counter() - started
    yield oidc_op
    # Time the OP spent answering this test's requests (the reset zeroes it for the next test).
    timings["serving requests"] = timings.get("serving requests", 0.0) + oidc_op.state()["busy_ms"] / 1000


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Say what the Node OP cost this run (npm ci only on a fresh clone)."""
    timings = config.stash.get(TIMINGS, None)
    if timings:
        parts = ", ".join(f"{name} {seconds:.2f}s" for name, seconds in timings.items())
        terminalreporter.write_line(f"oidc-provider (Node): {parts}; total {sum(timings.values()):.2f}s")
