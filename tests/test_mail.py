"""The mail outbox drops nothing: a real SMTP server on loopback (aiosmtpd) refuses, then accepts; each message is
sent once, retried with backoff while refused, re-enqueued when its job is lost, failed (and listed) after its last
retry. Time moves with the app's clock (tests/clock.py), never by sleeping."""
from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner
from flask import Flask
from rq import Queue
from sqlalchemy import delete

from hub import db, jobs, mail, redis_conn
from hub.app import create_app
from hub.cli import main
from hub.models import MailMessage
from tests.clock import MovableClock, movable_clock


@dataclass
class Server:
    """An SMTP server that answers the first `refusals` messages with 451 (try again later), then takes them."""

    refusals: int = 0
    received: list[tuple[list[str], bytes]] = field(default_factory=list)
    tried: int = 0

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.tried += 1
        if self.tried <= self.refusals:
            return "451 4.3.0 Mailbox busy, try again later"
        self.received.append((envelope.rcpt_tos, envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Server, int]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = Server()
    controller = Controller(server, hostname="127.0.0.1", port=port)
    controller.start()
    yield server, port
    controller.stop()


@dataclass
class Hub:
    app: Flask
    clock: MovableClock
    env: dict[str, str]


@pytest.fixture
def hub(hub_env: dict[str, str], smtp: tuple[Server, int]) -> Iterator[Hub]:
    env = {**hub_env, "HUB_SMTP_URL": f"smtp://127.0.0.1:{smtp[1]}", "HUB_MAIL_FROM": "hub@hub.example",
           "HUB_MAIL_RETRY_SECONDS": "30,60"}
    app = create_app(env)
    yield Hub(app, movable_clock(app), env)
    with app.app_context():
        db.session().execute(delete(MailMessage))
        db.session().commit()
        redis_conn.get().flushdb()
    app.extensions["db_engine"].dispose()


def queue_mail(app: Flask, to: str = "noor@partner.example") -> int:
    """What a view does: the row in its transaction, the job after the commit."""
    with app.app_context():
        with db.transaction():
            message_id = mail.queue(to, "Confirm your email", "Open this link: http://x/confirm")
        mail.enqueue(message_id)
    return message_id


def row(app: Flask, message_id: int) -> MailMessage:
    with app.app_context():
        found = db.session().get(MailMessage, message_id)
        db.session().expunge(found)
        return found


def listed(env: dict[str, str], *args: str) -> list[dict[str, object]]:
    result = CliRunner().invoke(main, ["mail", "list", "--json", *args], env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_a_refused_message_is_retried_by_rq_and_sent_once(hub: Hub, smtp: tuple[Server, int]) -> None:
    server, _port = smtp
    server.refusals = 1
    hub.app.extensions["settings"] = _retrying_at_once(hub.app)
    message_id = queue_mail(hub.app)
    jobs.run_worker(hub.app, burst=True)  # the refusal raises; RQ's Retry enqueues the job again; it is sent
    assert server.tried == 2 and len(server.received) == 1
    recipients, content = server.received[0]
    assert recipients == ["noor@partner.example"] and b"Subject: Confirm your email" in content
    sent = row(hub.app, message_id)
    assert (sent.status, sent.attempts, sent.last_error) == ("sent", 2, None) and sent.sent_at is not None
    jobs.run_worker(hub.app, burst=True)  # a later worker (and its flush) finds nothing to send again
    assert len(server.received) == 1


def _retrying_at_once(app: Flask):  # type: ignore[no-untyped-def]
    """The app's settings with retries due at once, so one burst worker runs both attempts."""
    from dataclasses import replace

    return replace(app.extensions["settings"], mail_retry_seconds=(0,))


def test_a_refused_message_waits_its_backoff_and_a_lost_job_is_flushed(hub: Hub, smtp: tuple[Server, int]) -> None:
    server, _port = smtp
    server.refusals = 1
    message_id = queue_mail(hub.app)
    jobs.run_worker(hub.app, burst=True)
    waiting = row(hub.app, message_id)
    assert (waiting.status, waiting.attempts) == ("pending", 1)
    assert waiting.last_error == "SMTPDataError: 451 4.3.0 Mailbox busy, try again later"
    with hub.app.app_context():
        assert mail.flush(db.session()) == 0  # not due: the first retry waits 30 s
        hub.clock.advance(seconds=31)
        assert mail.flush(db.session()) == 0  # due, but RQ holds its retry (scheduled): not a second job
        redis_conn.get().flushdb()  # Redis loses the scheduled retry
        assert mail.flush(db.session()) == 1  # the flush (every minute, in the reconcile chain) enqueues it again
        assert mail.flush(db.session()) == 0
    jobs.run_worker(hub.app, burst=True)
    sent = row(hub.app, message_id)
    assert (sent.status, sent.attempts) == ("sent", 2) and len(server.received) == 1
    assert [m["status"] for m in listed(hub.env, "--status", "sent")] == ["sent"]


def test_a_message_refused_at_every_attempt_is_failed_and_listed(hub: Hub, smtp: tuple[Server, int]) -> None:
    server, _port = smtp
    server.refusals = 99
    message_id = queue_mail(hub.app)
    for wait in (0, 31, 61):  # the first attempt, then one after each retry's wait (HUB_MAIL_RETRY_SECONDS=30,60)
        hub.clock.advance(seconds=wait)
        with hub.app.app_context():
            outcome = None
            try:
                outcome = mail.send(db.session(), message_id)
            except mail.MailNotSent as exc:
                assert "retried in" in str(exc)
    assert outcome is mail.Outcome.FAILED and server.tried == 3 and server.received == []
    failed = row(hub.app, message_id)
    assert (failed.status, failed.attempts, failed.next_attempt_at) == ("failed", 3, None)
    [shown] = listed(hub.env, "--status", "failed")
    assert shown["id"] == message_id and shown["to"] == "noor@partner.example" and shown["attempts"] == 3
    assert shown["last_error"].startswith("SMTPDataError: 451") and "body" not in shown
    assert listed(hub.env, "--status", "pending") == []
    hub.clock.advance(days=1)
    with hub.app.app_context():
        assert mail.flush(db.session()) == 0  # failed is final: nothing sends it again on its own
        assert mail.send(db.session(), message_id) is mail.Outcome.NOT_DUE


def test_two_jobs_for_one_message_send_it_once(hub: Hub, smtp: tuple[Server, int]) -> None:
    """The claim leases the row: a second job for the same message (the flush racing the request's enqueue) finds
    it taken or sent, and sends nothing."""
    server, _port = smtp
    message_id = queue_mail(hub.app)
    with hub.app.app_context():
        Queue("default", connection=redis_conn.get()).enqueue_call(mail.JOB, kwargs={"message_id": message_id})
    jobs.run_worker(hub.app, burst=True)
    assert len(server.received) == 1 and row(hub.app, message_id).attempts == 1


def test_a_message_whose_attempts_never_finish_is_failed_not_sent_forever(hub: Hub, smtp: tuple[Server, int]) -> None:
    """A worker killed mid-send leaves the row claimed; once every attempt was begun, the next job gives up."""
    server, _port = smtp
    message_id = queue_mail(hub.app)
    with hub.app.app_context():
        for _attempt in range(3):  # three attempts claimed (1 + 2 retries), none finished
            assert mail._claim(db.session(), message_id, hub.clock.now())
            hub.clock.advance(seconds=mail.LEASE_SECONDS + 1)
        assert mail.send(db.session(), message_id) is mail.Outcome.FAILED
    assert server.tried == 0 and row(hub.app, message_id).last_error == "no attempt finished"


def test_without_smtp_the_outbox_is_the_mailbox(hub_env: dict[str, str]) -> None:
    """The demo and tests: nothing is sent, nothing fails, every message stays pending for the mailbox page."""
    app = create_app(hub_env)
    message_id = queue_mail(app)
    jobs.run_worker(app, burst=True)
    with app.app_context():
        kept = db.session().get(MailMessage, message_id)
        assert (kept.status, kept.attempts, kept.sent_at) == ("pending", 0, None)
        assert mail.flush(db.session()) == 0
        db.session().execute(delete(MailMessage))
        db.session().commit()
        redis_conn.get().flushdb()
