"""Delivering through a real RQ worker to a stand-in provider: exactly once, whatever goes wrong."""
from __future__ import annotations

import multiprocessing
from datetime import timedelta

from rq import Queue
from sqlalchemy import delete, select, update

from hub import db, jobs, redis_conn
from hub.models import Consent, Delivery, User
from hub.sharing import dispatch, reconciler
from hub.sharing.outbox import aware, utcnow
from tests.sharing.conftest import World, work_in_own_process


def rows(world: World) -> dict[str, Delivery]:
    with world.app.app_context():
        return {d.destination: d for d in db.session().scalars(select(Delivery))}


def send(world: World, ids: list[int]) -> None:
    with world.app.app_context():
        assert dispatch.dispatch(db.session(), ids) == len(ids)
    jobs.run_worker(world.app, burst=True)


def run_job(world: World, delivery_id: int) -> str:
    """Run the job function in process (the state machine tests; the worker tests use run_worker)."""
    with world.app.app_context():
        return jobs.deliver(delivery_id)


def test_worker_sends_through_the_org_connection(world: World) -> None:
    world.connect("slack", learner=False, token="xoxb-org")
    world.rule("slack:#wins")
    _, ids = world.event()
    send(world, ids)
    row = rows(world)["slack:#wins"]
    assert row.status == "sent" and row.remote_id == "p1" and row.remote_url == "https://provider.test/p1"
    [post] = world.provider.posts()
    assert post["token"] == "xoxb-org" and post["link"] == "https://lms.example.edu/course/101"
    assert post["text"] == "A learner completed Security Basics! 🎉"
    assert post["image_url"] == "https://lms.example.edu/101.png" and post["marker"].startswith("hub-")


def test_enqueued_twice_and_two_racing_workers_send_once(world: World) -> None:
    world.connect("slack", learner=False)
    world.rule("slack:#slow")
    _, ids = world.event()
    with world.app.app_context():
        for _ in range(3):
            dispatch.enqueue(ids[0])
        assert Queue("default", connection=redis_conn.get()).count >= 2
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=jobs.run_worker, args=(world.app, True)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert len(world.provider.posts()) == 1
    assert rows(world)["slack:#slow"].status == "sent"
    run_job(world, ids[0])  # a replayed job after the fact
    assert len(world.provider.posts()) == 1


def test_crash_after_the_provider_stored_the_post_is_found_not_reposted(world: World) -> None:
    world.connect("slack", learner=False)
    world.rule("slack:#crash-after")
    _, ids = world.event()
    with world.app.app_context():
        dispatch.dispatch(db.session(), ids)
    assert work_in_own_process(world.app) == 1  # the worker dies right after the provider stored the post
    assert rows(world)["slack:#crash-after"].status == "sending"
    expire_leases(world)
    with world.app.app_context():
        report = reconciler.reconcile(db.session())
    assert report.recovered == 1
    row = rows(world)["slack:#crash-after"]
    assert row.status == "sent" and row.remote_id == "p1"
    assert len(world.provider.posts()) == 1


def test_crash_before_the_post_is_stored_parks_it_as_unknown(world: World) -> None:
    world.connect("slack", learner=False)
    world.rule("slack:#crash-before")
    _, ids = world.event()
    with world.app.app_context():
        dispatch.dispatch(db.session(), ids)
    assert work_in_own_process(world.app) == 1  # the worker dies before the provider stored anything
    expire_leases(world)
    assert run_job(world, ids[0]) == "unknown"  # a retried job recovers the same way as the reconciler
    row = rows(world)["slack:#crash-before"]
    assert row.status == "unknown" and "not found" in row.last_error
    assert world.provider.posts() == []


def expire_leases(world: World) -> None:
    with world.app.app_context(), db.transaction() as session:
        session.execute(update(Delivery).values(lease_until=utcnow() - timedelta(seconds=5)))


