"""The hub as the LMS's OpenID Provider: full LMS sign-ins per second, and the token endpoint beside a bare endpoint.

Three processes: the Google sandbox (werkzeug, threaded, its own process so its work is not counted as the
hub's), the hub under gunicorn (gthread, as production serves it) with one extra route `POST /bench/bare`
that answers a small JSON body without reading anything, and this load client (Python threads; wrk cannot
follow a sign-in's cookies and redirects).

1. Full LMS sign-ins: each simulated user is a fresh browser (requests.Session) that does, over HTTP on
   loopback: GET /oauth/authorize (PKCE S256) -> GET /login (the hub's sign-in page) -> GET /login/google ->
   the sandbox's authorize page and its POST -> GET /auth/google/callback (token exchange with the sandbox,
   ID token check, provisioning) -> GET /oauth/resume/<id> -> GET /oauth/authorize (the code, at the LMS
   redirect URI) -> POST /oauth/token (code + verifier, client_secret_basic). C users at once.
2. The token endpoint: codes are pre-minted (untimed) by one signed-in browser through /oauth/authorize, then
   redeemed (authorization_code + PKCE, ID token signed) with C clients; the refresh tokens those redemptions
   return are then spent once each (refresh_token grant, rotating: a new refresh and ID token each). Both
   beside the bare endpoint, driven by the same client at the same concurrency, in the same server and run.

No timed assertions: it prints rates, p50/p99 and ratios.

Usage: .venv/bin/python bench/idp.py [--sign-ins 120] [--tokens 300] [--concurrency 8] [--workers 2] [--threads 4]
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# bench/ is the script's directory (sys.path[0]), and gunicorn is given it too.
from _harness import free_port, gunicorn, wait_up  # noqa: E402

GOOGLE_CLIENT = "bench-google"
LMS_NAME = "Bench LMS"
LMS_CALLBACK = "https://lms.example.edu/auth/oidc/callback"
USERS = ["110169484474386276334", "110169484474386276335"]  # the Google sandbox's Ada and Grace
# Every request comes from 127.0.0.1: the sign-in-start limit (hub.rate_limits) still counts, but never refuses.
UNLIMITED = "1000000/minute"


def wsgi_app():  # type: ignore[no-untyped-def]
    """gunicorn's factory: the hub's app from the environment, plus the bare endpoint beside it."""
    from flask import jsonify

    from hub.app import create_app, csrf

    def bare():  # type: ignore[no-untyped-def]
        return jsonify(ok=True)

    app = create_app()
    app.add_url_rule("/bench/bare", "bench_bare", csrf.exempt(bare), methods=["POST"])  # a POST, as /oauth/token is
    return app


def serve_sandbox(port: int, secret: str, redirect_uri: str) -> None:
    """The Google sandbox alone, in its own process (keep-alive, threaded, no request log)."""
    import logging

    from werkzeug.serving import WSGIRequestHandler, make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    from hub.app import create_app

    app = create_app({**os.environ, "HUB_BASE_URL": f"http://127.0.0.1:{port}"})
    app.extensions["sandboxes"]["google"].register_client(GOOGLE_CLIENT, secret, [redirect_uri])
    WSGIRequestHandler.protocol_version = "HTTP/1.1"
    make_server("127.0.0.1", port, app, threaded=True).serve_forever()


def seed(env: dict[str, str], secret: str, issuer: str) -> tuple[str, str]:
    """The Google provider pointed at the sandbox, a first-party LMS client and the signing keys: (client_id,
    secret)."""
    from hub import db, provider_store
    from hub.app import create_app
    from hub.idp import clients, keys

    app = create_app(env)
    with app.app_context(), db.transaction() as session:
        provider_store.add_provider(session, app.extensions["vault"], name="google", kind="google",
                                    client_id=GOOGLE_CLIENT, client_secret=secret, issuer=issuer,
                                    insecure_loopback=True)
        issued = clients.add(session, LMS_NAME, [LMS_CALLBACK], first_party=True)
        keys.ensure(session, app.extensions["vault"])  # before two workers race to make the first key
        found = issued.client.client_id, issued.secret
    app.extensions["db_engine"].dispose()
    return found


class Lms:
    """What the LMS does: build the authorization request, redeem the code, refresh."""

    def __init__(self, hub: str, client_id: str, secret: str) -> None:
        self.hub, self.client_id, self.secret = hub, client_id, secret
        self.http = requests.Session()
        self.http.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=64))

    def authorize_url(self) -> tuple[str, str]:
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        query = urlencode({"response_type": "code", "client_id": self.client_id, "redirect_uri": LMS_CALLBACK,
                           "scope": "openid profile email", "state": secrets.token_urlsafe(12),
                           "nonce": secrets.token_urlsafe(12), "code_challenge": challenge,
                           "code_challenge_method": "S256"})
        return f"{self.hub}/oauth/authorize?{query}", verifier

    def redeem(self, code: str, verifier: str) -> dict[str, str]:
        answer = self.http.post(f"{self.hub}/oauth/token", auth=(self.client_id, self.secret), data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": LMS_CALLBACK, "code_verifier": verifier})
        assert answer.status_code == 200 and answer.json().get("id_token"), answer.text[:300]
        return answer.json()

    def refresh(self, refresh_token: str) -> dict[str, str]:
        answer = self.http.post(f"{self.hub}/oauth/token", auth=(self.client_id, self.secret),
                                data={"grant_type": "refresh_token", "refresh_token": refresh_token})
        assert answer.status_code == 200 and answer.json().get("refresh_token"), answer.text[:300]
        return answer.json()


def code_of(location: str) -> str:
    assert location.startswith(LMS_CALLBACK), location
    return parse_qs(urlsplit(location).query)["code"][0]


def full_sign_in(lms: Lms, user: str) -> None:
    """One LMS user, a fresh browser, from the LMS's authorize link to the LMS holding tokens."""
    browser = requests.Session()
    url, verifier = lms.authorize_url()
    answer = browser.get(url, allow_redirects=False)  # parked; to the hub's sign-in page
    login = answer.headers["Location"]
    assert urlsplit(login).path == "/login", login
    next_url = parse_qs(urlsplit(login).query)["next"][0]
    assert browser.get(lms.hub + login).status_code == 200
    answer = browser.get(f"{lms.hub}/login/google", params={"next": next_url}, allow_redirects=False)
    page = browser.get(answer.headers["Location"])  # the sandbox's account picker
    assert page.status_code == 200, page.text[:300]
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
    fields.update(user=user, decision="allow")
    answer = browser.post(page.url, data=fields, allow_redirects=False)
    answer = browser.get(answer.headers["Location"], allow_redirects=False)  # the hub's callback
    for _ in range(3):  # /oauth/resume/<id>, then /oauth/authorize, then the LMS
        location = answer.headers["Location"]
        if location.startswith(LMS_CALLBACK):
            break
        answer = browser.get(location if location.startswith("http") else lms.hub + location, allow_redirects=False)
    lms.redeem(code_of(answer.headers["Location"]), verifier)


