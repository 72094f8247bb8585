"""Database engine and sessions, one engine per app; Alembic drives the schema."""
from __future__ import annotations

import fcntl
import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import ContextManager

from alembic import command
from alembic.config import Config as AlembicConfig
from flask import Flask, current_app, g
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "models" / "migrations"


def make_engine(url: str) -> Engine:
    """An engine that behaves the same on SQLite and PostgreSQL."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        _WRITE_QUEUES[engine] = _WriteQueue(path if path and path != ":memory:" else None)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            # Foreign keys are off by default in SQLite; WAL lets the worker read while the web writes.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL is safe from corruption and skips an fsync per commit.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


class _WriteQueue:
    """SQLite takes one writer at a time, and a writer that finds the database locked polls with SQLite's busy
    handler, sleeping 1, 2, 5, 10 ... up to 100 ms between tries: under a burst of webhooks most of the latency was
    those sleeps (p99 over 100 ms for 1 ms of work). Writers on a hot path queue here instead, on a thread lock and
    an advisory file lock beside the database (other processes), and are woken the moment the writer before them
    is done."""

    def __init__(self, database: str | None) -> None:
        self.threads = threading.Lock()
        self.path = f"{database}-writers.lock" if database else None
        self.fd: int | None = None
        self.pid = 0

    @contextmanager
    def turn(self) -> Iterator[None]:
        with self.threads:
            fd = self._fd()
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                if fd is not None:
                    fcntl.flock(fd, fcntl.LOCK_UN)

    def _fd(self) -> int | None:
        if self.path is None:
            return None
        if self.fd is None or self.pid != os.getpid():  # a forked child needs a lock of its own
            self.fd, self.pid = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600), os.getpid()
        return self.fd


_WRITE_QUEUES: weakref.WeakKeyDictionary[Engine, _WriteQueue] = weakref.WeakKeyDictionary()


def write_turn(engine: Engine) -> ContextManager[None]:
    """Hold around a short write transaction on a hot path (intake): queue for SQLite's one writer slot instead of
    polling for it. PostgreSQL takes concurrent writers itself, so there it does nothing."""
    queue = _WRITE_QUEUES.get(engine)
    return queue.turn() if queue is not None else nullcontext()


def upgrade(url: str, revision: str = "heads") -> None:
    """Apply migrations up to revision (what `hub db upgrade` runs)."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["url"] = url
    command.upgrade(config, revision)


def init_app(app: Flask, url: str) -> None:
    engine = make_engine(url)
    app.extensions["db_engine"] = engine
    app.extensions["db_sessionmaker"] = sessionmaker(engine, expire_on_commit=False)
    app.teardown_appcontext(_close_session)


def session() -> Session:
    """The request's (or job's) session, opened on first use and closed at teardown."""
    if "db" not in g:
        g.db = current_app.extensions["db_sessionmaker"]()
    return g.db


def _close_session(_exc: BaseException | None) -> None:
    db = g.pop("db", None)
    if db is not None:
        db.close()


@contextmanager
def transaction() -> Iterator[Session]:
    """Commit on success, roll back on any error: the unit every write goes through."""
    db = session()
    try:
        yield db
        db.commit()
    except BaseException:
        db.rollback()
        raise
