"""Every RQ job entry point (thin: load, call a service, record) and the worker that runs them."""
from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask
from rq import Queue, Worker

from hub import mail, redis_conn

log = logging.getLogger(__name__)
QUEUES = ("default",)


def send_mail() -> None:
    """Send whatever the mail outbox holds (rows stay until sent, so a lost job loses nothing)."""
    mail.flush()


def enqueue(function: Any, **kwargs: Any) -> None:
    """Enqueue after the caller's commit; if Redis is down the database row still holds the work."""
    try:
        Queue("default", connection=redis_conn.get()).enqueue_call(function, kwargs=kwargs)
    except Exception as exc:  # redis.ConnectionError and friends: the outbox keeps the work
        log.warning("could not enqueue %s: %s", getattr(function, "__name__", function), type(exc).__name__)


class HubWorker(Worker):
    """An RQ worker that runs each job inside the hub's app context."""

    app: Flask

    def perform_job(self, job: Any, queue: Any, *args: Any, **kwargs: Any) -> bool:
        if os.getpid() != self.app.config.get("_HUB_PID"):
            # A forked work horse must not reuse the parent's database connections.
            self.app.extensions["db_engine"].dispose(close=False)
        with self.app.app_context():
            return super().perform_job(job, queue, *args, **kwargs)


def run_worker(app: Flask, burst: bool = False) -> None:
    """Work the hub's queues until stopped (or until empty, with burst)."""
    app.config["_HUB_PID"] = os.getpid()
    connection = redis_conn.get_from(app)
    worker = HubWorker([Queue(name, connection=connection) for name in QUEUES], connection=connection)
    worker.app = app
    worker.work(burst=burst, with_scheduler=True)
