"""Audit log page: newest first, filtered by action, outcome or reference, 50 a page.

Organisation admins see the rows filed under their organisations (AuditEvent.org_id); hub admins see all."""
from __future__ import annotations

from typing import Any

from flask import render_template, request
from sqlalchemy import select

from hub import db
from hub.admin import bp
from hub.admin.access import console_required, reach
from hub.admin.common import paginate
from hub.models import AuditEvent

PAGE_SIZE = 50


@bp.get("/audit")
@console_required
def audit_log() -> Any:
    session, within = db.session(), reach().where(AuditEvent.org_id)
    filters = {key: request.args.get(key, "").strip() for key in ("action", "outcome", "ref")}
    query = select(AuditEvent).where(within).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    if filters["action"]:
        query = query.where(AuditEvent.action == filters["action"])
    if filters["outcome"]:
        query = query.where(AuditEvent.outcome == filters["outcome"])
    if filters["ref"]:
        query = query.where(AuditEvent.ref == filters["ref"].lower())
    actions = list(session.scalars(select(AuditEvent.action).where(within).distinct().order_by(AuditEvent.action)))
    outcomes = list(session.scalars(select(AuditEvent.outcome).where(within).distinct()
                                    .order_by(AuditEvent.outcome)))
    return render_template("admin/audit.html", page=paginate(session, query, PAGE_SIZE), filters=filters,
                           actions=actions, outcomes=outcomes)
