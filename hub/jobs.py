"""Every RQ job entry point (thin: load, call a service, record) and the worker that runs them."""
from __future__ import annotations

import logging
import multiprocessing
from typing import Any

import redis
from flask import Flask
from rq import Queue, SimpleWorker

from hub import mail, redis_conn

log = logging.getLogger(__name__)
QUEUES = ("default", "tiles")  # in priority order: tile refreshes (hub.tiles.scheduler.QUEUE) after deliveries
RECONCILE_EVERY = 60.0  # seconds between reconciler passes while a worker runs
PUBSUB_STOP_SECONDS = 5.0  # the longest a stopping worker waits for its command thread (it is a daemon)


def send_mail(message_id: int | None = None) -> str:
    """Send one outbox message (job id "mail-<id>"); raises mail.MailNotSent for RQ to retry while the SMTP server
    refuses. Without an id (a job queued before messages had their own), enqueue every unsent message's job."""
    from hub import db

    if message_id is None:
        return f"enqueued {mail.flush(db.session())}"
    outcome = mail.send(db.session(), message_id)
    log.info("mail %s: %s", message_id, outcome.value)
    return outcome.value


def deliver(delivery_id: int) -> str:
    """Send one outbox delivery (job id "delivery-<id>"); the row, not the job, decides whether to post."""
    from hub import db
    from hub.sharing import sender

    outcome = sender.deliver(db.session(), delivery_id)
    log.info("delivery %s: %s", delivery_id, outcome.value)
    return outcome.value


def refresh_tile(tile_id: int) -> str:
    """Refresh one tile's items (job id "tile-refresh-<id>"); a tile another worker is refreshing is left to it."""
    from hub import db
    from hub.tiles import refresh

    result = refresh.refresh_tile(db.session(), tile_id)
    log.info("tile %s: %s%s", tile_id, result.outcome.value, f" ({result.error})" if result.error else "")
    return result.outcome.value


def reconcile(repeat_seconds: float | None = None) -> dict[str, int]:
    """Re-enqueue deliveries and mail whose job was lost and recover expired leases, erase users whose grace period
    ran out (hub/deprovision.py); with repeat_seconds, come back.

    The next link of the chain is scheduled first: a pass that raises (RQ records it) must not end the chain."""
    from hub import db, deprovision
    from hub.sharing import reconciler

    if repeat_seconds:
        schedule_reconcile(repeat_seconds, chained=True)
    report = reconciler.reconcile(db.session())
    return {"enqueued": report.enqueued, "recovered": report.recovered, "mail": mail.flush(db.session()),
            "erased": deprovision.erase_overdue(db.session())}


RECONCILE_CHAIN = "hub:reconcile:chain"


def schedule_reconcile(every_seconds: float, connection: Any = None, chained: bool = False) -> None:
    """Keep one chain of periodic reconcile jobs: a worker starts it only if no live chain holds the key."""
    from datetime import timedelta

    connection = connection or redis_conn.get()
    # The chain renews the key each pass; if Redis lost it, the next worker to start begins a new chain.
    if not connection.set(RECONCILE_CHAIN, "1", ex=int(every_seconds * 3) + 1, nx=not chained):
        return
    Queue("default", connection=connection).enqueue_in(timedelta(seconds=every_seconds), reconcile,
                                                       repeat_seconds=every_seconds)


def enqueue(function: Any, **kwargs: Any) -> None:
    """Enqueue after the caller's commit; if Redis is down the database row still holds the work."""
    try:
        Queue("default", connection=redis_conn.get()).enqueue_call(function, kwargs=kwargs)
    except redis.RedisError as exc:  # Redis down or unreachable: the outbox keeps the work
        log.warning("could not enqueue %s: %s", getattr(function, "__name__", function), type(exc).__name__)


class HubWorker(SimpleWorker):
    """An RQ worker that runs each job in its own process, inside the hub's app context.

    Not RQ's forking Worker: a work horse forked per job starts cold (a new database and Redis connection, every
    page it writes copied), which made a delivery cost 40 ms where it costs 11 ms here, and made a rate-limited
    delivery late for its turn. A crash mid-job takes the worker with it, as SIGKILL would a work horse: the
    outbox's lease and the reconciler recover it either way. Jobs still time out (RQ's SIGALRM death penalty).
    """

    app: Flask

    def perform_job(self, job: Any, queue: Any, *args: Any, **kwargs: Any) -> bool:
        with self.app.app_context():
            return super().perform_job(job, queue, *args, **kwargs)

    def unsubscribe(self) -> None:
        """Stop RQ's command thread (pub/sub) at once when the worker ends, not up to 60 s later.

        RQ unsubscribes first and stops the thread after. When the thread reads the UNSUBSCRIBE reply before the
        stop, it polls again, finds no subscription and waits up to its sleep_time (60 s) for one; redis-py 8.2's
        stop() joins that wait. Stopping the loop first (without waiting) makes that reply the thread's last read.
        """
        thread, pubsub = self.pubsub_thread, self.pubsub
        if thread is None or pubsub is None:
            return
        self.log.info("Worker %s: unsubscribing from channel %s", self.name, self.pubsub_channel_name)
        thread.stop(timeout=0)  # the loop ends after its current read
        pubsub.unsubscribe()  # the reply ends that read
        thread.join(timeout=PUBSUB_STOP_SECONDS)  # bounded: a dead connection's reconnect loop never holds us
        pubsub.close()
        self.pubsub_thread = None


def run_worker(app: Flask, burst: bool = False) -> None:
    """Work the hub's queues until stopped (or until empty, with burst), with a dispatcher beside the worker.

    A burst worker runs one dispatcher pass first instead, so what is committed by then is worked.
    """
    # This may be a forked child (tests, a supervisor): the parent's pooled connections are not ours to use.
    app.extensions["db_engine"].dispose(close=False)
    connection = redis_conn.get_from(app)
    worker = HubWorker([Queue(name, connection=connection) for name in QUEUES], connection=connection)
    worker.app = app
    dispatcher = None
    if burst:
        from hub import db
        from hub.sharing import dispatch
        from hub.tiles import scheduler

        with app.app_context():
            dispatch.run_pass(db.session())
            scheduler.run_pass(db.session(), scheduler.queue(connection))
            mail.flush(db.session(), connection)
    else:
        schedule_reconcile(RECONCILE_EVERY, connection)
        dispatcher = start_dispatcher(app)
    try:
        worker.work(burst=burst, with_scheduler=True)
    finally:
        if dispatcher is not None:
            dispatcher.terminate()


def start_dispatcher(app: Flask) -> multiprocessing.process.BaseProcess:
    """The dispatcher loop in a forked child (before the worker starts threads), as RQ runs its scheduler."""
    from hub.sharing import dispatch

    def loop() -> None:
        import threading

        from hub.tiles import scheduler

        app.extensions["db_engine"].dispose(close=False)  # the parent's connections are not ours
        # Tiles are scheduled beside the dispatcher, in a thread of its own: a slow tile pass never delays a delivery.
        threading.Thread(target=scheduler.run, args=(app,), name="hub-tile-scheduler", daemon=True).start()
        dispatch.run(app)

    process = multiprocessing.get_context("fork").Process(target=loop, name="hub-dispatcher", daemon=True)
    process.start()
    return process
