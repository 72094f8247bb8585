"""`hub deprovisioning`: the SCIM deactivations the mass-suspension guard held, and an admin's decision on them.

The command line is the operator's, so it reaches every organisation (as a hub admin's console does);
docs/deprovisioning.md says when deactivations are held.
"""
from __future__ import annotations

from typing import Any

import click
from sqlalchemy import select, true

from hub.cli.common import ROW_ID, admin, emit


@click.group("deprovisioning")
def deprovisioning_group() -> None:
    """Deactivations held by the mass-suspension guard."""


@deprovisioning_group.command("held")
@click.option("--org", "org_name", metavar="NAME", help="Only this organisation's.")
@click.option("--json", "as_json", is_flag=True)
@admin
def held(org_name: str | None, as_json: bool) -> None:
    """List the deactivations waiting for a decision, oldest first."""
    from hub import db, deprovision, orgs
    from hub.models import DeprovisioningHold, Organisation, User

    session = db.session()
    where = DeprovisioningHold.org_id == orgs.find_org(session, org_name).id if org_name else true()
    holds = deprovision.held(session, where)
    names = dict(session.execute(select(Organisation.id, Organisation.name)).tuples().all())
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_([h.user_id for h in holds])))}
    rows: list[dict[str, Any]] = [
        {"id": h.id, "org": names.get(h.org_id), "user_id": h.user_id, "email": users[h.user_id].email,
         "requested_by": h.actor, "requested_at": h.requested_at.isoformat(), "reason": h.reason} for h in holds]
    emit(rows, as_json, ["id", "org", "email", "requested_by", "requested_at"])


def _decide(decision: str, ids: tuple[int, ...], everything: bool, org_name: str | None) -> None:
    """Confirm or reject the holds named, or every hold of one organisation; all or nothing."""
    from hub import audit, db, deprovision, orgs
    from hub.models import DeprovisioningHold

    if everything == bool(ids):
        raise click.UsageError("name the held deactivations by ID, or give --all --org NAME")
    if everything and not org_name:
        raise click.UsageError("--all needs --org NAME (one organisation at a time)")
    if ids and org_name:
        raise click.UsageError("--org goes with --all")
    with db.transaction() as session:
        if everything:
            holds = deprovision.held(session, DeprovisioningHold.org_id == orgs.find_org(session, org_name or "").id)
        else:
            holds = []
            for hold_id in ids:
                hold = session.get(DeprovisioningHold, hold_id)
                if hold is None:
                    raise click.ClickException(f"no held deactivation #{hold_id}")
                holds.append(hold)
        count = deprovision.decide_all(session, holds, decision, actor="cli")
    audit.record(f"deprovisioning.{decision}", "success", actor="cli", detail={"count": count, "org": org_name})
    click.echo(f"{count} held deactivations {decision}ed" if count else "(none held)")


@deprovisioning_group.command("confirm")
@click.argument("ids", nargs=-1, type=ROW_ID)
@click.option("--all", "everything", is_flag=True, help="Every held deactivation of --org.")
@click.option("--org", "org_name", metavar="NAME")
@admin
def confirm(ids: tuple[int, ...], everything: bool, org_name: str | None) -> None:
    """Apply held deactivations: the users are disabled now."""
    _decide("confirm", ids, everything, org_name)


@deprovisioning_group.command("reject")
@click.argument("ids", nargs=-1, type=ROW_ID)
@click.option("--all", "everything", is_flag=True, help="Every held deactivation of --org.")
@click.option("--org", "org_name", metavar="NAME")
@admin
def reject(ids: tuple[int, ...], everything: bool, org_name: str | None) -> None:
    """Refuse held deactivations: the users stay active."""
    _decide("reject", ids, everything, org_name)


COMMANDS = (deprovisioning_group,)
