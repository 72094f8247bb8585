"""`hub token`: API tokens for machine clients (SCIM)."""
from __future__ import annotations

from collections.abc import Iterable

import click

from hub.cli.common import ROW_ID, Names, admin, emit, flag_migrated, org_scope


def _scopes() -> Iterable[str]:
    from hub import tokens

    return tokens.SCOPES


@click.group()
def token() -> None:
    """API tokens for machine clients (SCIM)."""


@token.command("create")
@click.option("--scope", required=True, type=Names(_scopes, "a token scope"))
@click.option("--name", help="A name to tell it apart (default: scim-N).")
@click.option("--expires-days", type=int, help="Expire after this many days (default: never).")
@click.option("--home-page", help="The LMS's account homePage: SCIM externalIds are the LMS's ids there.")
@click.option("--source", "source_name", help="Take the home page from this xAPI source.")
@org_scope
@admin
def token_create(scope: str, name: str | None, expires_days: int | None, home_page: str | None,
                 source_name: str | None, org_names: tuple[str, ...], all_orgs: bool) -> None:
    """Create a token and print it once (only its SHA-256 is kept)."""
    from hub import audit, db, tenancy, tokens

    with db.transaction() as session:
        created = tokens.create(session, scope=scope, name=name, expires_days=expires_days, home_page=home_page,
                                source=source_name, orgs=tenancy.find_orgs(session, org_names), all_orgs=all_orgs)
    audit.record("token.create", "success", actor="cli", detail={
        "token_id": created.id, "name": created.name, "scope": scope, "orgs": "all" if all_orgs else list(org_names)})
    click.echo(created.secret)
    click.echo(f"token {created.name} (id {created.id}): copy it now, it is not shown again", err=True)


@token.command("list")
@click.option("--json", "as_json", is_flag=True)
@admin
def token_list(as_json: bool) -> None:
    """List tokens (prefix only, never the secret)."""
    from hub import db, tenancy, tokens

    session = db.session()
    rows = [{"id": t.id, "name": t.name, "scope": t.scope, "prefix": t.prefix, "home_page": t.home_page,
             "orgs": tenancy.org_names(session, tenancy.of_token(session, t)),
             "all_orgs_by_migration": t.all_orgs_by_migration,
             "created_at": t.created_at, "expires_at": t.expires_at, "last_used_at": t.last_used_at,
             "revoked_at": t.revoked_at} for t in tokens.listing(session)]
    emit(rows, as_json, ["id", "name", "scope", "orgs", "prefix", "expires_at", "last_used_at", "revoked_at"])
    flag_migrated([r for r in rows if r["revoked_at"] is None], "token", "hub token scope ID --org ORG")


@token.command("scope")
@click.argument("token_id", type=ROW_ID)
@org_scope
@admin
def token_scope(token_id: int, org_names: tuple[str, ...], all_orgs: bool) -> None:
    """Set the organisations a token reaches."""
    from hub import audit, db, tenancy, tokens

    with db.transaction() as session:
        token = tokens.find(session, token_id)
        tenancy.scope_token(session, token, tenancy.find_orgs(session, org_names), all_orgs)
        name = token.name
    audit.record("token.scope", "success", actor="cli", detail={"token_id": token_id, "name": name,
                                                                 "orgs": "all" if all_orgs else list(org_names)})
    click.echo(f"token {name} (id {token_id}): reaches {'all organisations' if all_orgs else ', '.join(org_names)}")


@token.command("revoke")
@click.argument("token_id", type=ROW_ID)
@admin
def token_revoke(token_id: int) -> None:
    """Revoke a token at once."""
    from hub import audit, db, tokens

    with db.transaction() as session:
        revoked = tokens.revoke(session, token_id)
    audit.record("token.revoke", "success", actor="cli", detail={"token_id": token_id, "name": revoked.name})
    click.echo(f"token {revoked.name} (id {token_id}) revoked")


COMMANDS = (token,)
