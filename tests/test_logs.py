"""Codes, state and one-time links stay out of the logs, including the server's access log."""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from hub.logs import redact
from tests.live import Browser, LiveHub
from tests.ports import free_ports

ROOT = Path(__file__).resolve().parent.parent


def test_redact_removes_codes_state_tokens_and_confirmation_links() -> None:
    line = ('"GET /auth/google/callback?state=s3cr3t&code=c0de&iss=https://x HTTP/1.1" 302 '
            '/login?invite=inv_abc /auth/confirm/tok3n?x=1 access_token=at id_token=eyJ')
    cleaned = redact(line)
    for secret in ("s3cr3t", "c0de", "inv_abc", "tok3n", "=at", "eyJ"):
        assert secret not in cleaned
    assert "iss=https://x" in cleaned and "/auth/google/callback?" in cleaned


def test_access_log_of_a_real_sign_in_carries_no_code_or_state(live: LiveHub,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    live.add_provider("google")
    browser = Browser(live)
    start = browser.start_login("google")
    callback = browser.pick_user(start.headers["Location"], "110169484474386276334")
    code = callback.split("code=")[1].split("&")[0]
    with caplog.at_level(logging.INFO, logger="werkzeug"):
        assert browser.http.get(callback, allow_redirects=False).status_code == 302
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "/auth/google/callback" in logged  # the request was logged...
    assert code not in logged  # ...without its code


def test_a_record_from_any_module_is_redacted_before_any_handler_sees_it(
        hub_env: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    """The redaction sits in the log record factory: a child logger of the hub's, a library's logger, a traceback."""
    from hub.app import create_app

    create_app(hub_env)  # installs it, once per process
    with caplog.at_level(logging.INFO):
        logging.getLogger("hub.sharing.dispatch.child").info("callback code=abc123&state=xyz789")
        logging.getLogger("somelibrary.http").info("token answer %s", {"access_token": "at-secret", "expires_in": 3})
        logging.getLogger("providers.x").warning("GET /connect/x/callback?oauth_verifier=v3r&error=none "
                                                 "Authorization: Bearer b3arer")
        try:
            raise ValueError("https://hub.example/auth/google/callback?code=in-a-traceback")
        except ValueError:
            logging.getLogger("hub.jobs").exception("job failed")
    logged = caplog.text
    for secret in ("abc123", "xyz789", "at-secret", "v3r", "b3arer", "in-a-traceback"):
        assert secret not in logged, secret
    assert "code=[redacted]&state=[redacted]" in logged and "'access_token': '[redacted]'" in logged
    assert "error=none" in logged and "'expires_in': 3" in logged and "Traceback" in logged


def test_gunicorn_access_log_of_a_callback_is_redacted(hub_env: dict[str, str], tmp_path: Path) -> None:
    """The hub served as production serves it (gunicorn -c python:hub.gunicorn_conf), with an access log format
    that prints the whole request line and the Referer: the callback's code and state still never reach the file."""
    port = free_ports()
    access_log = tmp_path / "access.log"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("HUB_")}, **hub_env,
           "HUB_BASE_URL": f"http://127.0.0.1:{port}", "HUB_BIND": f"127.0.0.1:{port}", "HUB_WEB_WORKERS": "1"}
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "python:hub.gunicorn_conf",
                               "--access-logfile", str(access_log), "--access-logformat", '%(h)s "%(r)s" %(s)s "%(f)s"',
                               "hub.wsgi:app"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_until_serving(f"http://127.0.0.1:{port}/healthz?scope=web", server)
        answer = requests.get(f"http://127.0.0.1:{port}/auth/google/callback",
                              params={"code": "c0de-in-url", "state": "st4te-in-url", "iss": "https://accounts"},
                              headers={"Referer": "https://lms.example.edu/connect/x/callback?oauth_verifier=v3r1f"},
                              timeout=10)
        assert answer.status_code in (400, 404)  # an unknown state: the request is refused, and logged
    finally:
        server.terminate()
        _out, errors = server.communicate(timeout=30)
    written = access_log.read_text()
    lines = [line for line in written.splitlines() if "/auth/google/callback" in line]
    assert len(lines) == 1, written + errors.decode()
    assert "code=[redacted]" in lines[0] and "state=[redacted]" in lines[0] and "iss=https" in lines[0]
    assert "oauth_verifier=[redacted]" in lines[0]
    for secret in ("c0de-in-url", "st4te-in-url", "v3r1f"):
        assert secret not in written + errors.decode(), secret


def _wait_until_serving(url: str, server: subprocess.Popen[bytes]) -> None:
    """Poll until gunicorn answers (it is starting, not time passing); fail at once if it exited."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"gunicorn exited: {server.stderr.read().decode() if server.stderr else ''}")
        try:
            requests.get(url, timeout=10)
            return
        except (requests.ConnectionError, requests.Timeout):  # a worker still loading the app holds the connection
            time.sleep(0.1)
    raise AssertionError("gunicorn did not start within 60 s")
