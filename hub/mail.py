"""Outgoing mail: a durable outbox row per message, sent by one RQ job per message, retried until the server takes it.

Nothing is dropped: the row is written in the caller's transaction, and its job ("mail-<id>", enqueued after the
commit) claims it, sends it and marks it `sent`; when the SMTP server cannot be reached or refuses, the job records
the error on the row and raises, and RQ retries it after HUB_MAIL_RETRY_SECONDS; after the last retry the row is
`failed` (`hub mail list --status failed`). The worker's reconcile chain flushes every minute: a pending message
whose job was lost (Redis down at the enqueue, Redis flushed) is enqueued again. The claim (a lease on the row)
keeps two jobs from sending one message twice; a worker killed mid-send may leave the server holding a message the
row does not know was sent, and that message goes again once its lease ends (SMTP has no way to ask).

Without HUB_SMTP_URL nothing is sent: the outbox is the mailbox (the demo shows it at /demo/mailbox).
"""
from __future__ import annotations

import logging
import smtplib
from datetime import datetime, timedelta
from email.message import EmailMessage
from enum import StrEnum
from typing import Any, cast
from urllib.parse import urlsplit

import redis
from flask import current_app
from rq import Queue, Retry
from rq.job import Job, JobStatus
from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.orm import Session

from hub import clock, db, redis_conn
from hub.config import Settings
from hub.errors import HubError
from hub.models import MailMessage, MailStatus, aware

log = logging.getLogger(__name__)
QUEUE = "default"
JOB = "hub.jobs.send_mail"  # by name: hub.jobs imports this module
LEASE_SECONDS = 120  # an attempt's hold on its message: longer than a whole SMTP exchange (10 s per command)
SMTP_TIMEOUT = 10
BATCH = 500
LIVE_JOB = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED}
ERROR_LIMIT = 300  # characters of an SMTP answer kept on the row


class Outcome(StrEnum):
    SENT = "sent"
    FAILED = "failed"  # the last attempt failed: the row is failed, kept for the admin
    KEPT = "kept"  # no SMTP configured: the outbox is the mailbox
    NOT_DUE = "not_due"  # sent or failed already, gone, another attempt holds it, or its retry is not due yet


class MailNotSent(HubError):
    """The SMTP server could not be reached or did not take the message; RQ retries the job."""


def queue(to: str, subject: str, body: str) -> int:
    """Add a message to the outbox in the caller's transaction; returns its id, for enqueue() after the commit."""
    message = MailMessage(to=to, subject=subject, body=body, status=MailStatus.PENDING.value)
    session = db.session()
    session.add(message)
    session.flush()
    return message.id


def job_id(message_id: int) -> str:
    return f"mail-{message_id}"


def _retry(settings: Settings, attempts: int = 0) -> Retry | None:
    """RQ's retries for a job whose message has had `attempts` already: the rest of HUB_MAIL_RETRY_SECONDS."""
    left = settings.mail_retry_seconds[attempts:]
    return Retry(max=len(left), interval=list(left)) if left else None


def enqueue(message_id: int) -> bool:
    """Enqueue the message's job after the caller's commit; False if Redis is down (the flush enqueues it later)."""
    try:
        Queue(QUEUE, connection=redis_conn.get()).enqueue_call(
            JOB, kwargs={"message_id": message_id}, job_id=job_id(message_id),
            retry=_retry(current_app.extensions["settings"]))
    except redis.RedisError as exc:
        log.warning("mail %s not enqueued (the worker's flush will send it): %s", message_id, type(exc).__name__)
        return False
    return True


def send(session: Session, message_id: int) -> Outcome:
    """One attempt at one message (the job's work): claim it, send it, record how it went.

    Raises MailNotSent, after recording the error and the next attempt's time, while retries remain."""
    settings: Settings = current_app.extensions["settings"]
    if not settings.smtp_url:
        return Outcome.KEPT
    now = clock.now()
    if not _claim(session, message_id, now):
        return Outcome.NOT_DUE
    message = session.get(MailMessage, message_id)
    if message is None:  # erased between the claim and here
        return Outcome.NOT_DUE
    if message.attempts > len(settings.mail_retry_seconds) + 1:
        # Attempts began and never finished (a worker killed mid-send each time): stop before sending more copies.
        return _give_up(session, message, message.last_error or "no attempt finished")
    try:
        _deliver(settings, message)
    except (OSError, smtplib.SMTPException) as exc:
        return _not_sent(session, message, _describe(exc), now, settings.mail_retry_seconds)
    message.status, message.sent_at, message.next_attempt_at, message.last_error = \
        MailStatus.SENT.value, now, None, None
    session.commit()
    return Outcome.SENT


