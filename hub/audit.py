"""The audit log: every sign-in outcome and admin action, with a reference id users can quote."""
from __future__ import annotations

import logging
import secrets
from typing import Any

from flask import has_request_context, request

from hub import db
from hub.models import AuditEvent, User

log = logging.getLogger("hub.audit")


def new_ref() -> str:
    return secrets.token_hex(6)


def record(action: str, outcome: str, *, user_id: int | None = None, actor: str | None = None,
           provider: str | None = None, reason: str | None = None, ref: str | None = None,
           detail: dict[str, Any] | None = None, commit: bool = True, org_id: int | None = None) -> str:
    """Write one audit row (in its own transaction by default, so failures are kept too).

    `org_id` files the row under an organisation (its admins see it); by default the user's organisation."""
    ref = ref or new_ref()
    session = db.session()
    if org_id is None and user_id is not None:
        user = session.get(User, user_id)
        org_id = user.org_id if user is not None else None
    event = AuditEvent(
        ref=ref, action=action, outcome=outcome, user_id=user_id, actor=actor, provider=provider,
        reason=reason, detail=detail or {}, org_id=org_id,
        ip=request.remote_addr if has_request_context() else None,
    )
    session.add(event)
    if commit:
        session.commit()
    log.info("audit %s %s %s provider=%s user=%s reason=%s", ref, action, outcome, provider, user_id, reason)
    return ref