def mint_codes(lms: Lms, count: int, concurrency: int) -> list[tuple[str, str]]:
    """(code, verifier) pairs from /oauth/authorize with a signed-in browser: untimed preparation."""
    browser = requests.Session()
    url, verifier = lms.authorize_url()
    answer = browser.get(url, allow_redirects=False)
    next_url = parse_qs(urlsplit(answer.headers["Location"]).query)["next"][0]
    answer = browser.get(f"{lms.hub}/login/google", params={"next": next_url}, allow_redirects=False)
    page = browser.get(answer.headers["Location"])
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
    fields.update(user=USERS[0], decision="allow")
    answer = browser.post(page.url, data=fields, allow_redirects=False)
    browser.get(answer.headers["Location"], allow_redirects=False)  # signed in at the hub

    def one(_: int) -> tuple[str, str]:
        url, verifier = lms.authorize_url()
        return code_of(browser.get(url, allow_redirects=False).headers["Location"]), verifier

    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(one, range(count)))


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def burst(calls: list[Callable[[], object]], concurrency: int) -> tuple[float, list[float]]:
    """Run calls with `concurrency` clients; (per second, latencies)."""
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        latencies = list(pool.map(timed, calls))
    return len(calls) / (time.perf_counter() - started), latencies


def pct(values: list[float], n: int) -> float:
    return statistics.quantiles(values, n=100)[n - 1] * 1000 if len(values) >= 2 else values[0] * 1000


