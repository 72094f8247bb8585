"""Admin console (admin role): providers, organisations, approvals, users, audit log."""
from __future__ import annotations

from flask import Blueprint

from hub.auth.sessions import admin_required

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("")
@admin_required
def home() -> str:
    return "admin"
