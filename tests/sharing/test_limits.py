"""The token bucket with its line of waiting holders, on a real Redis, and the dispatcher that brings them back."""
from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from rq import Queue
from sqlalchemy import update

from hub import db, redis_conn
from hub.models import Delivery
from hub.sharing import dispatch, limits
from hub.sharing.limits import Limit
from hub.sharing.outbox import utcnow
from tests.sharing.conftest import World

SLACK = Limit(1, 1)
INTERVAL = 1 / limits.SAFETY  # seconds between two takes at Slack's limit, as the hub paces it


def take(world: World, holder: str, key: str = "hub:bucket:slack:#wins", limit: Limit = SLACK) -> float:
    with world.app.app_context():
        return limits.take(redis_conn.get(), key, limit, holder)


def line(world: World, key: str = "hub:bucket:slack:#wins") -> list[str]:
    with world.app.app_context():
        return [member.decode() for member in redis_conn.get().zrange(key + ":line", 0, -1)]


def test_waiting_holders_get_one_turn_each_instead_of_all_coming_back_at_once(world: World) -> None:
    assert take(world, "1") == 0
    waits = [take(world, holder) for holder in ("2", "3", "4")]
    # Spaced one interval apart (to the millisecond the script rounds to), not all told "in a second".
    assert abs(waits[0] - INTERVAL) < 0.05
    assert abs(waits[1] - waits[0] - INTERVAL) < 0.01 and abs(waits[2] - waits[1] - INTERVAL) < 0.01
    assert line(world) == ["2", "3", "4"]


def refill(world: World, key: str, limit: Limit = SLACK) -> None:
    """A full bucket, as time passing by Redis's clock (the one the script reads) would leave it; no sleeping."""
    with world.app.app_context():
        redis_conn.get().hset(key, "tokens", str(limit.capacity))


def test_a_newcomer_queues_behind_the_line_even_when_a_token_is_there(world: World) -> None:
    key = "hub:bucket:teams:fast"
    assert take(world, "1", key) == 0
    assert take(world, "2", key) > 0  # 2 waits its turn
    refill(world, key)  # a token is there now, but 2 has not come back yet
    assert take(world, "3", key) > 0, "3 jumped the line"
    assert take(world, "2", key) == 0  # 2, back, takes it
    assert line(world, key) == ["3"]


def test_a_holder_back_too_early_keeps_its_place_and_is_told_when_the_token_is_due(world: World) -> None:
    assert take(world, "1") == 0
    first = take(world, "2")
    take(world, "3")
    again = take(world, "2")  # back long before its turn (an earlier post went out late, say)
    assert 0 < again <= first + 0.01
    assert line(world) == ["2", "3"]  # not sent to the back


def test_posts_are_never_closer_than_the_limit_whoever_comes_back(world: World) -> None:
    key = "hub:bucket:teams:spacing"
    limit = Limit(1, 0.05)
    granted: list[float] = []
    holders = [str(n) for n in range(6)]
    deadline = time.monotonic() + 5
    while holders and time.monotonic() < deadline:
        for holder in list(holders):  # everyone comes back as often as they like: the bucket still spaces them
            if take(world, holder, key, limit) == 0:
                granted.append(time.monotonic())
                holders.remove(holder)
        time.sleep(0.005)
    assert not holders
    gaps = [b - a for a, b in itertools.pairwise(granted)]
    assert min(gaps) >= 0.05 * 0.9  # the script's clock is Redis's, to the millisecond


def test_a_holder_that_never_comes_back_loses_its_place(world: World) -> None:
    key = "hub:bucket:slack:#lost"
    assert take(world, "1", key) == 0
    take(world, "gone", key)
    with world.app.app_context():  # its turn is long past (more than GRACE_MS): a lost job, an erased delivery
        redis_conn.get().zadd(key + ":line", {"gone": 1})
    wait = take(world, "new", key)
    assert 0 < wait <= INTERVAL + 0.01  # the next token, not a turn after the one who never came back
    assert line(world, key) == ["new"]


def test_a_429_holds_every_holder_until_retry_after(world: World) -> None:
    key = "hub:bucket:slack:#blocked"
    with world.app.app_context():
        limits.block(redis_conn.get(), key, 30)
    assert 29 < take(world, "1", key) <= 30
    assert 29 < take(world, "2", key) <= 30


def hand_back(world: World, delivery_id: int, seconds: float) -> None:
    """What a postponed delivery looks like: pending, no job, due in `seconds`."""
    with world.app.app_context(), db.transaction() as session:
        session.execute(update(Delivery).where(Delivery.id == delivery_id).values(
            next_attempt_at=utcnow() + timedelta(seconds=seconds), enqueued_at=None))


def enqueued(world: World, delivery_id: int) -> bool:
    with world.app.app_context():
        return db.session().get(Delivery, delivery_id).enqueued_at is not None


def until(check: object, seconds: float) -> float | None:
    """Seconds until check() is true, or None if it did not become true in time."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if check():  # type: ignore[operator]
            return time.monotonic() - start
        time.sleep(0.005)
    return None


def listening(world: World) -> bool:
    """A dispatcher is asleep, subscribed to wake()'s channel (it subscribes on its first sleep)."""
    with world.app.app_context():
        return any(count for _, count in redis_conn.get().pubsub_numsub(dispatch.WAKE))


@contextmanager
def dispatcher(world: World, interval: float) -> Iterator[None]:
    """dispatch.run in a thread, passes `interval` apart at most; stopped (and woken to notice) on exit."""
    stop = threading.Event()
    runner = threading.Thread(target=dispatch.run, args=(world.app, stop, interval))
    runner.start()
    try:
        yield
    finally:
        stop.set()
        with world.app.app_context():
            dispatch.wake(redis_conn.get())
        runner.join(10)


def test_the_dispatcher_comes_back_when_a_handed_back_delivery_is_due_not_a_pass_later(world: World) -> None:
    world.connect("slack", learner=False)
    world.rule("slack:#wins")
    _, [delivery] = world.event()
    hand_back(world, delivery, 0.6)
    with dispatcher(world, 5.0):  # passes 5 s apart
        took = until(lambda: enqueued(world, delivery), 3)
        assert took is not None and 0.45 < took < 1.5, took


def test_wake_cuts_the_dispatchers_sleep_short(world: World) -> None:
    world.connect("slack", learner=False)
    world.rule("slack:#wins")
    _, [delivery] = world.event()
    hand_back(world, delivery, 3600)
    with dispatcher(world, 30.0):
        assert until(lambda: listening(world), 5) is not None  # it has passed and gone to sleep for its full 30 s
        assert not enqueued(world, delivery)
        hand_back(world, delivery, 0.0)
        with world.app.app_context():
            dispatch.wake(redis_conn.get())
        took = until(lambda: enqueued(world, delivery), 5)
        assert took is not None and took < 2, took


def test_handed_back_deliveries_go_to_the_front_of_the_queue_earliest_first(world: World) -> None:
    world.connect("slack", learner=False)
    for channel in ("#a", "#b", "#c"):
        world.rule(f"slack:{channel}")
    _, ids = world.event()
    new, later, earlier = sorted(ids)
    hand_back(world, later, -1)
    hand_back(world, earlier, -2)
    with world.app.app_context():
        assert dispatch.dispatch(db.session()) == 3
        order = Queue("default", connection=redis_conn.get()).job_ids
    assert order == [dispatch.job_id(earlier), dispatch.job_id(later), dispatch.job_id(new)]
