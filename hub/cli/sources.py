"""`hub source`: the LMSs that send events (signed webhooks, xAPI)."""
from __future__ import annotations

import click

from hub.cli.common import admin, emit, flag_migrated, org_scope


@click.group()
def source() -> None:
    """LMS sources that send events (signed webhooks)."""


@source.command("add")
@click.argument("name")
@click.option("--home-page", help="The LMS's URL that names its user ids (default: the source name).")
@click.option("--xapi", is_flag=True, help="Also print xAPI credentials (Basic key/secret and a Bearer token).")
@org_scope
@admin
def source_add(name: str, home_page: str | None, xapi: bool, org_names: tuple[str, ...], all_orgs: bool) -> None:
    """Create a source and print its webhook secret (shown once: give it to the LMS)."""
    from flask import current_app

    from hub import audit, db, sources, tenancy
    from webhooks.xapi.auth import issue_credentials

    with db.transaction() as session:
        orgs = tenancy.find_orgs(session, org_names)
        added, secret = sources.add_source(session, current_app.extensions["vault"], name, home_page, orgs=orgs,
                                           all_orgs=all_orgs)
        credentials = issue_credentials(added) if xapi else None
    audit.record("source.add", "success", actor="cli", detail={"source": added.name, "xapi": xapi,
                                                                "orgs": "all" if all_orgs else list(org_names)})
    click.echo(secret)
    click.echo(f"endpoint: {current_app.extensions['settings'].base_url}/webhooks/lms/{added.name}", err=True)
    if credentials is not None:  # shown once: only their hashes are stored
        click.echo(f"xapi key: {credentials.key}")
        click.echo(f"xapi secret: {credentials.secret}")
        click.echo(f"xapi bearer: {credentials.bearer}")
        click.echo(f"xapi endpoint: {current_app.extensions['settings'].base_url}/xapi/ (docs/xapi.md)", err=True)


@source.command("list")
@click.option("--json", "as_json", is_flag=True)
@admin
def source_list(as_json: bool) -> None:
    """List sources (secrets are never shown, only how many are valid)."""
    import dataclasses

    from flask import current_app

    from hub import db, sources

    rows = [dataclasses.asdict(info) for info in sources.list_sources(db.session(), current_app.extensions["vault"])]
    emit(rows, as_json, ["name", "enabled", "orgs", "home_page", "webhook_secrets", "xapi", "created_at"])
    flag_migrated(rows, "source", "hub source scope NAME --org ORG")


@source.command("scope")
@click.argument("name")
@org_scope
@admin
def source_scope(name: str, org_names: tuple[str, ...], all_orgs: bool) -> None:
    """Set the organisations whose learners the source's events may name."""
    from hub import audit, db, sources, tenancy

    with db.transaction() as session:
        sources.set_orgs(session, name, tenancy.find_orgs(session, org_names), all_orgs)
    reach = "all organisations" if all_orgs else ", ".join(org_names)
    audit.record("source.scope", "success", actor="cli", detail={"source": name,
                                                                  "orgs": "all" if all_orgs else list(org_names)})
    click.echo(f"source {name}: reaches {reach}")


@source.command("rotate")
@click.argument("name")
@admin
def source_rotate(name: str) -> None:
    """Add a new webhook secret and print it; the old ones stay valid until retire-secrets."""
    from flask import current_app

    from hub import audit, db, sources

    with db.transaction() as session:
        secret = sources.rotate_secret(session, current_app.extensions["vault"], name)
    audit.record("source.rotate", "success", actor="cli", detail={"source": name})
    click.echo(secret)
    click.echo(f"old secrets stay valid until: hub source retire-secrets {name}", err=True)


@source.command("retire-secrets")
@click.argument("name")
@admin
def source_retire_secrets(name: str) -> None:
    """Keep only the newest webhook secret."""
    from flask import current_app

    from hub import audit, db, sources

    with db.transaction() as session:
        retired = sources.retire_secrets(session, current_app.extensions["vault"], name)
    audit.record("source.retire-secrets", "success", actor="cli", detail={"source": name, "retired": retired})
    click.echo(f"source {name}: {retired} old secret(s) retired")


@source.command("disable")
@click.argument("name")
@admin
def source_disable(name: str) -> None:
    """Refuse a source's events (401, as for an unknown source)."""
    _switch_source(name, enabled=False)


@source.command("enable")
@click.argument("name")
@admin
def source_enable(name: str) -> None:
    """Accept a disabled source's events again."""
    _switch_source(name, enabled=True)


def _switch_source(name: str, enabled: bool) -> None:
    from hub import audit, db, sources

    change = "enable" if enabled else "disable"
    with db.transaction() as session:
        sources.set_enabled(session, name, enabled)
    audit.record(f"source.{change}", "success", actor="cli", detail={"source": name})
    click.echo(f"source {name} {change}d")


COMMANDS = (source,)
