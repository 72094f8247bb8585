"""What the gunicorn benches share: a free port, a scratch hub (database, embedded Redis, environment), gunicorn.

The benches run as scripts (`python bench/ingest.py`) and gunicorn imports them with bench/ on its path, so they
import this module as `_harness`.
"""
from __future__ import annotations

import argparse
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent


def wrk_options(parser: argparse.ArgumentParser) -> None:
    """The load (wrk) and the server (gunicorn) every wrk bench takes, with the same defaults so runs compare."""
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker (gthread)")


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def process_cpu(pid: int) -> float:
    """CPU seconds a process has used itself; 0 where /proc is absent (or the process is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def server_cpu(pid: int) -> float:
    """CPU seconds used by a server and its live children (gunicorn's master and workers): the hub's own CPU,
    whatever else (wrk, the database server) runs on the machine meanwhile."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        child_pids = [int(child) for child in children.read_text().split()]
    except OSError:
        child_pids = []
    return process_cpu(pid) + sum(process_cpu(child) for child in child_pids)


def wait_up(url: str) -> None:
    """Poll url until it answers (30 s at most)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=5)
            return
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


@contextmanager
def scratch_database(url: str | None, work: Path) -> Iterator[str]:
    """A SQLite file in the run's directory, or a fresh database on the given PostgreSQL server, dropped after."""
    if not url:
        yield f"sqlite:///{work / 'hub.db'}"
        return
    import psycopg

    parts = urlsplit(url.replace("postgresql+psycopg://", "postgresql://", 1).replace("postgres://", "postgresql://",
                                                                                        1))
    if parts.scheme != "postgresql":
        raise SystemExit("--database-url must be a postgresql:// URL (without it the bench uses a SQLite file)")
    name = f"hub_bench_{secrets.token_hex(4)}"
    with psycopg.connect(urlunsplit(parts), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(urlunsplit(parts), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def scratch_hub(work: Path, database_url: str | None, port: int) -> tuple[dict[str, str], Any]:
    """A migrated database (a SQLite file in work unless given), an embedded Redis and the hub's environment."""
    from hub import db, redis_conn

    database = database_url or f"sqlite:///{work / 'hub.db'}"
    db.upgrade(database)
    embedded = redis_conn.start_embedded(work / "redis")  # the embedded Redis, shared by every gunicorn worker
    env = {**os.environ, "HUB_DATABASE_URL": database, "HUB_SECRET_KEY": secrets.token_hex(32),
           "HUB_ENCRYPTION_KEYS": Fernet.generate_key().decode(), "HUB_INSECURE_LOOPBACK": "1",
           "HUB_BASE_URL": f"http://127.0.0.1:{port}", "HUB_INSTANCE_PATH": str(work / "instance"),
           "HUB_REDIS_URL": redis_conn.url_of(embedded)}
    return env, embedded


def gunicorn(port: int, app: str, workers: int, threads: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """gunicorn (gthread, as production serves the hub) on a loopback port, serving app ("module:factory()").

    A socket per worker (--reuse-port), as hub/gunicorn_conf.py has it for TCP: with one shared socket wrk's
    connections often all land on one worker, and rounds come out bimodal (docs/embedding.md, "Performance").
    """
    return subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
         "--worker-class", "gthread", "--threads", str(threads), "--reuse-port", "--log-level", "warning",
         "--pythonpath",
         f"{ROOT},{ROOT / 'bench'}", app], env=env)
