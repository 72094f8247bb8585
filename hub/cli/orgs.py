"""`hub org` and `hub invite`: organisations, their claim mappings, and invitations."""
from __future__ import annotations

from typing import Any

import click
from sqlalchemy import select

from hub.cli.common import Names, admin, emit
from hub.errors import HubError
from hub.models import OrgPolicy

POLICY = Names(OrgPolicy, "an organisation policy")


@click.group()
def org() -> None:
    """Organisations."""


@org.command("add")
@click.argument("name")
@click.option("--domain", "domains", multiple=True, help="Email domain of the organisation (repeatable).")
@click.option("--policy", type=POLICY, default=OrgPolicy.OPEN.value, show_default=True)
@click.option("--provider", "home_provider", help="Home provider for its domains (home-realm discovery).")
@admin
def org_add(name: str, domains: tuple[str, ...], policy: str, home_provider: str | None) -> None:
    """Add an organisation."""
    from hub import audit, db, orgs

    with db.transaction() as session:
        added = orgs.add_org(session, name, list(domains), policy, home_provider)
    audit.record("org.add", "success", actor="cli", detail={"org": added.name, "policy": policy})
    click.echo(f"organisation {added.name} added ({policy})")


@org.command("list")
@click.option("--json", "as_json", is_flag=True)
@admin
def org_list(as_json: bool) -> None:
    """List organisations."""
    from hub import db
    from hub.models import Organisation
    from hub.sharing import budgets

    rows: list[dict[str, Any]] = [{"id": o.id, "name": o.name, "policy": o.policy,
                                   "domains": [{"domain": d.domain, "provider": d.provider} for d in o.domains],
                                   "monthly_budgets": {kind: budgets.usd(amount) for kind, amount
                                                       in budgets.budgets_of(db.session(), o.id).items()}}
                                  for o in db.session().scalars(select(Organisation).order_by(Organisation.name))]
    emit(rows if as_json else [{**r, "domains": [d["domain"] for d in r["domains"]]} for r in rows], as_json,
         ["id", "name", "policy", "domains"])


@org.command("policy")
@click.argument("name")
@click.argument("policy", type=POLICY)
@admin
def org_policy(name: str, policy: str) -> None:
    """Change an organisation's policy (closed refuses every sign-in of its members)."""
    from hub import audit, db, deprovision, orgs

    with db.transaction() as session:
        disabled = deprovision.apply_policy(session, orgs.find_org(session, name), policy, actor="cli")
    audit.record("org.policy", "success", actor="cli", detail={"org": name, "policy": policy, "disabled": disabled})
    click.echo(f"organisation {name} is now {policy}" + (f" ({disabled} members disabled)" if disabled else ""))


@org.command("deprovisioning")
@click.argument("name")
@click.option("--erase-after", "erase_after", type=click.IntRange(1, 36500), metavar="DAYS",
              help="Erase users deactivated this many days ago (the worker's sweep).")
@click.option("--never", is_flag=True, help="Never erase deactivated users (the default).")
@click.option("--guard-share", type=click.IntRange(1, 100), metavar="PERCENT",
              help="Hold SCIM deactivations beyond this share of the organisation within an hour (default 10).")
@click.option("--guard-min", type=click.IntRange(0, 1_000_000), metavar="USERS",
              help="...and beyond this many users (default 5).")
@admin
def org_deprovisioning(name: str, erase_after: int | None, never: bool, guard_share: int | None,
                       guard_min: int | None) -> None:
    """Show or set an organisation's grace period before erasure and its mass-suspension guard."""
    from hub import audit, db, deprovision, orgs

    if never and erase_after is not None:
        raise click.UsageError("give --erase-after DAYS or --never, not both")
    with db.transaction() as session:
        found = orgs.find_org(session, name)
        changed: dict[str, Any] = {}
        if never or erase_after is not None:
            found.erase_after_days = changed["erase_after_days"] = None if never else erase_after
        if guard_share is not None:
            found.guard_share = changed["guard_share"] = guard_share
        if guard_min is not None:
            found.guard_min = changed["guard_min"] = guard_min
        due = len(deprovision.overdue(session, found))
        settings = (found.erase_after_days, found.guard_share, found.guard_min)
        org_id = found.id
    if changed:
        audit.record("org.deprovisioning", "success", actor="cli", org_id=org_id, detail={"org": name, **changed})
    erase_after_days, share, least = settings
    click.echo(f"organisation {name}: " + (f"erase {erase_after_days} days after deactivation"
                                           if erase_after_days else "never erase deactivated users")
               + f"; hold SCIM deactivations beyond {share}% (and {least} users) within an hour")
    if due:
        click.echo(f"{due} deactivated users are past the grace period: the worker's next sweep erases them", err=True)


