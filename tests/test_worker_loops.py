"""The worker's long-running loops (the dispatcher, the tile scheduler) survive any exception in a pass: logged with
its traceback, backed off (capped), and the loop goes on. Each beats after a pass that worked, and /healthz says
when one has not beaten in time.

A pass is made to raise by replacing its run_pass with one that raises: a fault injection standing in for any bug.
Time moves with the app's clock (tests/clock.py), never by sleeping.
"""
from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

import pytest
import requests

from hub import heartbeats, redis_conn
from hub.sharing import dispatch
from hub.tiles import scheduler
from tests.clock import movable_clock
from tests.live import LiveHub


def broken(*_args: Any, **_kwargs: Any) -> Any:
    raise RuntimeError("a bug in a pass")


def beats(live: LiveHub) -> dict[heartbeats.Loop, Any]:
    with live.app.app_context():
        return heartbeats.last_beats(redis_conn.get())


@pytest.mark.parametrize("loop", [dispatch, scheduler], ids=["dispatcher", "tile_scheduler"])
def test_a_pass_that_raises_is_logged_backed_off_and_the_next_one_runs(
        live: LiveHub, loop: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    name = heartbeats.Loop.DISPATCHER if loop is dispatch else heartbeats.Loop.TILE_SCHEDULER
    clock = movable_clock(live.app)
    backoff = heartbeats.Backoff(first=1.0, cap=4.0)
    monkeypatch.setattr(loop, "run_pass", broken)
    with caplog.at_level(logging.ERROR, logger=loop.__name__):
        pauses = [loop.step(live.app, backoff) for _ in range(4)]
    assert pauses == [1.0, 2.0, 4.0, 4.0]  # doubling, capped
    failures = [r for r in caplog.records if r.name == loop.__name__ and r.levelno == logging.ERROR]
    assert len(failures) == 4 and all(r.exc_info and r.exc_info[0] is RuntimeError for r in failures)
    assert "goes on" in failures[0].getMessage()
    assert name not in beats(live)  # a failing loop does not beat
    monkeypatch.undo()
    assert loop.step(live.app, backoff) >= 0 and backoff.failures == 0
    assert beats(live)[name] == pytest.approx(clock.now(), abs=timedelta(seconds=5))


@pytest.mark.parametrize("loop", [dispatch, scheduler], ids=["dispatcher", "tile_scheduler"])
def test_the_loop_outlives_a_pass_that_raises(live: LiveHub, loop: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """run() itself: the first pass raises, the second works and stops the loop; run() returns, nothing escapes."""
    stop, calls = threading.Event(), []
    real = loop.run_pass

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise KeyError("a bug in the first pass")
        stop.set()
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "run_pass", flaky)
    loop.run(live.app, stop=stop, interval=0.01, backoff=heartbeats.Backoff(first=0.01, cap=0.01))
    assert len(calls) == 2


def test_healthz_reports_a_loop_that_has_not_beaten_in_time(live: LiveHub) -> None:
    clock = movable_clock(live.app)
    limit = live.app.extensions["settings"].heartbeat_stale_seconds

    def healthz(query: str = "") -> requests.Response:
        return requests.get(f"{live.url}/healthz{query}", timeout=10)

    fresh = healthz()  # no worker has run: nothing expected of the loops
    assert fresh.status_code == 200 and set(fresh.json()["checks"]) == {"database", "redis"}
    dispatch.step(live.app, heartbeats.Backoff(first=1, cap=1))
    scheduler.step(live.app, heartbeats.Backoff(first=1, cap=1))
    beating = healthz()
    assert beating.status_code == 200
    assert beating.json()["checks"] == {"database": "ok", "redis": "ok", "dispatcher": "ok", "tile_scheduler": "ok"}
    clock.advance(seconds=limit + 1)
    scheduler.step(live.app, heartbeats.Backoff(first=1, cap=1))  # the scheduler beats; the dispatcher is silent
    stale = healthz()
    assert stale.status_code == 503 and stale.json()["status"] == "unavailable"
    assert stale.json()["checks"] == {"database": "ok", "redis": "ok", "dispatcher": "stale", "tile_scheduler": "ok"}
    assert stale.json()["heartbeats"]["dispatcher"]["age_seconds"] > limit
    web = healthz("?scope=web")  # what a load balancer asks: the web side serves without the worker
    assert web.status_code == 200 and set(web.json()["checks"]) == {"database", "redis"}
    dispatch.step(live.app, heartbeats.Backoff(first=1, cap=1))
    assert healthz().status_code == 200
