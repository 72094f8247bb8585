"""`hub client` and `hub key`: the hub as an OpenID Provider, its LMS clients and its signing keys (hub.idp)."""
from __future__ import annotations

from typing import Any

import click
from sqlalchemy import select

from hub.cli.common import admin, emit


@click.group()
def client() -> None:
    """LMSs that sign users in through the hub (OpenID Connect clients)."""


def _print_issued(issued: Any, verb: str) -> None:
    from flask import current_app

    base = current_app.extensions["settings"].base_url
    click.echo(f"client {issued.client.name} {verb}")
    click.echo(f"  issuer:        {base}")
    click.echo(f"  discovery:     {base}/.well-known/openid-configuration")
    click.echo(f"  client_id:     {issued.client.client_id}")
    click.echo(f"  client_secret: {issued.secret}")
    click.echo("The secret is shown only now; store it in the LMS.")


@client.command("add")
@click.argument("name")
@click.option("--redirect-uri", "redirect_uris", multiple=True, required=True, help="Exact redirect URI (repeatable).")
@click.option("--post-logout-uri", "post_logout_uris", multiple=True, help="Allowed post_logout_redirect_uri.")
@click.option("--first-party", is_flag=True, help="Skip the consent screen (the organisation's own LMS).")
@admin
def client_add(name: str, redirect_uris: tuple[str, ...], post_logout_uris: tuple[str, ...], first_party: bool) -> None:
    """Register an LMS and print its client id and secret (once)."""
    from hub import audit, db
    from hub.idp import clients

    with db.transaction() as session:
        issued = clients.add(session, name, list(redirect_uris), list(post_logout_uris), first_party)
    audit.record("idp.client.add", "success", actor="cli", detail={"client": name, "redirect_uris": redirect_uris})
    _print_issued(issued, "added")


@client.command("list")
@click.option("--json", "as_json", is_flag=True)
@admin
def client_list(as_json: bool) -> None:
    """List registered clients (never their secrets)."""
    from hub import db
    from hub.idp import clients
    from hub.models import OAuthClient

    rows = [clients.describe(c) for c in db.session().scalars(select(OAuthClient).order_by(OAuthClient.name))]
    emit(rows, as_json, ["name", "client_id", "redirect_uris", "post_logout_uris", "first_party", "revoked"])


@client.command("rotate-secret")
@click.argument("name")
@admin
def client_rotate_secret(name: str) -> None:
    """Replace a client's secret; the old one stops working at once."""
    from hub import audit, db
    from hub.idp import clients

    with db.transaction() as session:
        issued = clients.rotate_secret(session, name)
    audit.record("idp.client.rotate_secret", "success", actor="cli", detail={"client": name})
    _print_issued(issued, "has a new secret")


@client.command("set-uris")
@click.argument("name")
@click.option("--redirect-uri", "redirect_uris", multiple=True,
              help="Exact redirect URI (repeatable); replaces the client's list.")
@click.option("--post-logout-uri", "post_logout_uris", multiple=True,
              help="Allowed post_logout_redirect_uri (repeatable); replaces the client's list.")
@click.option("--no-post-logout-uris", "clear_post_logout", is_flag=True,
              help="Remove every post-logout URI: the hub then never redirects after logout.")
@admin
def client_set_uris(name: str, redirect_uris: tuple[str, ...], post_logout_uris: tuple[str, ...],
                    clear_post_logout: bool) -> None:
    """Replace a client's redirect or post-logout URIs, keeping its id, secret and grants."""
    from hub import audit, db
    from hub.idp import clients

    if clear_post_logout and post_logout_uris:
        raise click.UsageError("--post-logout-uri and --no-post-logout-uris contradict each other")
    logout = [] if clear_post_logout else (list(post_logout_uris) if post_logout_uris else None)
    with db.transaction() as session:
        changed = clients.set_uris(session, name, list(redirect_uris) or None, logout)
        uris, logout_uris = list(changed.redirect_uris), list(changed.post_logout_uris)
    audit.record("idp.client.set_uris", "success", actor="cli",
                 detail={"client": name, "redirect_uris": uris, "post_logout_uris": logout_uris})
    click.echo(f"client {name}: redirect URIs {', '.join(uris)}; post-logout URIs {', '.join(logout_uris) or 'none'}")


@client.command("revoke")
@click.argument("name")
@admin
def client_revoke(name: str) -> None:
    """Switch a client off: it can no longer authenticate and its tokens stop working."""
    from hub import audit, db
    from hub.idp import clients

    with db.transaction() as session:
        clients.revoke(session, name)
    audit.record("idp.client.revoke", "success", actor="cli", detail={"client": name})
    click.echo(f"client {name} revoked")


@client.command("remove")
@click.argument("name")
@admin
def client_remove(name: str) -> None:
    """Delete a client with its codes, tokens and consents."""
    from hub import audit, db
    from hub.idp import clients

    with db.transaction() as session:
        clients.remove(session, name)
    audit.record("idp.client.remove", "success", actor="cli", detail={"client": name})
    click.echo(f"client {name} removed")


@client.command("subjects")
@click.argument("name")
@click.option("--org", "org_names", multiple=True, metavar="NAME",
              help="Only this organisation's users (repeatable); without it, every organisation's.")
@click.option("--all-orgs", is_flag=True, help="Every organisation's users (the default, said explicitly).")
@click.option("--json", "as_json", is_flag=True)
@admin
def client_subjects(name: str, org_names: tuple[str, ...], all_orgs: bool, as_json: bool) -> None:
    """Print email -> sub for the users, so the LMS can link its existing accounts before they sign in.

    A user who never signed in gets their sub now, the one a later sign-in will carry. Clients are hub-wide and
    this is the hub operator's command, so it covers every organisation unless --org narrows it (an export for an
    LMS that serves one partner should name it).
    """
    from hub import audit, db, tenancy
    from hub.idp import subjects

    session = db.session()
    if org_names and all_orgs:
        raise click.ClickException("give --org or --all-orgs, not both")
    all_orgs = not org_names
    orgs = tenancy.find_orgs(session, org_names)
    reach = tenancy.HUB if all_orgs else tenancy.Reach(False, frozenset(org.id for org in orgs))
    rows = subjects.export(session, name, reach)
    session.commit()
    audit.record("idp.client.subjects", "success", actor="cli", detail={
        "client": name, "orgs": "all" if all_orgs else list(org_names), "users": len(rows)})
    emit([{"email": row.email, "sub": row.sub} for row in rows], as_json, ["email", "sub"])


@click.group()
def key() -> None:
    """The IdP's ID token signing keys."""


@key.command("rotate")
@admin
def key_rotate() -> None:
    """The published next key starts signing; the old one stays in JWKS until its tokens expired."""
    from flask import current_app

    from hub import audit, db
    from hub.idp import keys

    with db.transaction() as session:
        current, upcoming = keys.rotate(session, current_app.extensions["vault"])
    audit.record("idp.key.rotate", "success", actor="cli", detail={"current": current, "next": upcoming})
    click.echo(f"signing with {current}; published next {upcoming}")


@key.command("list")
@click.option("--json", "as_json", is_flag=True)
@admin
def key_list(as_json: bool) -> None:
    """Keys with their state (next, current, retired) and dates."""
    from hub import db
    from hub.idp import keys

    emit(keys.describe(db.session()), as_json, ["kid", "alg", "state", "created_at", "activated_at", "remove_after"])


COMMANDS = (client, key)
