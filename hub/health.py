"""Liveness and readiness: the database, Redis, and the worker's loops by their heartbeats (hub/heartbeats.py)."""
from __future__ import annotations

from typing import Any

import redis
from flask import Blueprint, current_app, jsonify, request
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from hub import clock, db, heartbeats, redis_conn

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Any:
    """Ready only when the database and Redis answer and every worker loop that ever beat has beaten lately.

    `?scope=web` leaves the worker loops out: what a load balancer asks before sending web traffic, which a
    stopped worker does not stop (events are stored and wait for it)."""
    checks: dict[str, str] = {}
    beats: dict[str, Any] = {}
    try:
        db.session().execute(text("select 1"))
        checks["database"] = "ok"
    except SQLAlchemyError as exc:  # any driver error (wrapped by SQLAlchemy) means not ready
        checks["database"] = type(exc).__name__
    try:
        connection = redis_conn.get()
        connection.ping()
        checks["redis"] = "ok"
        if request.args.get("scope") != "web":
            beats = _loops(connection, checks)
    except redis.RedisError as exc:
        checks["redis"] = type(exc).__name__
    ok = all(value == "ok" for value in checks.values())
    body: dict[str, Any] = {"status": "ok" if ok else "unavailable", "checks": checks}
    if beats:
        body["heartbeats"] = beats
    return jsonify(body), 200 if ok else 503


def _loops(connection: Any, checks: dict[str, str]) -> dict[str, Any]:
    """Each loop that ever beat: "ok", or "stale" past HUB_HEARTBEAT_STALE_SECONDS; a loop that never beat (no
    worker has run since Redis last lost its keys) is not expected, so not checked."""
    limit = current_app.extensions["settings"].heartbeat_stale_seconds
    now = clock.now()
    beats = {}
    for loop, last in heartbeats.last_beats(connection).items():
        age = (now - last).total_seconds()
        checks[loop.value] = "ok" if age <= limit else "stale"
        beats[loop.value] = {"last": last.isoformat(), "age_seconds": round(age, 1)}
    return beats
