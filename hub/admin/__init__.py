"""Admin console (admin role): providers, organisations, approvals, users, sharing, tiles, audit log."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, url_for

from hub.auth.sessions import admin_required

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("")
@admin_required
def home() -> Any:
    return redirect(url_for("admin.providers"))


# The page modules add their routes to bp; importing them is all the registration there is.
from hub.admin import audit_log, organisations, providers, sharing, tiles, users  # noqa: E402,F401
