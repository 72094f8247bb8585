"""Admin console: hub admins configure the hub, organisation admins their organisations (hub/admin/access.py)."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, url_for

from hub import tenancy
from hub.admin.access import console_required, may_open, reach

bp = Blueprint("admin", __name__, url_prefix="/admin")

# The navigation, in order: (section key, endpoint, label). Each shows only to people its view's door lets in.
SECTIONS = (("providers", "admin.providers", "Providers"), ("orgs", "admin.orgs_page", "Organisations"),
            ("approvals", "admin.approvals", "Approvals"), ("users", "admin.users", "Users"),
            ("rules", "admin.rules_page", "Sharing rules"), ("tiles", "admin.tiles_page", "Tiles"),
            ("deliveries", "admin.deliveries", "Deliveries"), ("audit", "admin.audit_log", "Audit log"))


@bp.get("")
@console_required
def home() -> Any:
    """Hub admins start at the providers; an organisation admin at their organisation (or the list of theirs)."""
    mine = reach()
    if mine.everything:
        return redirect(url_for("admin.providers"))
    if len(mine.org_ids) == 1:
        return redirect(url_for("admin.org_detail", org_id=next(iter(mine.org_ids))))
    return redirect(url_for("admin.orgs_page"))


@bp.context_processor
def _console() -> dict[str, Any]:
    """What the console's pages show by reach: the sections one may open, and whether hub-level controls show."""
    return {"sections": [section for section in SECTIONS if may_open(section[1])], "hub_admin": reach().everything}


@bp.app_template_global()
def opens_console() -> bool:
    """Does the signed-in person administer anything? (The header's Admin link.)"""
    return tenancy.is_console_user(reach())


# The page modules add their routes to bp; importing them is all the registration there is.
from hub.admin import audit_log, deprovisioning, organisations, providers, sharing, tiles, users  # noqa: E402,F401
