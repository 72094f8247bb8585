"""`hub mail`: the outbox of confirmation and notification mail."""
from __future__ import annotations

import click

from hub.cli.common import Names, admin, emit
from hub.models import MailStatus


@click.group("mail")
def mail_group() -> None:
    """Outgoing mail: each message, whether it was sent, and why not."""


@mail_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.option("--status", type=Names(MailStatus, "a mail status"))
@click.option("--limit", default=200, show_default=True, type=click.IntRange(1, 10000))
@admin
def mail_list(as_json: bool, status: str | None, limit: int) -> None:
    """Messages, newest first: status, attempts, next attempt, last error (never the body)."""
    from hub import db, mail

    rows = mail.listing(db.session(), MailStatus(status) if status else None, limit)
    emit(rows, as_json, ["id", "to", "subject", "status", "attempts", "created_at", "sent_at", "next_attempt_at",
                         "last_error"])


COMMANDS = (mail_group,)
