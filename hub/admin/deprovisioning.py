"""Held deactivations: the SCIM deactivations the mass-suspension guard held (hub/deprovision.py), listed for the
admins of their organisation (and hub admins) in a banner on every console page and on their own page, where each,
or all of an organisation's, are confirmed (the users are disabled) or rejected (they stay active).

An organisation admin sees and decides only their organisations' holds: anything else is 404, like an unknown id.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import redirect, render_template, request, url_for
from sqlalchemy import func, select

from hub import db, deprovision, tenancy
from hub.admin import bp
from hub.admin.access import console_required, reach, reachable
from hub.admin.common import actor, done
from hub.auth.sessions import current_user
from hub.models import DeprovisioningHold, HoldStatus, Organisation, User


@dataclass(frozen=True)
class HeldInOrg:
    """One organisation's held deactivations, as the banner sums them up."""

    org_id: int
    name: str
    count: int


@bp.context_processor
def _held_banner() -> dict[str, Any]:
    """The banner's content on every console page: the held deactivations within the reader's reach, by org."""
    if current_user() is None or not tenancy.is_console_user(reach()):
        return {"held_deactivations": []}
    rows = db.session().execute(
        select(Organisation.id, Organisation.name, func.count(DeprovisioningHold.id))
        .join(DeprovisioningHold, DeprovisioningHold.org_id == Organisation.id)
        .where(DeprovisioningHold.status == HoldStatus.HELD, reach().where(DeprovisioningHold.org_id))
        .group_by(Organisation.id, Organisation.name).order_by(Organisation.name)).tuples().all()
    return {"held_deactivations": [HeldInOrg(org_id, name, count) for org_id, name, count in rows]}


@bp.get("/deprovisioning")
@console_required
def held_deactivations() -> Any:
    """Every held deactivation within reach, oldest first, each with its user."""
    session = db.session()
    holds = deprovision.held(session, reach().where(DeprovisioningHold.org_id))
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_([h.user_id for h in holds])))}
    names = dict(session.execute(select(Organisation.id, Organisation.name)).tuples().all())
    return render_template("admin/deprovisioning.html", holds=holds, users=users, names=names)


@bp.post("/deprovisioning/<int:hold_id>/<any(confirm, reject):decision>")
@console_required
def decide_held(hold_id: int, decision: str) -> Any:
    """Confirm or reject one held deactivation (404 behind the wall); a hold already decided changes nothing."""
    hold = reachable(DeprovisioningHold, hold_id)
    try:
        with db.transaction() as session:
            deprovision.decide_all(session, [hold], decision, actor=actor())
    except deprovision.HoldDecided as exc:
        done(f"deprovisioning.{decision}", f"{exc}.", outcome="failure", org_id=hold.org_id, reason="decided")
    else:
        user = db.session().get(User, hold.user_id)
        label = (user.email if user else None) or f"User {hold.user_id}"
        done(f"deprovisioning.{decision}", f"{label}: deactivation {decision}ed.", org_id=hold.org_id,
             user_id=hold.user_id)
    return redirect(_back(), 303)


@bp.post("/orgs/<int:org_id>/deprovisioning/<any(confirm, reject):decision>")
@console_required
def decide_held_in_org(org_id: int, decision: str) -> Any:
    """Confirm or reject every held deactivation of one organisation (404 behind the wall)."""
    org = reachable(Organisation, org_id, lambda found: found.id)
    with db.transaction() as session:
        count = deprovision.decide_all(session, deprovision.held(session, DeprovisioningHold.org_id == org.id),
                                       decision, actor=actor())
    done(f"deprovisioning.{decision}", f"{org.name}: {count} held deactivations {decision}ed.", org_id=org.id)
    return redirect(_back(), 303)


def _back() -> str:
    """Back to the page the button was on: a console path only (never another site)."""
    back = request.form.get("back", "")
    inside = (back == "/admin" or back.startswith("/admin/")) and "\\" not in back and "//" not in back
    return back if inside else url_for("admin.held_deactivations")
