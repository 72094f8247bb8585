"""Production's web server as the README runs it: gunicorn -c python:hub.gunicorn_conf 'hub.wsgi:app'."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from hub.config import ServerSettings, load_server_settings
from hub.errors import ConfigError
from hub.gunicorn_conf import kernel_spreads_connections
from tests.ports import free_ports

ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_command_serves_the_hub_and_logs_paths_without_their_query(hub_env: dict[str, str],
                                                                              tmp_path: Path) -> None:
    port = free_ports()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("HUB_")}, **hub_env,
           "HUB_SANDBOXES": "0", "HUB_BASE_URL": f"http://127.0.0.1:{port}", "HUB_BIND": f"127.0.0.1:{port}",
           "HUB_WEB_WORKERS": "2", "HUB_WEB_THREADS": "2"}
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "python:hub.gunicorn_conf", "hub.wsgi:app"],
                                  env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        answer = None
        deadline = time.monotonic() + 60
        while answer is None and time.monotonic() < deadline and server.poll() is None:
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/healthz?scope=web&code=not-for-the-log", timeout=5)
            except requests.ConnectionError:
                time.sleep(0.2)  # polls until the server listens
        assert answer is not None, log.read_text()
        assert answer.status_code == 200 and answer.json()["status"] == "ok"
        # Each worker listens on its own socket, so the kernel spreads connections over both (reuse_port).
        while _listening_sockets(port) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)  # polls until the second worker has booted
        assert _listening_sockets(port) == 2
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    output = log.read_text()
    assert f"Workers listen at: 127.0.0.1:{port}" in output and "Using worker: gthread" in output
    assert "Control socket" not in output
    assert '"GET /healthz HTTP/1.1" 200' in output
    assert "not-for-the-log" not in output and "scope=web" not in output


def _listening_sockets(port: int) -> int:
    """Sockets in LISTEN state on the loopback port (/proc/net/tcp: hex local address, state 0A)."""
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for row in rows if row.split()[1] == f"0100007F:{port:04X}" and row.split()[3] == "0A")


def test_the_kernel_spreads_connections_except_over_unix_sockets() -> None:
    assert kernel_spreads_connections(["127.0.0.1:8000", "[::]:8000"])
    assert not kernel_spreads_connections(["127.0.0.1:8000", "unix:/run/hub.sock"])


def test_server_settings_default_to_loopback_and_take_several_binds() -> None:
    assert load_server_settings({}) == ServerSettings(bind=("127.0.0.1:8000",), workers=2, threads=4)
    settings = load_server_settings({"HUB_BIND": "0.0.0.0:8000, [::]:8000, unix:/run/hub.sock",
                                     "HUB_WEB_WORKERS": "5", "HUB_WEB_THREADS": "8"})
    assert settings == ServerSettings(bind=("0.0.0.0:8000", "[::]:8000", "unix:/run/hub.sock"), workers=5, threads=8)


@pytest.mark.parametrize(("name", "value"), [
    ("HUB_BIND", "8000"), ("HUB_BIND", "http://0.0.0.0:8000"), ("HUB_BIND", "127.0.0.1:70000"),
    ("HUB_WEB_WORKERS", "0"), ("HUB_WEB_WORKERS", "two"), ("HUB_WEB_THREADS", "-1"),
])
def test_a_bad_server_setting_is_named(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_server_settings({name: value})
