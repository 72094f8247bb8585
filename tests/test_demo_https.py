"""`hub demo --https`: the whole hub over HTTPS with the demo's own CA, for an LMS that takes only https issuers."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import certifi
import pytest
import requests

from tests.live import forms
from tests.ports import free_ports
from tests.test_demo import _embedded_redis_running


def _https_session(ca: Path) -> requests.Session:
    """A browser that trusts the demo's CA alone (REQUESTS_CA_BUNDLE from the environment would replace it)."""
    browser = requests.Session()
    browser.trust_env = False
    browser.verify = str(ca)
    return browser


@pytest.fixture
def https_demo(tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    """The demo as a child over https; yields its base URL, the CA file its banner names, and its log."""
    port = free_ports(2)  # as the http demo's fixture: a pair, though the https demo serves on one port
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env["HUB_INSTANCE_PATH"] = str(tmp_path / "instance")
    # Many machines set REQUESTS_CA_BUNDLE to the public CAs; the hub must still trust its own sandboxes.
    env["REQUESTS_CA_BUNDLE"] = certifi.where()
    log_path = tmp_path / "demo.log"
    with open(log_path, "wb") as log:  # the child writes through its own copy of the descriptor
        process = subprocess.Popen([sys.executable, "-m", "hub", "demo", "--https", "--port", str(port)], env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
    base = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert time.monotonic() < deadline, "hub demo --https did not come up:\n" + log_path.read_text()
            assert process.poll() is None, log_path.read_text()
            found = re.search(r"CA certificate: (\S+)", log_path.read_text())
            if found:
                ca = Path(found.group(1))
                try:
                    if _https_session(ca).get(f"{base}/healthz", timeout=5).status_code == 200:
                        break
                except (requests.ConnectionError, requests.Timeout):  # not listening yet, or busy starting
                    pass
            time.sleep(0.2)
        yield base, ca, log_path
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
    assert not _embedded_redis_running(tmp_path / "instance")


def test_the_https_demo_serves_the_hub_its_discovery_and_its_sandboxes_over_https_trusted_through_its_ca(
        https_demo: tuple[str, Path, Path]) -> None:
    base, ca, log_path = https_demo
    output = log_path.read_text()
    assert f"Social Hub demo is running at {base}" in output
    assert ca.is_file() and ca.is_relative_to(log_path.parent / "instance")
    assert "update-ca-certificates" in output and "docs/lms/moodle.md" in output
    browser = _https_session(ca)
    health = browser.get(f"{base}/healthz", timeout=5)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert "Strict-Transport-Security" not in health.headers  # never pin 127.0.0.1/localhost to https for a year
    # The OpenID Provider's discovery names https everywhere: Moodle refuses an http issuer or endpoint.
    discovery = browser.get(f"{base}/.well-known/openid-configuration", timeout=5).json()
    assert discovery["issuer"] == base
    urls = {k: v for k, v in discovery.items() if k.endswith(("_endpoint", "_uri")) and isinstance(v, str)}
    assert {"authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
            "end_session_endpoint"} <= set(urls)
    assert all(url.startswith(f"{base}/") for url in urls.values()), urls
    # Only the demo's CA vouches for it: the public CAs do not.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{base}/healthz", verify=certifi.where(), timeout=5)
    # One demo start serves all three parts: starting it takes most of this test's time.
    _registers_an_lms_through_the_env_file(base, log_path)
    _signs_ada_in_and_fills_the_tiles(base, ca, log_path)


def _registers_an_lms_through_the_env_file(base: str, log_path: Path) -> None:
    """docs/lms/moodle.md's trial: `hub client add` run against the demo with the settings its banner points to."""
    env_file = log_path.parent / "instance" / "demo.env"
    assert f". {env_file}; set +a" in log_path.read_text()
    assert env_file.stat().st_mode & 0o077 == 0  # it holds the demo's secrets
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}

    def hub(*args: str) -> str:
        script = f'set -a; . "{env_file}"; set +a; exec "$0" -m hub "$@"'
        done = subprocess.run(["bash", "-c", script, sys.executable, *args], env=clean, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    added = hub("client", "add", "Moodle", "--redirect-uri", "https://localhost:8443/admin/oauth2callback.php",
                "--post-logout-uri", "https://localhost:8443/login/logout.php", "--first-party")
    assert f"issuer:        {base}\n" in added and "client_id:     hubc_" in added
    listed = {c["name"]: c for c in json.loads(hub("client", "list", "--json"))}
    assert listed["Moodle"]["post_logout_uris"] == ["https://localhost:8443/login/logout.php"]


def _signs_ada_in_and_fills_the_tiles(base: str, ca: Path, log_path: Path) -> None:
    """Ada signs in through the Google sandbox, which the hub now reaches over https (HUB_CA_BUNDLE)."""
    browser = _https_session(ca)
    start = browser.get(f"{base}/login/google", allow_redirects=False)
    assert start.headers["Location"].startswith(f"{base}/sandbox/google/")
    picker = browser.get(start.headers["Location"])
    fields = {**forms(picker.text)[0]["fields"], "user": "110169484474386276334", "decision": "allow"}
    landed = browser.get(browser.post(picker.url, data=fields, allow_redirects=False).headers["Location"])
    assert landed.url == f"{base}/account" and "ada@partner.example" in landed.text
    assert all(cookie.secure for cookie in browser.cookies if cookie.name == "hub_session")
    # The worker reads every sandbox over https too, X's through tweepy included.
    listed = browser.get(f"{base}/api/tiles", timeout=5).json()["tiles"]
    deadline = time.monotonic() + 45
    empty = {t["kind"] for t in listed}
    while empty:
        assert time.monotonic() < deadline, f"no items for {sorted(empty)}:\n" + log_path.read_text()
        time.sleep(0.5)
        empty = {t["kind"] for t in listed if not browser.get(t["items_url"], timeout=5).json()["items"]}
