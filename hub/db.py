"""Database engine and sessions, one engine per app; Alembic drives the schema."""
from __future__ import annotations

import collections
import fcntl
import os
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Generic, TypeVar

import sqlalchemy.exc
from alembic import command
from alembic.config import Config as AlembicConfig
from flask import Flask, current_app, g
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "models" / "migrations"


def make_engine(url: str) -> Engine:
    """An engine that behaves the same on SQLite and PostgreSQL."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        _WRITERS[engine] = _Writers(path if path and path != ":memory:" else None)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
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


T = TypeVar("T")


class _Work(Generic[T]):
    """One caller's unit of work in a group commit, and how it ended."""

    def __init__(self, work: Callable[[Connection], T]) -> None:
        self.work = work
        self.finished = False
        self.result: T | None = None
        self.error: BaseException | None = None

    def finish(self, result: T | None = None, error: BaseException | None = None) -> None:
        self.result, self.error, self.finished = result, error, True

    def outcome(self) -> T:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]  # finished without an error: the work's own result


class _Writers:
    """SQLite takes one writer at a time. A writer that finds the database locked polls with SQLite's busy
    handler, sleeping 1, 2, 5, 10 ... up to 100 ms between tries: under a burst of webhooks most of the latency was
    those sleeps (p99 over 100 ms for 1 ms of work). Writers on a hot path come here instead: the threads of a
    process take turns, and whoever holds the turn runs everything handed in meanwhile in one transaction, with one
    commit (a group commit); across processes they queue on an advisory file lock beside the database, woken the
    moment the writer before them is done."""

    def __init__(self, database: str | None) -> None:
        self.leader = threading.Lock()
        self.waiting: collections.deque[_Work[Any]] = collections.deque()
        self.path = f"{database}-writers.lock" if database else None
        self.fd: int | None = None
        self.pid = 0

    def run(self, engine: Engine, work: Callable[[Connection], T]) -> T:
        mine = _Work(work)
        self.waiting.append(mine)
        with self.leader:
            if not mine.finished:  # nobody took it yet: lead a group of everything waiting, this one included
                group: list[_Work[Any]] = []
                while self.waiting:
                    group.append(self.waiting.popleft())
                try:
                    with self._file_turn():
                        _commit_group(engine, group)
                finally:
                    for item in group:  # a group cut short (an interrupt) leaves none of them waiting forever
                        if not item.finished:
                            item.finish(error=sqlalchemy.exc.OperationalError("group commit", None,
                                                                              RuntimeError("interrupted")))
        return mine.outcome()

    @contextmanager
    def _file_turn(self) -> Iterator[None]:
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


def _commit_group(engine: Engine, group: list[_Work[Any]]) -> None:
    """All in one transaction; if that fails, each alone, so one bad unit fails by itself."""
    try:
        with engine.connect() as connection:
            results = [item.work(connection) for item in group]
            connection.commit()
    except Exception as exc:  # noqa: BLE001  (any unit's error: handed to its caller, or each unit retried alone)
        if len(group) == 1:
            group[0].finish(error=exc)
            return
        for item in group:
            try:
                item.finish(result=commit_alone(engine, item.work))
            except Exception as alone:  # noqa: BLE001  (handed to that unit's caller)
                item.finish(error=alone)
        return
    for item, result in zip(group, results, strict=True):
        item.finish(result=result)


def commit_alone(engine: Engine, work: Callable[[Connection], T]) -> T:
    """Run work on a connection of its own and commit."""
    with engine.connect() as connection:
        result = work(connection)
        connection.commit()
        return result


_WRITERS: weakref.WeakKeyDictionary[Engine, _Writers] = weakref.WeakKeyDictionary()


def commit_together(engine: Engine, work: Callable[[Connection], T]) -> T:
    """Run a short write (work, on a Core connection) and commit it, on a hot path (the intake). On SQLite it joins
    the other writers of this process in a group commit and queues for the one writer slot (_Writers); `work` may
    then run beside other callers' work in one transaction, so it must not commit or roll back itself, and should
    not raise for an expected outcome (return it). On PostgreSQL, which takes concurrent writers itself, it is a
    transaction of its own."""
    writers = _WRITERS.get(engine)
    return writers.run(engine, work) if writers is not None else commit_alone(engine, work)


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