def test_rate_limited_destination_is_rescheduled_and_others_go_out(world: World) -> None:
    world.connect("slack", learner=False)
    world.rule("slack:#busy")
    world.rule("slack:#wins")
    _, ids = world.event()
    before = utcnow()
    send(world, ids)
    busy, wins = rows(world)["slack:#busy"], rows(world)["slack:#wins"]
    assert wins.status == "sent"
    assert busy.status == "pending" and busy.attempts == 0 and "rate limited" in busy.last_error
    assert aware(busy.next_attempt_at) >= before + timedelta(seconds=119)
    assert busy.enqueued_at is None  # handed back to the dispatcher, which enqueues it once it is due
    with world.app.app_context():
        assert dispatch.dispatch(db.session()) == 0  # not before next_attempt_at
        db.session().execute(update(Delivery).where(Delivery.id == busy.id)
                             .values(next_attempt_at=utcnow() - timedelta(seconds=1)))
        db.session().commit()
        assert dispatch.dispatch(db.session()) == 1  # due: one job again
        db.session().execute(update(Delivery).where(Delivery.id == busy.id)
                             .values(next_attempt_at=busy.next_attempt_at))
        db.session().commit()
    # Another delivery to the same channel waits for Retry-After too, without calling the provider.
    _, more = world.event("evt-2")
    with world.app.app_context():
        [again] = [i for i in more if db.session().get(Delivery, i).destination == "slack:#busy"]
    assert run_job(world, again) == "postponed"
    assert len(world.provider.posts()) == 1


def test_the_hub_bucket_spaces_posts_to_one_channel(world: World) -> None:
    world.connect("slack", learner=False)
    world.rule("slack:#wins")
    _, first = world.event("e1")
    _, second = world.event("e2")
    assert run_job(world, first[0]) == "sent"
    assert run_job(world, second[0]) == "postponed"  # Slack: about one message per second per channel
    with world.app.app_context():
        row = db.session().get(Delivery, second[0])
        assert row.status == "pending" and aware(row.next_attempt_at) <= utcnow() + timedelta(seconds=1.1)


def test_transient_failures_back_off_then_die(world: World) -> None:
    world.connect("slack", learner=False)
    world.rule("slack:#flaky")
    _, ids = world.event()
    waits = []
    for attempt in range(1, 4):
        start = utcnow()
        outcome = run_job(world, ids[0])
        with world.app.app_context(), db.transaction() as session:
            row = session.get(Delivery, ids[0])
            assert row.attempts == attempt
            if attempt < 3:
                assert outcome == "failed" and row.status == "failed"
                waits.append((aware(row.next_attempt_at) - start).total_seconds())
                assert run_job(world, ids[0]) == "not_due"
                row.next_attempt_at = utcnow() - timedelta(seconds=1)  # time passes
            else:
                assert outcome == "dead" and row.status == "dead"
                assert row.last_error == "gave up after 3 attempts: slack failed (503)"
        limits_reset(world)
    assert 5 <= waits[0] <= 10.5 and 10 <= waits[1] <= 20.5  # base 10 s, doubling, with jitter
    assert world.provider.posts() == []


def limits_reset(world: World) -> None:
    with world.app.app_context():
        for key in redis_conn.get().scan_iter("hub:bucket:*"):
            redis_conn.get().delete(key)


def test_permanent_error_is_dead_at_once_with_the_providers_message(world: World) -> None:
    world.connect("slack", learner=False)
    world.rule("slack:#gone")
    _, ids = world.event()
    send(world, ids)
    row = rows(world)["slack:#gone"]
    assert row.status == "dead" and row.last_error == "channel_not_found" and row.attempts == 1


def test_redis_flushed_with_pending_deliveries_reconciler_sends_each_once(world: World) -> None:
    world.connect("slack", learner=False)
    world.connect("x", learner=True)
    world.consent("x", "always")
    world.rule("slack:#wins")
    world.rule("x:me")
    _, ids = world.event()
    with world.app.app_context():
        assert dispatch.dispatch(db.session()) == 2
        redis_conn.get().flushdb()  # Redis restarted without persistence
        assert reconciler.reconcile(db.session()).enqueued == 2
        assert reconciler.reconcile(db.session()).enqueued == 0  # the jobs are live now: not twice
    jobs.run_worker(world.app, burst=True)
    assert {r.status for r in rows(world).values()} == {"sent"}
    assert sorted(p["address"] for p in world.provider.posts()) == ["#wins", "me"]


