"""`hub audit`: the audit log."""
from __future__ import annotations

import click
from sqlalchemy import select

from hub.cli.common import admin, emit


@click.group("audit")
def audit_group() -> None:
    """The audit log."""


@audit_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.option("--action")
@click.option("--outcome")
@click.option("--ref", help="The reference a user quoted.")
@click.option("--limit", default=50, show_default=True, type=int)
@admin
def audit_list(as_json: bool, action: str | None, outcome: str | None, ref: str | None, limit: int) -> None:
    """Audit events, newest first."""
    from hub import db
    from hub.models import AuditEvent

    query = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)
    for column, value in ((AuditEvent.action, action), (AuditEvent.outcome, outcome), (AuditEvent.ref, ref)):
        if value:
            query = query.where(column == value)
    rows = [{"at": e.at.isoformat(), "ref": e.ref, "action": e.action, "outcome": e.outcome, "actor": e.actor,
             "user_id": e.user_id, "provider": e.provider, "reason": e.reason, "ip": e.ip, "detail": e.detail}
            for e in db.session().scalars(query)]
    emit(rows, as_json, ["at", "ref", "action", "outcome", "actor", "user_id", "provider", "reason"])


COMMANDS = (audit_group,)