def _claim(session: Session, message_id: int, now: datetime) -> bool:
    """Lease a due pending message to this attempt (counting it) and commit; False if it is not ours to send."""
    result = cast(CursorResult[Any], session.execute(
        update(MailMessage)
        .where(MailMessage.id == message_id, MailMessage.status == MailStatus.PENDING.value,
               or_(MailMessage.next_attempt_at.is_(None), MailMessage.next_attempt_at <= now))
        .values(attempts=MailMessage.attempts + 1, next_attempt_at=now + timedelta(seconds=LEASE_SECONDS))
        .execution_options(synchronize_session=False)))
    session.commit()
    return result.rowcount == 1


def _deliver(settings: Settings, message: MailMessage) -> None:
    """Hand one message to the SMTP server (raises OSError or smtplib.SMTPException)."""
    parts = urlsplit(settings.smtp_url or "")
    email = EmailMessage()
    email["From"], email["To"], email["Subject"] = settings.mail_from, message.to, message.subject
    email.set_content(message.body)
    with smtplib.SMTP(parts.hostname or "localhost", parts.port or 25, timeout=SMTP_TIMEOUT) as smtp:
        if parts.scheme == "smtp+starttls":
            smtp.starttls()
        if parts.username:
            smtp.login(parts.username, parts.password or "")
        smtp.send_message(email)


def _describe(exc: Exception) -> str:
    """What went wrong, for the row: the SMTP reply code and text, or the network error (never credentials)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = sorted({code for code, _text in exc.recipients.values()})
        return f"{type(exc).__name__}: {', '.join(map(str, codes))}"
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"{type(exc).__name__}: {exc.smtp_code} {text}"[:ERROR_LIMIT]
    return f"{type(exc).__name__}: {getattr(exc, 'strerror', None) or exc}"[:ERROR_LIMIT]


def _not_sent(session: Session, message: MailMessage, error: str, now: datetime,
              retry_seconds: tuple[int, ...]) -> Outcome:
    """Record a failed attempt: due again after its backoff (and raise, for RQ's retry), or failed after the last."""
    if message.attempts > len(retry_seconds):
        return _give_up(session, message, error)
    wait = retry_seconds[message.attempts - 1]
    message.last_error, message.next_attempt_at = error, now + timedelta(seconds=wait)
    session.commit()
    raise MailNotSent(f"mail {message.id} not sent (attempt {message.attempts} of {len(retry_seconds) + 1}), "
                      f"retried in {wait} s: {error.split(':')[0]}")


def _give_up(session: Session, message: MailMessage, error: str) -> Outcome:
    message.status, message.last_error, message.next_attempt_at = MailStatus.FAILED.value, error, None
    session.commit()
    log.warning("mail %s failed after %d attempts (hub mail list --status failed): %s", message.id,
                message.attempts, error.split(":")[0])
    return Outcome.FAILED


def flush(session: Session, connection: redis.Redis | None = None) -> int:
    """Enqueue every due pending message that has no live job (its job was lost); returns how many.

    Run by the worker's reconcile chain every minute (hub/jobs.py) and at the start of a burst worker."""
    settings: Settings = current_app.extensions["settings"]
    if not settings.smtp_url:
        return 0
    now = clock.now()
    due = session.execute(
        select(MailMessage.id, MailMessage.attempts)
        .where(MailMessage.status == MailStatus.PENDING.value,
               or_(MailMessage.next_attempt_at.is_(None), MailMessage.next_attempt_at <= now))
        .order_by(MailMessage.id).limit(BATCH)).all()
    if not due:
        return 0
    connection = connection or redis_conn.get()
    jobs = Job.fetch_many([job_id(row.id) for row in due], connection=connection)
    lost = [row for row, job in zip(due, jobs, strict=True)
            if job is None or job.get_status(refresh=False) not in LIVE_JOB]
    if not lost:
        return 0
    target = Queue(QUEUE, connection=connection)
    with connection.pipeline() as pipe:
        target.enqueue_many([Queue.prepare_data(JOB, kwargs={"message_id": row.id}, job_id=job_id(row.id),
                                                retry=_retry(settings, row.attempts)) for row in lost], pipeline=pipe)
        pipe.execute()
    return len(lost)


def listing(session: Session, status: MailStatus | None, limit: int) -> list[dict[str, Any]]:
    """Messages newest first with their sending state (the body stays out: it may hold a one-time link)."""
    query = select(MailMessage).order_by(MailMessage.id.desc()).limit(limit)
    if status is not None:
        query = query.where(MailMessage.status == status.value)

    def when(moment: datetime | None) -> str | None:
        return aware(moment).isoformat() if moment is not None else None

    return [{"id": m.id, "to": m.to, "subject": m.subject, "status": m.status, "attempts": m.attempts,
             "created_at": when(m.created_at), "sent_at": when(m.sent_at),
             "next_attempt_at": when(m.next_attempt_at), "last_error": m.last_error}
            for m in session.scalars(query)]