@org.command("map")
@click.argument("name", required=False)
@click.option("--provider", "provider_name", required=True)
@click.option("--claim", required=True, help="tid (Microsoft), team (Slack), hd (Google)...")
@click.option("--value", required=True)
@click.option("--group", help="Also (or only, without NAME) put matching users in this group.")
@admin
def org_map(name: str | None, provider_name: str, claim: str, value: str, group: str | None) -> None:
    """Map a provider claim value to an organisation and/or a group."""
    from hub import audit, db, orgs

    with db.transaction() as session:
        target = orgs.find_org(session, name) if name else None
        orgs.add_mapping(session, provider_name, claim, value, target, group)
    audit.record("org.map", "success", actor="cli", provider=provider_name,
                 detail={"org": name, "claim": claim, "value": value, "group": group})
    click.echo(f"{provider_name} {claim}={value} -> {name or '-'} {('group ' + group) if group else ''}".rstrip())


@org.command("mappings")
@click.option("--json", "as_json", is_flag=True)
@admin
def org_mappings(as_json: bool) -> None:
    """List claim mappings."""
    from hub import db
    from hub.models import ClaimMapping, Organisation

    names: dict[int | None, str] = dict(db.session().execute(select(Organisation.id, Organisation.name)).all())
    rows = [{"provider": m.provider, "claim": m.claim, "value": m.value, "org": names.get(m.org_id),
             "group": m.group_name}
            for m in db.session().scalars(select(ClaimMapping).order_by(ClaimMapping.provider, ClaimMapping.claim))]
    emit(rows, as_json, ["provider", "claim", "value", "org", "group"])


def _budget_kinds() -> tuple[str, ...]:
    """Every destination kind, for the --KIND-monthly-budget spellings (names only: nothing is imported)."""
    from providers import registry

    return tuple(registry.PUBLISHERS)


def _budget_options(command: Any) -> Any:
    """--monthly-budget KIND=USD, and --KIND-monthly-budget USD for each destination kind (hidden: the same thing)."""
    for kind in _budget_kinds():
        command = click.option(f"--{kind}-monthly-budget", f"budget_{kind}", hidden=True, metavar="USD")(command)
    return click.option("--monthly-budget", "monthly_budgets", multiple=True, metavar="KIND=USD",
                        help="A monthly budget (UTC months) for posts to a network that bills them, e.g. x=50 "
                             "(also --x-monthly-budget 50); 'none' removes it. Posts past it wait for the next "
                             "month.")(command)


@org.command("set")
@click.argument("name")
@_budget_options
@admin
def org_set(name: str, monthly_budgets: tuple[str, ...], **spelled: str | None) -> None:
    """Change an organisation's settings: its monthly budget per billed network."""
    from hub import audit, clock, db, orgs
    from hub.sharing import budgets

    wanted: dict[str, str] = {}
    for pair in monthly_budgets:
        kind, sep, typed = pair.partition("=")
        if not sep or not kind.strip():
            raise HubError(f"--monthly-budget {pair!r} must look like KIND=USD, e.g. x=50")
        wanted[kind.strip().lower()] = typed
    wanted |= {key.removeprefix("budget_"): value for key, value in spelled.items() if value is not None}
    if not wanted:
        raise HubError("nothing to change: give --monthly-budget KIND=USD (e.g. x=50)")
    now = clock.now()
    lines = []
    with db.transaction() as session:
        found = orgs.find_org(session, name)
        for kind, text in sorted(wanted.items()):
            amount = budgets.parse_usd(text, f"--{kind}-monthly-budget")
            budgets.set_budget(session, found.id, kind, amount)
            released = budgets.release_held(session, found.id, kind, now)
            spent = budgets.usd(budgets.spent(session, found.id, kind, budgets.month_of(now)))
            lines.append(f"{name}: {budgets.label(kind)} monthly budget "
                         + (f"{budgets.usd(budgets.micros(amount))}" if amount is not None else "removed")
                         + f" ({spent} spent in {budgets.month_of(now)})"
                         + (f"; {released} held posts due again" if released else ""))
    audit.record("org.set", "success", actor="cli",
                 detail={"org": name, "monthly_budgets": {k: wanted[k] for k in sorted(wanted)}})
    for line in lines:
        click.echo(line)


@click.group()
def invite() -> None:
    """Invitations."""


@invite.command("create")
@click.option("--org", "org_name", required=True)
@click.option("--days", default=14, show_default=True, type=int)
@click.option("--email", help="Note whom the invitation is for.")
@admin
def invite_create(org_name: str, days: int, email: str | None) -> None:
    """Create a one-time invitation code and print its sign-in link."""
    from flask import current_app

    from hub import audit, db, orgs

    with db.transaction() as session:
        code = orgs.create_invite(session, orgs.find_org(session, org_name), days=days, email=email)
    audit.record("invite.create", "success", actor="cli", detail={"org": org_name})
    click.echo(code)
    click.echo(f"{current_app.extensions['settings'].base_url}/login?invite={code}", err=True)


COMMANDS = (org, invite)
