"""Sending signed LMS events to a live hub, as an LMS would (requests + the Standard Webhooks signing rule)."""
from __future__ import annotations

import copy
import json
import time
import uuid
from typing import Any

import requests

from hub import sources, tenancy
from hub.models import Event
from tests.live import LiveHub
from webhooks.signature import sign

COMPLETED: dict[str, Any] = {
    "type": "course.completed",
    "occurred_at": "2026-11-23T09:58:12Z",
    "user": {"email": "ada@partner.example", "external_id": "1042", "name": "Ada Lovelace"},
    "course": {"id": "SEC-101", "title": "Security Basics", "url": "https://lms.example.edu/course/view.php?id=7",
               "image_url": "https://lms.example.edu/pluginfile.php/7/course/overviewfiles/sec.png"},
}


def event(**changes: Any) -> dict[str, Any]:
    """A valid course.completed event with top-level fields replaced."""
    return {**copy.deepcopy(COMPLETED), **changes}


def add_source(live: LiveHub, name: str = "moodle", home_page: str | None = None,
               orgs: list[str] | None = None) -> str:
    """Create a source reaching the organisations called `orgs` (default: all of them); returns its first secret."""
    with live.context() as session:
        scoped = tenancy.find_orgs(session, orgs or [])
        _, secret = sources.add_source(session, live.app.extensions["vault"], name, home_page, orgs=scoped,
                                       all_orgs=orgs is None)
        session.commit()
    return secret


def send(live: LiveHub, secret: str, payload: Any, *, source: str = "moodle", msg_id: str | None = None,
         timestamp: int | None = None, body: bytes | None = None, signature: str | None = None,
         headers: dict[str, str | None] | None = None) -> requests.Response:
    """POST a signed event; any part can be overridden to make it wrong."""
    body = json.dumps(payload).encode() if body is None else body
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    timestamp = int(time.time()) if timestamp is None else timestamp
    sent: dict[str, str | None] = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature or sign(secret, msg_id, timestamp, body),
    }
    sent.update(headers or {})
    sent = {k: v for k, v in sent.items() if v is not None}
    return requests.post(f"{live.url}/webhooks/lms/{source}", data=body, headers=sent, timeout=10)


def events(live: LiveHub) -> list[Event]:
    """Every stored event, oldest first."""
    from sqlalchemy import select

    with live.context() as session:
        return list(session.scalars(select(Event).order_by(Event.id)))
