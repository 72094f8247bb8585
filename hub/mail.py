"""Outgoing mail: queued in the database first (nothing lost), sent by SMTP when HUB_SMTP_URL is set."""
from __future__ import annotations

import logging
import smtplib
from datetime import datetime, timezone
from email.message import EmailMessage
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import select

from hub import db
from hub.models import MailMessage

log = logging.getLogger(__name__)


def queue(to: str, subject: str, body: str) -> None:
    """Add a message to the outbox in the caller's transaction."""
    db.session().add(MailMessage(to=to, subject=subject, body=body))


def flush() -> None:
    """Send unsent mail when SMTP is configured; without it, the outbox is the mailbox (demo, tests)."""
    url = current_app.extensions["settings"].smtp_url
    if not url:
        return
    parts = urlsplit(url)
    session = db.session()
    try:
        with smtplib.SMTP(parts.hostname or "localhost", parts.port or 25, timeout=10) as smtp:
            if parts.scheme == "smtp+starttls":
                smtp.starttls()
            if parts.username:
                smtp.login(parts.username, parts.password or "")
            for message in session.scalars(select(MailMessage).where(MailMessage.sent_at.is_(None))):
                email = EmailMessage()
                email["From"], email["To"], email["Subject"] = current_app.extensions["settings"].mail_from, \
                    message.to, message.subject
                email.set_content(message.body)
                smtp.send_message(email)
                message.sent_at = datetime.now(timezone.utc)
                session.commit()
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("mail not sent yet (kept in the outbox): %s", type(exc).__name__)
