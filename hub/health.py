"""Liveness and readiness for load balancers."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from sqlalchemy import text

from hub import db, redis_conn

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Any:
    """Ready only when the database and Redis both answer."""
    checks = {}
    try:
        db.session().execute(text("select 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any driver error means not ready
        checks["database"] = type(exc).__name__
    try:
        redis_conn.get().ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = type(exc).__name__
    ok = all(value == "ok" for value in checks.values())
    return jsonify(status="ok" if ok else "unavailable", checks=checks), 200 if ok else 503
