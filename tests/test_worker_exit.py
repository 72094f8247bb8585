"""A worker that is done exits at once: RQ's command thread (pub/sub) is stopped, not waited out (60 s)."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from flask import Flask
from redis.client import PubSubWorkerThread
from rq import Queue

from hub import jobs, redis_conn
from hub.app import create_app

# Far below the 60 s the command thread could wait for a subscription, far above what exiting costs (milliseconds).
PROMPT = 5.0


@pytest.fixture
def app(hub_env: dict[str, str]) -> Iterator[Flask]:
    app = create_app(hub_env)
    yield app
    redis_conn.get_from(app).flushdb()
    app.extensions["db_engine"].dispose()


def test_a_burst_worker_exits_within_seconds_each_time(app: Flask) -> None:
    """The stall came when the thread read its UNSUBSCRIBE reply before RQ stopped it: a race, so run a few."""
    for _ in range(5):
        Queue("default", connection=redis_conn.get_from(app)).enqueue_call(jobs.reconcile)  # a job to work
        started = time.monotonic()
        jobs.run_worker(app, burst=True)  # what `hub worker --burst` and the sharing tests run
        assert time.monotonic() - started < PROMPT
        assert not [thread for thread in threading.enumerate() if isinstance(thread, PubSubWorkerThread)]