def test_dispatch_with_redis_down_keeps_the_rows_for_the_next_pass(world: World) -> None:
    world.connect("slack", learner=False)
    world.rule("slack:#wins")
    _, ids = world.event()
    import redis as redis_lib

    with world.app.app_context():
        world.app.extensions["redis"], real = redis_lib.Redis(unix_socket_path="/nonexistent"), redis_conn.get()
        assert dispatch.dispatch(db.session()) == 0
        world.app.extensions["redis"] = real
        assert db.session().get(Delivery, ids[0]).enqueued_at is None  # the claim was undone
        assert reconciler.reconcile(db.session()).enqueued == 1
        assert reconciler.reconcile(db.session()).enqueued == 0
    jobs.run_worker(world.app, burst=True)
    assert rows(world)["slack:#wins"].status == "sent"


def test_learner_account_needs_consent_at_send_time(world: World) -> None:
    world.connect("linkedin", learner=True)
    world.consent("linkedin", "always")
    world.rule("linkedin:me")
    _, ids = world.event()
    world.consent("linkedin", "never")  # withdrawn between plan and send
    send(world, ids)
    row = rows(world)["linkedin:me"]
    assert row.status == "skipped" and "consent" in row.last_error
    assert world.provider.posts() == []


def test_ask_each_time_never_posts_automatically(world: World) -> None:
    world.connect("linkedin", learner=True)
    world.consent("linkedin", "ask")
    world.rule("linkedin:me")
    _, ids = world.event()
    assert run_job(world, ids[0]) == "skipped"


def test_learner_posts_use_their_own_connection(world: World) -> None:
    world.connect("linkedin", learner=True, token="li-ada")
    world.consent("linkedin", "always")
    world.rule("linkedin:me")
    _, ids = world.event()
    send(world, ids)
    [post] = world.provider.posts()
    assert post["token"] == "li-ada" and post["text"] == "I just completed Security Basics!"


def test_no_connection_is_skipped_with_a_reason(world: World) -> None:
    world.rule("slack:#wins")
    _, ids = world.event()
    assert run_job(world, ids[0]) == "skipped"
    assert "no slack connection" in rows(world)["slack:#wins"].last_error


def test_user_deleted_or_disabled_before_send_posts_nothing(world: World) -> None:
    world.connect("slack", learner=False)
    world.rule("slack:#wins")
    _, ids = world.event()
    with world.app.app_context(), db.transaction() as session:
        session.get(User, world.user_id).status = "disabled"
    assert run_job(world, ids[0]) == "skipped"
    with world.app.app_context(), db.transaction() as session:
        session.execute(update(Delivery).values(status="pending"))
        session.execute(delete(Consent))
        session.execute(delete(User).where(User.id == world.user_id))
    assert run_job(world, ids[0]) == "gone"  # erasure removes the learner's deliveries with them
    assert world.provider.posts() == []


def test_name_withdrawn_after_planning_is_not_posted(world: World) -> None:
    world.connect("slack", learner=False)
    world.consent("slack", "never", name_in_org_posts=True)
    world.rule("slack:#wins")
    _, ids = world.event()
    assert rows(world)["slack:#wins"].text.startswith("Ada Lovelace")
    world.consent("slack", "never", name_in_org_posts=False)
    assert run_job(world, ids[0]) == "sent"
    assert world.provider.posts()[0]["text"] == "A learner completed Security Basics! 🎉"


def test_a_running_worker_dispatches_committed_deliveries_itself(world: World) -> None:
    """What `hub worker` runs: the dispatcher child enqueues what the intake committed; nobody else does."""
    import os
    import signal
    import time

    world.connect("slack", learner=False)
    world.rule("slack:#wins")
    context = multiprocessing.get_context("fork")
    worker = context.Process(target=jobs.run_worker, args=(world.app, False))
    worker.start()
    try:
        _, ids = world.event()  # committed after the worker started: only its dispatcher can enqueue it
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and rows(world)["slack:#wins"].status != "sent":
            time.sleep(0.1)
        row = rows(world)["slack:#wins"]
        assert row.status == "sent" and row.enqueued_at is not None and len(world.provider.posts()) == 1
    finally:
        os.kill(worker.pid, signal.SIGTERM)
        worker.join(20)
        stopped = worker.exitcode is not None
        if not stopped:  # never leave a worker behind to take the next tests' jobs
            os.kill(worker.pid, signal.SIGKILL)
            worker.join(5)
    assert stopped
    with world.app.app_context():
        assert dispatch.dispatch(db.session()) == 0  # nothing left undispatched
