"""The tile scheduler against real Redis (RQ) and the real database: due tiles enqueued once, others left alone,
and the jobs refresh tiles when a real worker runs them."""
from __future__ import annotations

import threading
from datetime import timedelta

from rq import Queue, SimpleWorker
from sqlalchemy import func, select, update

from hub import db, jobs, redis_conn
from hub.models import Tile, TileItem
from hub.sharing.outbox import utcnow
from hub.tiles import scheduler, store
from tests.live import LiveHub
from tests.tiles.world import JsonFeed


def tiles(live: LiveHub, address: str, kind: str, count: int) -> list[int]:
    with live.context() as session:
        ids = [store.create_tile(session, kind=kind, title=f"T{n}", address=address).id for n in range(count)]
        session.commit()
        return ids


def set_next(live: LiveHub, tile_id: int, seconds_from_now: float | None, enabled: bool = True) -> None:
    moment = None if seconds_from_now is None else utcnow() + timedelta(seconds=seconds_from_now)
    with live.context() as session:
        session.execute(update(Tile).where(Tile.id == tile_id).values(next_refresh_at=moment, enabled=enabled))
        session.commit()


def queued(live: LiveHub) -> list[str]:
    with live.app.app_context():
        return list(Queue(scheduler.QUEUE, connection=redis_conn.get()).job_ids)


def run_pass(live: LiveHub) -> int:
    with live.app.app_context():
        return scheduler.run_pass(db.session(), scheduler.queue(redis_conn.get()))


def test_due_tiles_are_enqueued_once_and_others_skipped(live: LiveHub, feed: JsonFeed, json_kind: str) -> None:
    new, past, future, off = tiles(live, feed.url, json_kind, 4)
    set_next(live, past, -5)
    set_next(live, future, 600)
    set_next(live, off, -5, enabled=False)
    assert run_pass(live) == 2
    assert sorted(queued(live)) == sorted([f"tile-refresh-{new}", f"tile-refresh-{past}"])
    assert run_pass(live) == 0  # claimed: leased forward until the refresh sets its own time
    with live.context() as session:
        leased = session.get(Tile, past).next_refresh_at
        assert leased is not None
    set_next(live, past, -1)  # the lease ran out, but its job is still waiting in the queue
    assert run_pass(live) == 0 and len(queued(live)) == 2
    with live.app.app_context():
        job = Queue(scheduler.QUEUE, connection=redis_conn.get()).fetch_job(f"tile-refresh-{new}")
        assert job is not None and job.func_name == "hub.jobs.refresh_tile" and job.kwargs == {"tile_id": new}
        assert job.timeout == scheduler.JOB_TIMEOUT


def test_two_schedulers_at_once_enqueue_each_tile_once(live: LiveHub, feed: JsonFeed, json_kind: str) -> None:
    ids = tiles(live, feed.url, json_kind, 30)
    made: list[int] = []
    threads = [threading.Thread(target=lambda: made.append(run_pass(live))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(made) == 30 and sorted(queued(live)) == sorted(f"tile-refresh-{t}" for t in ids)


def test_a_worker_refreshes_the_enqueued_tiles(live: LiveHub, feed: JsonFeed, json_kind: str) -> None:
    feed.add(1, "hello")
    first, second = tiles(live, feed.url, json_kind, 2)
    assert run_pass(live) == 2
    with live.app.app_context():
        connection = redis_conn.get()
        worker = SimpleWorker([Queue(q, connection=connection) for q in jobs.QUEUES], connection=connection)
        worker.work(burst=True)
    with live.context() as session:
        assert session.scalar(select(func.count()).select_from(TileItem)) == 2
        for tile_id in (first, second):
            tile = session.get(Tile, tile_id)
            assert tile.fetched_at is not None and tile.cursor == "1"
            assert (tile.next_refresh_at.replace(tzinfo=None) - tile.fetched_at.replace(tzinfo=None)) \
                == timedelta(seconds=300)
    assert run_pass(live) == 0  # refreshed: due again in five minutes, not now
    assert "tiles" in jobs.QUEUES and jobs.QUEUES.index("default") < jobs.QUEUES.index("tiles")


def test_a_burst_hub_worker_schedules_and_refreshes_tiles(live: LiveHub, feed: JsonFeed, json_kind: str) -> None:
    feed.add(1, "from the worker")
    [tile_id] = tiles(live, feed.url, json_kind, 1)
    jobs.run_worker(live.app, burst=True)  # what `hub worker --burst` runs: a dispatcher and a tile pass, then work
    with live.context() as session:
        assert [i.text for i in session.scalars(select(TileItem).where(TileItem.tile_id == tile_id))] == \
            ["from the worker"]
