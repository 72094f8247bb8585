"""The worker sends queued mail through a real SMTP server on loopback (aiosmtpd)."""
from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink
from sqlalchemy import select

from hub import db, jobs, mail, redis_conn
from hub.app import create_app
from hub.models import MailMessage


class Inbox(Sink):
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.messages.append((envelope.mail_from, envelope.rcpt_tos, envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def test_worker_sends_the_outbox_and_marks_it_sent(hub_env: dict[str, str], smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    app = create_app({**hub_env, "HUB_SMTP_URL": f"smtp://127.0.0.1:{port}", "HUB_MAIL_FROM": "hub@hub.example"})
    with app.app_context():
        with db.transaction():
            mail.queue("noor@partner.example", "Confirm your email", "Open this link: http://x/confirm")
        jobs.enqueue(jobs.send_mail)
    jobs.run_worker(app, burst=True)  # what `hub worker` runs (HubWorker: jobs in its own process)
    with app.app_context():
        sent = db.session().scalar(select(MailMessage))
        assert sent.sent_at is not None
    assert len(inbox.messages) == 1
    sender, recipients, content = inbox.messages[0]
    assert sender == "hub@hub.example" and recipients == ["noor@partner.example"]
    assert b"Subject: Confirm your email" in content and b"http://x/confirm" in content
    with app.app_context():
        db.session().query(MailMessage).delete()
        db.session().commit()
        redis_conn.get().flushdb()


def test_mail_stays_in_the_outbox_when_smtp_is_down(hub_env: dict[str, str]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    app = create_app({**hub_env, "HUB_SMTP_URL": f"smtp://127.0.0.1:{closed_port}"})
    with app.app_context():
        with db.transaction():
            message_id = mail.queue("noor@partner.example", "Confirm", "body")
        with pytest.raises(mail.MailNotSent):  # for RQ's retry (tests/test_mail.py)
            jobs.send_mail(message_id)
        kept = db.session().scalar(select(MailMessage))
        assert kept.sent_at is None and kept.status == "pending"
        assert kept.last_error is not None and kept.last_error.startswith("ConnectionRefusedError")
        db.session().query(MailMessage).delete()
        db.session().commit()
