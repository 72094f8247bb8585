"""The IdP tests' fixtures: an independent relying party (panva's openid-client under Node) and a
registered LMS client, against the live hub with the Google sandbox as the social provider.

tests/oidc_rp holds the Node project; `npm ci` installs it from the committed package-lock.json
the first time. Without node/npm the tests fail rather than skip: the RP is the judge.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from hub.idp import clients
from tests.auth.helpers import ADA
from tests.live import Browser, LiveHub

RP_DIR = Path(__file__).resolve().parents[1] / "oidc_rp"
ROOT = Path(__file__).resolve().parents[2]
# Where `make test-deps` installs the social-core Open edX pins (requirements/social-core-openedx.txt).
SOCIAL_CORE_OPENEDX = ROOT / ".venv-social-core-openedx"
LMS_CALLBACK = "https://lms.example.edu/auth/oidc/callback"
LMS_LOGGED_OUT = "https://lms.example.edu/logged-out"


class RelyingParty:
    """One `node rp.js` process; each call is one JSON line each way."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process

    def call(self, cmd: str, **args: Any) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"cmd": cmd, **args}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, f"the RP exited ({self.process.poll()})"
        return json.loads(line)

    def ok(self, cmd: str, **args: Any) -> dict[str, Any]:
        answer = self.call(cmd, **args)
        assert answer["ok"], answer
        return answer


@pytest.fixture(scope="session")
def relying_party() -> Iterator[RelyingParty]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail("node and npm are needed: the IdP tests run panva's openid-client as the relying party "
                    "(apt-get install nodejs npm)", pytrace=False)
    if not (RP_DIR / "node_modules" / "openid-client").is_dir():
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=RP_DIR, capture_output=True, text=True,
                              timeout=300)
        if done.returncode != 0:
            pytest.fail(f"npm ci in {RP_DIR} failed:\n{done.stdout}\n{done.stderr}", pytrace=False)
    process = subprocess.Popen([node, "rp.js"], cwd=RP_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True, env={**os.environ})
    try:
        yield RelyingParty(process)
    finally:
        process.terminate()
        process.wait(timeout=5)


@dataclass
class Lms:
    """A registered client, its RP configured by discovery, and a browser to sign in with."""

    live: LiveHub
    rp: RelyingParty
    name: str
    client_id: str
    secret: str

    def browser(self) -> Browser:
        return Browser(self.live)

    def authorize(self, browser: Browser, user: str = ADA, **extra: str) -> tuple[str, dict[str, Any]]:
        """Authorize at the hub as the LMS would, sign in at the sandbox; returns (the LMS callback URL, RP params)."""
        start = self.rp.ok("authorize_url", redirect_uri=LMS_CALLBACK, extra=extra)
        answer = browser.http.get(start["url"], allow_redirects=False)
        return self.follow_sign_in(browser, answer, user), start

    def follow_sign_in(self, browser: Browser, answer: Any, user: str = ADA) -> str:
        """From the hub's first answer to the redirect that leaves for the LMS."""
        for _ in range(8):
            assert answer.status_code in (302, 303), answer.text
            location = answer.headers["Location"]
            if location.startswith("https://lms.example.edu"):
                return location
            if urlsplit(location).path == "/login":
                next_url = parse_qs(urlsplit(location).query)["next"][0]
                start = browser.start_login("google", next=next_url)
                answer = browser.http.get(browser.pick_user(start.headers["Location"], user), allow_redirects=False)
                continue
            answer = browser.get(location)
        raise AssertionError("the sign-in never came back to the LMS")

    def sign_in(self, browser: Browser | None = None, user: str = ADA) -> dict[str, Any]:
        """The whole login; the RP's validated tokens and claims."""
        callback, _ = self.authorize(browser or self.browser(), user)
        return self.rp.ok("callback", url=callback)


@pytest.fixture
def lms(live: LiveHub, relying_party: RelyingParty) -> Lms:
    live.add_provider("google")
    with live.context() as session:
        issued = clients.add(session, "Moodle", [LMS_CALLBACK], [LMS_LOGGED_OUT], first_party=True)
        session.commit()
        client_id, secret = issued.client.client_id, issued.secret
    relying_party.ok("discover", issuer=live.url, client_id=client_id, client_secret=secret)
    return Lms(live, relying_party, "Moodle", client_id, secret)


@pytest.fixture(params=["newest", "openedx"])
def social_core_rp(request: pytest.FixtureRequest) -> Iterator[RelyingParty]:
    """tests/oidc_rp/social_core_rp.py in a process of its own: with the virtualenv's social-core (the newest the
    range allows), and with the version Open edX pins, installed apart by `make test-deps`. One process per test:
    social-core 4 keeps the discovery document per class, and each test's hub listens on another port."""
    env = {**os.environ}
    if request.param == "openedx":
        if not (SOCIAL_CORE_OPENEDX / "social_core").is_dir():
            pytest.fail(f"{SOCIAL_CORE_OPENEDX} is missing: run `make test-deps`", pytrace=False)
        env["PYTHONPATH"] = str(SOCIAL_CORE_OPENEDX)
    process = subprocess.Popen([sys.executable, str(RP_DIR / "social_core_rp.py")], cwd=ROOT, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True, env=env)
    try:
        yield RelyingParty(process)
    finally:
        process.terminate()
        process.wait(timeout=5)