def line(label: str, rate: float, latencies: list[float], unit: str = "req/s") -> str:
    return f"{label:<28}{rate:8.1f} {unit:<11} p50 {pct(latencies, 50):7.1f} ms   p99 {pct(latencies, 99):7.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sign-ins", type=int, default=120)
    parser.add_argument("--tokens", type=int, default=300, help="code redemptions, then as many refreshes")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker (gthread)")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="hub-bench-idp-"))
    from hub import db, redis_conn

    database = args.database_url or f"sqlite:///{work / 'hub.db'}"
    db.upgrade(database)
    embedded = redis_conn.start_embedded(work / "redis")  # shared by every gunicorn worker
    port, sandbox_port, google_secret = free_port(), free_port(), secrets.token_urlsafe(16)
    hub, sandbox = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sandbox_port}"
    common = {"HUB_SECRET_KEY": secrets.token_hex(32), "HUB_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
              "HUB_INSECURE_LOOPBACK": "1"}
    env = {**os.environ, **common, "HUB_DATABASE_URL": database, "HUB_BASE_URL": hub, "HUB_SANDBOXES": "0",
           "HUB_INSTANCE_PATH": str(work / "hub"), "HUB_REDIS_URL": redis_conn.url_of(embedded),
           "HUB_RATE_LIMIT_LOGIN": UNLIMITED}
    client_id, client_secret = seed(env, google_secret, f"{sandbox}/sandbox/google")
    children = [
        subprocess.Popen([sys.executable, __file__, "serve-sandbox", str(sandbox_port), google_secret,
                          f"{hub}/auth/google/callback"],
                         env={**os.environ, **common, "HUB_SANDBOXES": "1", "HUB_REDIS_EMBEDDED": "1",
                              "HUB_DATABASE_URL": f"sqlite:///{work / 'sandbox.db'}",
                              "HUB_INSTANCE_PATH": str(work / "sandbox")}),
        gunicorn(port, "idp:wsgi_app()", args.workers, args.threads, env),
    ]
    try:
        wait_up(f"{sandbox}/sandbox/google/.well-known/openid-configuration")
        wait_up(f"{hub}/healthz")
        lms = Lms(hub, client_id, client_secret)
        bare_http = requests.Session()
        bare_http.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=64))

        def bare() -> None:
            assert bare_http.post(f"{hub}/bench/bare").status_code == 200

        for user in USERS * args.workers * 2:  # users created, discovery and JWKS cached in every worker
            full_sign_in(lms, user)
        burst([bare] * 50, args.concurrency)

        users = [USERS[n % len(USERS)] for n in range(args.sign_ins)]
        sign_in_rate, sign_in_lat = burst([lambda u=u: full_sign_in(lms, u) for u in users], args.concurrency)

        codes = mint_codes(lms, args.tokens, args.concurrency)
        issued: list[dict[str, str]] = []
        bare_rate, bare_lat = burst([bare] * args.tokens, args.concurrency)
        code_rate, code_lat = burst([lambda c=c, v=v: issued.append(lms.redeem(c, v)) for c, v in codes],
                                    args.concurrency)
        refresh_rate, refresh_lat = burst([lambda t=t["refresh_token"]: lms.refresh(t) for t in issued],
                                          args.concurrency)
        bare_again, bare_again_lat = burst([bare] * args.tokens, args.concurrency)
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.wait(10)
        embedded.shutdown()
        shutil.rmtree(work, ignore_errors=True)

    bare_rate, bare_lat = max((bare_rate, bare_lat), (bare_again, bare_again_lat))  # the better of two runs
    kind = "sqlite" if database.startswith("sqlite") else database.split("://")[0]
    print(f"server: gunicorn gthread, {args.workers} workers x {args.threads} threads; client: Python, "
          f"{args.concurrency} concurrent; database {kind}")
    print(line("full LMS sign-ins", sign_in_rate, sign_in_lat, "sign-ins/s"))
    print(f"  ({args.sign_ins} sign-ins, 9 HTTP requests each, 2 of them to the sandbox, "
          "plus the hub's token call to it)")
    print(line("bare endpoint", bare_rate, bare_lat))
    print(line("token: authorization_code", code_rate, code_lat))
    print(line("token: refresh_token", refresh_rate, refresh_lat))
    print(f"ratio code/bare: {code_rate / bare_rate:.2f}   refresh/bare: {refresh_rate / bare_rate:.2f}   "
          f"sign-in/bare: {sign_in_rate / bare_rate:.3f}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve-sandbox":
        serve_sandbox(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    else:
        main()
