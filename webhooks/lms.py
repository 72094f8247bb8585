"""POST /webhooks/lms/<source>: an LMS's signed events in, verified before parsing, stored once (docs/events.md)."""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import sqlalchemy.exc
from flask import Blueprint, current_app, jsonify, request
from sqlalchemy import bindparam, select

from hub import audit, db, sources
from hub import clock as app_clock
from hub.models import Source
from hub.sharing import intake
from webhooks.schema import MAX_BODY_BYTES, InvalidEvent, parse_event
from webhooks.signature import SIGNED_HEADERS, SignatureVerifier, WebhookVerificationError, check_headers

bp = Blueprint("lms_webhooks", __name__, url_prefix="/webhooks/lms")
log = logging.getLogger(__name__)

# One answer for an unknown source, a disabled one and a wrong signature: the endpoint does not reveal which exist.
_UNVERIFIED = WebhookVerificationError("invalid_signature", "no signature matches this source's secrets")


# Built once: on this hot path, constructing the query cost more than running it.
_SOURCE_BY_NAME = select(Source.__table__).where(Source.__table__.c.name == bindparam("name"))


_KNOWN_MAX = 1024


def _known() -> dict[str, Source]:
    """Enabled sources as this app last read them. The store is guarded by what was read (intake.SourceChanged), so
    a source disabled or re-keyed by another process is refused at once; the cache saves the SELECT, not the check."""
    return current_app.extensions.setdefault("webhooks.sources", {})


def _source(name: str, fresh: bool = False) -> Source | None:
    """The source as a detached row object (read-only here): from the app's cache, or one prepared SELECT."""
    known = _known()
    if not fresh and (cached := known.get(name)) is not None:
        return cached
    row = db.session().connection().execute(_SOURCE_BY_NAME, {"name": name}).one_or_none()
    source = Source(**row._mapping) if row is not None else None
    if source is not None and source.enabled:
        if len(known) >= _KNOWN_MAX:
            known.clear()
        known[name] = source
    else:
        known.pop(name, None)
    return source


def _verified(name: str, headers: dict[str, str], body: bytes, clock: Callable[[], float],
              fresh: bool = False) -> tuple[Source, Any]:
    """The enabled source and the verified message; a signature the cached secrets refuse is checked again against
    the source as stored now (a secret rotated in by another process)."""
    source = _source(name, fresh)
    if source is None or not source.enabled:
        raise _UNVERIFIED
    vault = current_app.extensions["vault"]
    try:
        return source, SignatureVerifier(sources.webhook_secrets(vault, source), clock=clock).verify(headers, body)
    except WebhookVerificationError:
        if fresh or name not in _known():
            raise
        return _verified(name, headers, body, clock, fresh=True)


def _seconds() -> float:
    """Seconds since the epoch by the app's clock (hub.clock), which tests move forward to age a replay window."""
    return app_clock.now().timestamp()


def _error(status: int, code: str, message: str, **extra: Any) -> Any:
    return jsonify({"error": code, "message": message, **extra}), status


@bp.post("/<name>")
def receive(name: str) -> Any:
    """Verify, validate, store once, answer: 202 for a new event, 200 for one already stored."""
    body = request.stream.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        return _error(413, "too_large", f"an event body is at most {MAX_BODY_BYTES} bytes")
    try:
        headers = {name: value for name in SIGNED_HEADERS if (value := request.headers.get(name)) is not None}
        check_headers(headers, clock=_seconds)  # cheap refusals before the database is asked
        source, message = _verified(name, headers, body, _seconds)
    except WebhookVerificationError as exc:
        log.warning("webhook refused source=%s reason=%s", name, exc.code)
        return _error(401, exc.code, exc.message)
    try:
        event = parse_event(body)  # only now: JSON from an unverified sender is never parsed
    except InvalidEvent as exc:
        status = 400 if exc.code == "invalid_json" else 422
        return _error(status, exc.code, exc.message, field=exc.field, errors=exc.errors)
    try:
        stored = _store(source, message.id, event)
    except intake.SourceChanged:  # disabled or re-keyed since this process read it: decide on the source as it is
        try:
            source, message = _verified(name, headers, body, _seconds, fresh=True)
            stored = _store(source, message.id, event)
        except (WebhookVerificationError, intake.SourceChanged):
            log.warning("webhook refused source=%s reason=source_changed", name)
            return _error(401, _UNVERIFIED.code, _UNVERIFIED.message)
    if stored.duplicate and not stored.same_content:
        # Standard Webhooks makes the id the idempotency key: keep the first, answer 2xx so the LMS stops, say so.
        audit.record("event.conflict", "ignored", actor=f"source:{name}", reason="same webhook-id, other content",
                     detail={"source": name, "webhook_id": message.id, "event_id": stored.event_id})
    answer = {"id": stored.event_id, "duplicate": stored.duplicate}
    if stored.duplicate and not stored.same_content:
        answer["content_mismatch"] = True
    # Built directly: jsonify's provider machinery cost a tenth of this hot path for an 11-byte answer.
    return current_app.response_class(json.dumps(answer), status=200 if stored.duplicate else 202,
                                      mimetype="application/json")


def _store(source: Source, webhook_id: str, event: Any) -> intake.Stored:
    """Store the event once, only while the source is as verified (one statement and its commit)."""
    return intake.accept(current_app.extensions["db_engine"], [intake.IncomingEvent(
        source_id=source.id, external_id=webhook_id, type=event.type, payload=event.payload,
        occurred_at=event.occurred_at, email=event.email, home_page=sources.account_home_page(source),
        lms_user_id=event.external_id, source_seal=source.webhook_secrets_sealed or "",
    )])[0]


@bp.errorhandler(sqlalchemy.exc.OperationalError)
@bp.errorhandler(sqlalchemy.exc.TimeoutError)
def _unavailable(error: Exception) -> Any:
    """The database is down: 503, so the LMS retries later (nothing was stored)."""
    ref = audit.new_ref()
    log.warning("webhook storage unavailable ref=%s: %s", ref, type(error).__name__)
    body, status = _error(503, "unavailable", "the hub cannot reach its storage; nothing was stored, retry later",
                          ref=ref)
    return body, status, {"Retry-After": "30"}


@bp.errorhandler(500)
def _internal(error: Any) -> Any:
    ref = audit.new_ref()
    log.error("webhook failed ref=%s", ref, exc_info=getattr(error, "original_exception", error))
    return _error(500, "internal_error", "the hub could not store this event; retry later", ref=ref)
